"""Request rate limits of the gateway process, on the platform's token buckets."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from crm_shared import RateLimiter as TokenBuckets


class RateLimiter:
    """Allows `per_minute` requests per key, with bursts up to a quarter of that."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._buckets = TokenBuckets(
            per_minute / 60.0, max(1.0, per_minute / 4), max_keys=max_keys, clock=clock
        )

    def acquire(self, key: str) -> float:
        """0 if a request for `key` may pass now, else the seconds until it may."""
        return self._buckets.take(key)


def retry_after_header(seconds: float) -> str:
    """A Retry-After value: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))

"""Token-bucket rate limits kept in one process: one bucket per key, on a monotonic clock.

One `RateLimiter` is built per limit in a service's composition root and shared by everything
in the process that the limit applies to (the gateway's request handlers, all of campaigns'
dispatchers), so the configured rate holds for the process however many workers draw from it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

# Float refill arithmetic must not turn "exactly one token" into "almost one".
_EPSILON = 1e-9


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`rate` tokens a second per key, at most `burst` saved up for a burst; a rate of 0 means
    unlimited.

    Buckets are made on first use. Past `max_keys` keys, the buckets that have refilled to
    capacity are forgotten: a full bucket is what a new one would be, so nothing is lost.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.capacity = max(burst, 1.0)
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    @classmethod
    def per_minute(
        cls,
        per_minute: float,
        *,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> RateLimiter:
        """`per_minute` requests a minute per key, with bursts up to a quarter of that (at
        least one); 0 means unlimited."""
        return cls(per_minute / 60.0, max(1.0, per_minute / 4), max_keys=max_keys, clock=clock)

    def take(self, key: str, tokens: float = 1.0) -> float:
        """Takes `tokens` from `key`'s bucket and returns 0 if it has them; otherwise takes
        nothing and returns the seconds until it will."""
        if self.rate <= 0:
            return 0.0
        bucket = self._refilled(key)
        if bucket.tokens >= tokens - _EPSILON:
            bucket.tokens -= tokens
            return 0.0
        return (tokens - bucket.tokens) / self.rate

    def reserve(self, key: str, tokens: float = 1.0) -> float:
        """Takes `tokens` now, going into debt if needed; returns how long to wait before using
        them. Callers that must go ahead anyway queue up fairly behind each other this way."""
        if self.rate <= 0:
            return 0.0
        bucket = self._refilled(key)
        bucket.tokens -= tokens
        return 0.0 if bucket.tokens >= -_EPSILON else -bucket.tokens / self.rate

    def _refilled(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_full_buckets(now)
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
            return bucket
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def _forget_full_buckets(self, now: float) -> None:
        refill_time = self.capacity / self.rate
        self._buckets = {
            key: bucket
            for key, bucket in self._buckets.items()
            # A bucket in debt (reservations) needs longer than `refill_time` to be full.
            if now - bucket.updated < refill_time - bucket.tokens / self.rate
        }

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(seconds: float) -> str:
    """A Retry-After value for a wait `take` returned: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))

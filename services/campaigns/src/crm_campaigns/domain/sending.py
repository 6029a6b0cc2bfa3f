"""Pure delivery rules: which SMTP errors are worth a retry, when to retry, how fast to send,
and when a broadcast's errors are bad enough to stop it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import aiosmtplib


class Outcome(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"  # try again later: 4xx, dropped or refused connections, timeouts
    PERMANENT = "permanent"  # never retry: 5xx


def classify_error(error: BaseException) -> Outcome:
    """Whether a failed SMTP send may succeed on a later attempt."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused) and error.recipients:
        codes = [refused.code for refused in error.recipients]
        return Outcome.PERMANENT if all(500 <= code < 600 for code in codes) else Outcome.TRANSIENT
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return Outcome.PERMANENT if 500 <= error.code < 600 else Outcome.TRANSIENT
    return Outcome.TRANSIENT


def retry_delay(
    attempt: int,
    *,
    base: timedelta,
    cap: timedelta,
    random_fraction: Callable[[], float] = random.random,
) -> timedelta:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))].

    Full jitter spreads the retries of a batch that failed together (a provider outage), so
    they do not all come back at the same moment.
    """
    ceiling = min(cap.total_seconds(), base.total_seconds() * 2 ** max(attempt - 1, 0))
    return timedelta(seconds=ceiling * random_fraction())


_EPSILON = 1e-9  # float refill arithmetic must not turn "exactly one token" into "almost one"


class TokenBucket:
    """A token bucket: `rate` tokens a second, at most `capacity` saved up for a burst.

    A rate of 0 means unlimited.
    """

    def __init__(
        self, rate: float, capacity: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def take(self, tokens: float = 1.0) -> float:
        """Takes `tokens` if available and returns 0; otherwise takes nothing and returns how
        many seconds until they will be."""
        if self.rate <= 0:
            return 0.0
        self._refill()
        if self._tokens >= tokens - _EPSILON:
            self._tokens -= tokens
            return 0.0
        return (tokens - self._tokens) / self.rate

    def reserve(self, tokens: float = 1.0) -> float:
        """Takes `tokens` now, going into debt if needed; returns how long to wait before using
        them (callers that must send anyway queue up fairly behind each other this way)."""
        if self.rate <= 0:
            return 0.0
        self._refill()
        self._tokens -= tokens
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


@dataclass(frozen=True)
class ErrorThreshold:
    """Pause a broadcast once at least `min_sample` delivery attempts were made and at least
    `ratio` of them failed."""

    min_sample: int
    ratio: float

    def exceeded(self, attempts: int, errors: int) -> bool:
        return attempts >= self.min_sample and attempts > 0 and errors / attempts >= self.ratio

"""Pure delivery rules: which SMTP errors are worth a retry, when to retry, and when a
broadcast's errors are bad enough to stop it (the rate limits are `crm_shared.RateLimiter`)."""

from __future__ import annotations

import random
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
    if isinstance(error, aiosmtplib.SMTPAuthenticationError):
        # A 535 is about our credentials, not this message: once they are fixed it goes. Until
        # then retries run out and a broadcast pauses itself on its error rate.
        return Outcome.TRANSIENT
    if isinstance(error, aiosmtplib.SMTPConnectError):
        # The server refused the connection or its set-up (greeting, STARTTLS), whatever the
        # code: nothing about the messages waiting, which go once it is fixed.
        return Outcome.TRANSIENT
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


@dataclass(frozen=True)
class ErrorThreshold:
    """Pause a broadcast once at least `min_sample` delivery attempts were made and at least
    `ratio` of them failed."""

    min_sample: int
    ratio: float

    def exceeded(self, attempts: int, errors: int) -> bool:
        return attempts >= self.min_sample and attempts > 0 and errors / attempts >= self.ratio

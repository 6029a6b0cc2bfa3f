"""The circuit breaker of one connection's ATS API: after `failure_threshold` consecutive
failures it opens and calls are refused at once; after `cool_down` one trial call is let
through (half-open), whose success closes it and whose failure opens it again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    cool_down: timedelta = timedelta(seconds=60)
    # A trial call that neither succeeded nor failed by then (its process died) no longer
    # holds the half-open breaker.
    trial_timeout: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class BreakerRecord:
    """What is stored of a connection's breaker."""

    consecutive_failures: int = 0
    opened_at: datetime | None = None
    trial_started_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None

    def state(self, now: datetime, policy: BreakerPolicy) -> BreakerState:
        """Open until the cool-down has passed since it opened, half-open after."""
        if self.opened_at is None:
            return BreakerState.CLOSED
        if now < self.opened_at + policy.cool_down:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def retry_at(self, policy: BreakerPolicy) -> datetime | None:
        """When an open breaker lets a trial call through."""
        return None if self.opened_at is None else self.opened_at + policy.cool_down

    def trial_running(self, now: datetime, policy: BreakerPolicy) -> bool:
        """Whether a half-open breaker's one trial call is under way."""
        return (
            self.trial_started_at is not None
            and self.opened_at is not None
            and self.trial_started_at >= self.opened_at
            and now < self.trial_started_at + policy.trial_timeout
        )

    def opens_after_failure(self, *, was_trial: bool, policy: BreakerPolicy) -> bool:
        """Whether this record, its failure just counted, opens the breaker: the threshold
        reached while closed, or the half-open breaker's trial call failed. (A failure of a call
        that started before another opened it leaves the open breaker's cool-down alone.)"""
        if was_trial:
            return True
        return self.opened_at is None and self.consecutive_failures >= policy.failure_threshold

"""The explainable engagement score: a sum of weighted activities, each halving in weight every
half-life since it happened.

    score(t) = sum over activities i of  weight(kind_i) * 0.5 ** ((t - t_i) / half_life)

Each activity counts once per thing it is about (the first open of a message, the first click
on it, a reply to it, the registration for and attendance at an event), so a mail client that
loads the pixel ten times does not make a candidate ten times as engaged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from crm_analytics.domain.decay import RepublishPolicy


class ActivityKind(StrEnum):
    """What a candidate did that shows engagement."""

    MESSAGE_OPENED = "message_opened"
    MESSAGE_CLICKED = "message_clicked"
    MESSAGE_REPLIED = "message_replied"
    EVENT_REGISTERED = "event_registered"
    EVENT_CHECKED_IN = "event_checked_in"


class Contribution(BaseModel):
    """One activity of a candidate counted in their score."""

    model_config = ConfigDict(frozen=True)

    candidate_id: str
    kind: ActivityKind
    reference: str  # the message or event the activity is about
    occurred_at: datetime
    event_id: str  # the event it was recorded from


@dataclass(frozen=True)
class EngagementModel:
    """The weights of each kind of activity and the half-life of their decay."""

    weights: dict[ActivityKind, float]
    half_life_days: float
    republish: RepublishPolicy = field(default_factory=RepublishPolicy)

    def decayed(self, contribution: Contribution, at: datetime) -> float:
        """What one activity contributes at `at` (its full weight when it just happened)."""
        age_days = max(0.0, (at - contribution.occurred_at).total_seconds() / 86_400)
        decay: float = 0.5 ** (age_days / self.half_life_days)
        return self.weights[contribution.kind] * decay

    def score(self, contributions: list[Contribution], at: datetime) -> float:
        """The candidate's score at `at`."""
        return sum(self.decayed(contribution, at) for contribution in contributions)

    def by_kind(self, contributions: list[Contribution], at: datetime) -> dict[str, float]:
        """The score at `at` split by kind of activity (kinds with no activity left out)."""
        totals: dict[str, float] = {}
        for contribution in contributions:
            kind = contribution.kind.value
            totals[kind] = totals.get(kind, 0.0) + self.decayed(contribution, at)
        return totals

    def peak(self, contributions: list[Contribution]) -> float:
        """The highest the score has been: its value right after each activity, each earlier
        one decayed to that instant (the score only falls between activities)."""
        peak = running = 0.0
        previous: datetime | None = None
        for contribution in sorted(contributions, key=lambda c: c.occurred_at):
            if previous is not None:
                days = (contribution.occurred_at - previous).total_seconds() / 86_400
                running *= 0.5 ** (days / self.half_life_days)
            running += self.weights[contribution.kind]
            previous = contribution.occurred_at
            peak = max(peak, running)
        return peak

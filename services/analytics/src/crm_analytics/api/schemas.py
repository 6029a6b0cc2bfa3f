"""Response schemas of the analytics API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class TenantSummary(BaseModel):
    """The caller's tenant's running totals."""

    candidates: int = Field(description="Candidates created in the tenant.")
    messages_sent: int = Field(description="Messages handed to SMTP.")
    messages_opened: int = Field(description="Messages opened at least once by a person.")
    messages_clicked: int = Field(description="Messages with at least one tracked click.")
    event_registrations: int = Field(description="Registrations for recruiting events.")
    applications: int = Field(description="Applications reported by connected ATSs.")


class EngagementContribution(BaseModel):
    """One activity counted in a candidate's engagement score and what it adds now."""

    kind: str = Field(description="message_opened, message_clicked, message_replied, ...")
    reference: str = Field(description="The message or event the activity was about.")
    occurred_at: datetime
    weight: float = Field(description="What the activity adds when it has just happened.")
    contribution: float = Field(description="What it adds now, after its decay.")
    event_id: str = Field(description="The event it was recorded from.")


class EngagementExplanation(BaseModel):
    """A candidate's engagement score now, and every activity that makes it up."""

    candidate_id: str
    score: float = Field(description="The sum of the contributions, as of `as_of`.")
    as_of: datetime
    half_life_days: float
    weights: dict[str, float]
    last_activity_at: datetime | None
    published_score: float | None = Field(
        description="The score last published in `engagement.scored` (as of `published_at`)."
    )
    published_at: datetime | None
    contributions: list[EngagementContribution] = Field(description="Newest first.")


class SeriesPublic(BaseModel):
    """One metric's counts per period: its total, or one value of its breakdown."""

    metric: str
    dimension: str | None = Field(
        description="Null for the metric's total; for `candidates_created` also one series per "
        "candidate source (`sourced`, `referral`, ...)."
    )
    values: list[int] = Field(description="One count per period of `periods`.")


class TimeSeriesPublic(BaseModel):
    """Counts per day or ISO week over a range of UTC days."""

    start: date = Field(alias="from")
    end: date = Field(alias="to")
    interval: str
    periods: list[date] = Field(description="The first day of each period (weeks: Mondays).")
    series: list[SeriesPublic]

    model_config = {"populate_by_name": True}

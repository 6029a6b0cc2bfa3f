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
    hires: int = Field(
        description="Hires reported by connected ATSs: ATS applications hired, each once."
    )


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
    score: float | None = Field(
        description="The sum of the contributions, as of `as_of`; null for a record merged "
        "away (`merged_into`), which keeps no score."
    )
    merged_into: str | None = Field(
        default=None,
        description="For a record merged into another: the record it stands for now (merges "
        "of merges followed), whose score counts its activities. Null otherwise.",
    )
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


class FollowUpPublic(BaseModel):
    """Registrants with an application (or a hire) within the window after the event."""

    count: int = Field(description="How many registrants (people, not applications).")
    candidate_ids: list[str] = Field(
        description="Their candidate ids, sorted; at most 100 (see `truncated`)."
    )
    truncated: bool = Field(description="Whether more candidates count than are listed.")


class EventFiguresPublic(BaseModel):
    """An event's figures (docs/analytics.md defines each)."""

    registrations: int = Field(
        description="Every registration: registered + waitlisted + cancelled."
    )
    registered: int = Field(description="Holding a seat now (promoted, walk-ins, checked in).")
    waitlisted: int = Field(description="On the waitlist now.")
    cancelled: int = Field(description="Cancelled and not made anew.")
    checked_in: int = Field(description="Checked in (attended), walk-ins included.")
    walk_ins: int = Field(description="Registered at the door.")
    attended: int = Field(description="Settled as attended when the event was completed.")
    no_shows: int = Field(description="Held a seat but never came (settled at completion).")
    no_show_rate: float | None = Field(
        description="no_shows / (attended + no_shows); null until the event is completed."
    )
    by_channel: dict[str, int] = Field(description="Registrations by `online` / `walk_in`.")
    by_source: dict[str, int] = Field(
        description="Registrations by the candidate's source (`event`, `sourced`, ...); "
        "`unknown` for a registrant not (yet) known as a candidate."
    )
    applied: FollowUpPublic
    hired: FollowUpPublic


class EventReportPublic(EventFiguresPublic):
    """One recruiting event's report."""

    event_id: str
    event_name: str
    status: str = Field(description="`scheduled`, `completed` or `cancelled`.")
    starts_at: datetime | None = Field(description="Null if analytics was never told it.")
    completed_at: datetime | None
    within_days: int
    window_end: datetime | None = Field(
        description="Applications and hires count from `starts_at` up to this moment."
    )


class EventPeriodReportPublic(BaseModel):
    """The reports of every event starting in a range of UTC days, and their totals."""

    start: date = Field(alias="from")
    end: date = Field(alias="to")
    within_days: int
    events: list[EventReportPublic] = Field(description="Earliest start first.")
    totals: EventFiguresPublic = Field(
        description="Sums over the events; a person in two events counts in each."
    )

    model_config = {"populate_by_name": True}


class MessageFiguresPublic(BaseModel):
    """Message figures, each counting messages (docs/analytics.md "Message reports")."""

    sent: int = Field(description="Messages handed to SMTP.")
    delivered: int = Field(description="Messages sent that never bounced (counted when sent).")
    bounced: int = Field(description="bounced_hard + bounced_soft.")
    bounced_hard: int = Field(description="Messages with a hard bounce.")
    bounced_soft: int = Field(description="Messages with a soft bounce and no hard one.")
    opened: int = Field(description="Messages opened by a person (first human open).")
    clicked: int = Field(description="Messages with a link followed by a person.")
    machine_opened: int = Field(description="Messages opened by a prefetcher or bot.")
    machine_clicked: int = Field(description="Messages with a link followed by a scanner.")
    replied: int = Field(description="Messages replied to.")
    unsubscribed: int = Field(description="Messages whose link withdrew marketing consent.")
    complained: int = Field(description="Messages reported as spam.")
    delivered_opened: int = Field(
        description="Delivered messages (sent in the range, never bounced) opened by a person, "
        "counted on the day sent: the open rate's numerator."
    )
    delivered_clicked: int = Field(description="Delivered messages clicked by a person.")
    delivered_replied: int = Field(description="Delivered messages replied to.")
    delivered_unsubscribed: int = Field(description="Delivered messages unsubscribed from.")
    delivered_complained: int = Field(description="Delivered messages reported as spam.")
    suppressed: int = Field(
        description="Messages a send rule stopped before delivery (no consent, unsubscribed, "
        "a hard bounce or complaint before, suppressed by hand, the frequency cap, archived): "
        "never sent, so in no rate; on the day stopped, in its A/B variant's group."
    )
    delivery_rate: float | None = Field(description="delivered / sent; null when nothing sent.")
    bounce_rate: float | None = Field(description="bounced / sent.")
    open_rate: float | None = Field(description="delivered_opened / delivered.")
    click_rate: float | None = Field(description="delivered_clicked / delivered.")
    reply_rate: float | None = Field(description="delivered_replied / delivered.")
    unsubscribe_rate: float | None = Field(description="delivered_unsubscribed / delivered.")
    complaint_rate: float | None = Field(description="delivered_complained / delivered.")


class MessageDayPublic(MessageFiguresPublic):
    """What happened on one UTC day."""

    day: date


class MessageGroupPublic(BaseModel):
    """One group of a message report: an A/B variant, a sequence step, or a source."""

    key: str = Field(
        description="The variant (`A`; empty without an A/B test), the step's index (`0`, "
        "`1`, ...), or the source (`broadcast:<id>`, `sequence:<id>:<step>`, `direct`)."
    )
    label: str | None = Field(description="A sequence step's label, if it has one.")
    figures: MessageFiguresPublic = Field(description="Over the period.")
    series: list[MessageDayPublic] = Field(description="Per day of the period.")


class MessageReportPublic(BaseModel):
    """A broadcast's, sequence's or template's message report over a range of UTC days."""

    report: str = Field(description="`broadcast`, `sequence` or `template`.")
    id: str = Field(description="The broadcast, sequence or template id.")
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    breakdown: str = Field(description="What the groups are: `variant`, `step` or `source`.")
    totals: MessageFiguresPublic = Field(description="Over the period.")
    series: list[MessageDayPublic] = Field(description="Per day of the period, zero-filled.")
    groups: list[MessageGroupPublic]

    model_config = {"populate_by_name": True}


class EnrolmentFiguresPublic(BaseModel):
    """What happened to a sequence's enrolments, each on the UTC day it happened."""

    entered: int = Field(description="Enrolments begun (a candidate entering again counts again).")
    completed: int = Field(description="Enrolments that ran through every step, on the day ended.")
    exited: int = Field(
        description="Enrolments ended early (see `exit_reasons`), on the day ended."
    )


class EnrolmentDayPublic(EnrolmentFiguresPublic):
    """What happened on one UTC day."""

    day: date


class EnrolmentTotalsPublic(EnrolmentFiguresPublic):
    """The period's figures, and what became of the enrolments begun in it."""

    entrants_completed: int = Field(description="Of the period's `entered`, completed so far.")
    entrants_exited: int = Field(description="Of the period's `entered`, exited so far.")
    entrants_still_enrolled: int = Field(description="Of the period's `entered`, not ended yet.")
    completion_rate: float | None = Field(
        description="`entrants_completed / entered`; null without entrants."
    )
    exit_rate: float | None = Field(
        description="`entrants_exited / entered`; null without entrants."
    )
    median_days_to_complete: float | None = Field(
        description="The median of the whole days the period's `completed` enrolments took from "
        "their start; null without any."
    )


class ExitReasonPublic(BaseModel):
    reason: str = Field(description="`replied`, `applied`, `unsubscribed`, `bounced`, ...")
    count: int


class ExitStepPublic(BaseModel):
    step: int = Field(description="The send step (0-based) whose held-back mail ended them.")
    count: int


class CompletionDaysPublic(BaseModel):
    days: int = Field(description="Whole days from the enrolment's start to its completion.")
    count: int


class EnrolmentReportPublic(BaseModel):
    """A sequence's enrolment report over a range of UTC days."""

    report: str = Field(default="sequence_enrolments")
    id: str = Field(description="The sequence id.")
    name: str | None = Field(description="The sequence's name as its latest enrolment event told.")
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    enrolled_now: int = Field(
        description="Enrolments begun and not ended, whenever begun (the period does not apply)."
    )
    totals: EnrolmentTotalsPublic = Field(description="Over the period.")
    exit_reasons: list[ExitReasonPublic] = Field(
        description="The period's `exited`, by reason, most first."
    )
    exit_steps: list[ExitStepPublic] = Field(
        description="The period's `exited` whose held-back mail ended them, by step."
    )
    completion_days: list[CompletionDaysPublic] = Field(
        description="The period's `completed`, by whole days taken."
    )
    series: list[EnrolmentDayPublic] = Field(description="Per day of the period, zero-filled.")

    model_config = {"populate_by_name": True}

"""What the campaigns service stores: recipients, templates, sequences, enrolments, messages."""

from __future__ import annotations

from datetime import date as date_type
from datetime import datetime, timedelta
from datetime import time as time_type
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from crm_shared import new_id, utc_now


class Recipient(BaseModel):
    """The campaigns service's own copy of what it needs to know about a candidate."""

    model_config = ConfigDict(frozen=True)

    candidate_id: str
    tenant_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    current_title: str | None = None
    current_company: str | None = None
    location: str | None = None
    marketing_consent: bool = False
    time_zone: str | None = None


class Template(BaseModel):
    """A message template with merge fields."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    subject: str
    html: str
    text: str
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)


class SendStep(BaseModel):
    """Send a template to the enrolled candidate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["send"] = "send"
    template_id: str


class WaitStep(BaseModel):
    """Wait a fixed time before the next step (the enrolment stays active meanwhile)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["wait"] = "wait"
    days: int = Field(default=0, ge=0, le=365)
    hours: int = Field(default=0, ge=0, le=23)
    minutes: int = Field(default=0, ge=0, le=59)

    @property
    def duration(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


Step = Annotated[SendStep | WaitStep, Field(discriminator="type")]


class SegmentTrigger(BaseModel):
    """Enrol candidates when they enter a segment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["segment_entered"] = "segment_entered"
    segment_id: str


class Sequence(BaseModel):
    """A nurture sequence: a trigger that enrols candidates and the steps they go through."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    trigger: SegmentTrigger
    steps: list[Step]
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)


class EnrolmentStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"
    EXITED = "exited"


class ExitReason(StrEnum):
    APPLIED = "applied"


class Enrolment(BaseModel):
    """One candidate's progress through one sequence."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    sequence_id: str
    candidate_id: str
    status: EnrolmentStatus = EnrolmentStatus.ACTIVE
    step_index: int = 0
    next_run_at: datetime | None = Field(default_factory=utc_now)
    exit_reason: ExitReason | None = None
    enrolled_at: datetime = Field(default_factory=utc_now)
    ended_at: datetime | None = None


class MessageStatus(StrEnum):
    """queued -> sending -> sent | failed, or queued -> suppressed (a send rule skipped it).

    `sending` is the claim: only the worker that moved a message from queued to sending hands
    it to SMTP, so a message is never sent twice. A broadcast's paused messages are `held`,
    its cancelled ones `cancelled`.
    """

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    SUPPRESSED = "suppressed"
    FAILED = "failed"
    HELD = "held"
    CANCELLED = "cancelled"


class SuppressionReason(StrEnum):
    NO_MARKETING_CONSENT = "no_marketing_consent"
    NO_EMAIL_ADDRESS = "no_email_address"


class Message(BaseModel):
    """One email to one candidate, rendered when queued and sent by the dispatcher."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    candidate_id: str
    template_id: str
    sequence_id: str | None = None
    enrolment_id: str | None = None
    broadcast_id: str | None = None
    variant: str | None = None
    to_email: str | None
    subject: str
    html: str
    text: str
    links: list[str] = Field(default_factory=list)
    status: MessageStatus = MessageStatus.QUEUED
    suppression_reason: str | None = None
    attempts: int = 0
    last_error: str | None = None
    opens: int = 0
    clicks: int = 0
    created_at: datetime = Field(default_factory=utc_now)
    sent_at: datetime | None = None


class BroadcastStatus(StrEnum):
    """draft -> preparing (audience snapshot, messages queued) -> sending -> completed; paused
    and resumed in between; cancelled from anything not finished."""

    DRAFT = "draft"
    PREPARING = "preparing"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class SegmentAudience(BaseModel):
    """The members of a segment when the send starts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["segment"] = "segment"
    segment_id: str = Field(min_length=1)


class PoolAudience(BaseModel):
    """The candidates in a talent pool, optionally only those at one stage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["pool"] = "pool"
    pool_id: str = Field(min_length=1)
    stage: str | None = None


class ListAudience(BaseModel):
    """A static list of candidate ids."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["list"] = "list"
    candidate_ids: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, max_length=100_000
    )


Audience = Annotated[SegmentAudience | PoolAudience | ListAudience, Field(discriminator="type")]


class SendNow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["now"] = "now"


class SendAt(BaseModel):
    """Everyone at one moment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["at"] = "at"
    send_at: AwareDatetime


class SendAtLocalTime(BaseModel):
    """Each recipient at the same wall-clock time in their own time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["local_time"] = "local_time"
    date: date_type
    local_time: time_type = Field(description="Wall-clock time, e.g. `09:00`.")


Schedule = Annotated[SendNow | SendAt | SendAtLocalTime, Field(discriminator="type")]


class AbMetric(StrEnum):
    OPEN_RATE = "open_rate"
    CLICK_RATE = "click_rate"


class AbVariant(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]
    subject: Annotated[str, Field(min_length=1, max_length=500)]


class AbTest(BaseModel):
    """Send `test_percentage` of the audience the variants (split evenly), then the winner to
    the rest once `decide_after_minutes` passed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variants: list[AbVariant] = Field(min_length=2, max_length=5)
    test_percentage: int = Field(ge=1, le=100)
    metric: AbMetric = AbMetric.OPEN_RATE
    decide_after_minutes: int = Field(ge=1, le=7 * 24 * 60)


class Broadcast(BaseModel):
    """One message to an audience, snapshotted when the send starts."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    template_id: str
    audience: Audience
    schedule: Schedule = Field(default_factory=SendNow)
    ab_test: AbTest | None = None
    status: BroadcastStatus = BroadcastStatus.DRAFT
    pause_reason: str | None = None
    paused_from: BroadcastStatus | None = None
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    audience_size: int = 0
    queued: int = 0
    materialized: bool = False
    test_ends_at: datetime | None = None
    winner: str | None = None
    winner_decided_at: datetime | None = None
    stats: dict[str, Any] = Field(default_factory=dict)

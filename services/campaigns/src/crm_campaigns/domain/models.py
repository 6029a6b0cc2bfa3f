"""What the campaigns service stores: recipients, templates, sequences, enrolments, messages."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    QUEUED = "queued"
    SENT = "sent"
    SUPPRESSED = "suppressed"
    FAILED = "failed"


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
    to_email: str | None
    subject: str
    html: str
    text: str
    links: list[str] = Field(default_factory=list)
    status: MessageStatus = MessageStatus.QUEUED
    suppression_reason: SuppressionReason | None = None
    attempts: int = 0
    last_error: str | None = None
    opens: int = 0
    clicks: int = 0
    created_at: datetime = Field(default_factory=utc_now)
    sent_at: datetime | None = None

"""Request and response schemas of the campaigns API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from crm_campaigns.domain.models import (
    EnrolmentStatus,
    ExitReason,
    MessageStatus,
    SegmentTrigger,
    Step,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class TemplateCreate(BaseModel):
    """A message template; merge fields are `{{ candidate.first_name | default("there") }}`."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    subject: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    html: Annotated[str, StringConstraints(min_length=1, max_length=200_000)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class TemplatePublic(BaseModel):
    id: str
    name: str
    subject: str
    html: str
    text: str
    created_by: str
    created_at: datetime


class TemplatePreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidate_id: str


class TemplatePreview(BaseModel):
    subject: str
    html: str
    text: str


class SequenceCreate(BaseModel):
    """A nurture sequence: who gets enrolled, and the steps they go through."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    trigger: SegmentTrigger
    steps: list[Step] = Field(min_length=1, max_length=50)
    enrol_current_members: bool = Field(
        default=True,
        description="Also enrol the candidates already in the trigger segment, not only those "
        "entering it from now on.",
    )


class SequencePublic(BaseModel):
    id: str
    name: str
    trigger: SegmentTrigger
    steps: list[Step]
    created_by: str
    created_at: datetime


class EnrolmentPublic(BaseModel):
    id: str
    sequence_id: str
    candidate_id: str
    status: EnrolmentStatus
    step_index: int
    next_run_at: datetime | None
    exit_reason: ExitReason | None
    enrolled_at: datetime
    ended_at: datetime | None


class MessagePublic(BaseModel):
    id: str
    candidate_id: str
    template_id: str
    sequence_id: str | None
    enrolment_id: str | None
    to_email: str | None
    subject: str
    status: MessageStatus
    broadcast_id: str | None
    variant: str | None
    suppression_reason: str | None
    last_error: str | None
    attempts: int
    opens: int
    clicks: int
    created_at: datetime
    sent_at: datetime | None

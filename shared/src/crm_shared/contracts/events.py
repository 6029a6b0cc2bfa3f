"""Payload models, one per topic.

These are a public contract: change them backward compatibly, or give the topic a new version.
Consumers ignore fields they do not know, so adding an optional field is compatible.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class CandidateProfile(_Payload):
    """The full current profile of a candidate, as carried by candidate events."""

    candidate_id: str = Field(description="The candidate's id in the candidates service.")
    first_name: str
    last_name: str
    emails: list[str] = Field(description="Normalised (lower-cased) email addresses.")
    phones: list[str] = Field(default_factory=list, description="Phone numbers as given.")
    headline: str | None = None
    current_title: str | None = None
    current_company: str | None = None
    location: str | None = None
    skills: list[str] = Field(default_factory=list, description="Normalised (lower-cased) skills.")
    tags: list[str] = Field(default_factory=list)
    source: str = Field(description="How the candidate entered the CRM, e.g. `sourced`.")
    owner_id: str | None = Field(default=None, description="The recruiter who owns the candidate.")
    marketing_consent: bool = Field(
        default=False, description="Whether the candidate agreed to receive marketing messages."
    )


class CandidateCreated(CandidateProfile):
    """A candidate record was created in the candidates service."""


class CandidateUpdated(CandidateProfile):
    """A candidate's profile changed; carries the whole profile after the change."""


class SegmentMembership(_Payload):
    """A candidate's membership of a dynamic segment changed."""

    segment_id: str
    segment_name: str
    candidate_id: str


class SegmentEntered(SegmentMembership):
    """A candidate started matching a segment's rule."""


class SegmentExited(SegmentMembership):
    """A candidate stopped matching a segment's rule."""


class MessageSent(_Payload):
    """A message left for a candidate through a delivery channel."""

    message_id: str
    candidate_id: str
    channel: str = Field(default="email")
    template_id: str
    subject: str
    sequence_id: str | None = None
    enrolment_id: str | None = None


class MessageOpened(_Payload):
    """A candidate's mail client loaded a message's tracking pixel."""

    message_id: str
    candidate_id: str
    automated: bool = Field(
        default=False, description="True when the open came from a known prefetcher or bot."
    )


class MessageClicked(_Payload):
    """A candidate followed a tracked link of a message."""

    message_id: str
    candidate_id: str
    link_index: int
    url: str


class EventRegistered(_Payload):
    """Somebody registered for a recruiting event."""

    event_id: str
    event_name: str
    registration_id: str
    candidate_id: str | None = Field(
        default=None, description="The matched candidate; null when the registrant is new."
    )
    email: str
    first_name: str
    last_name: str
    registered_at: datetime


class AtsApplicationCreated(_Payload):
    """An application was created in the applicant tracking system."""

    provider: str = Field(description="The ATS, e.g. `greenhouse`.")
    connection_id: str
    ats_application_id: str
    ats_candidate_id: str
    candidate_id: str | None = Field(
        default=None, description="The matched CRM candidate; null when nobody matched."
    )
    email: str | None = None
    job_name: str | None = None
    applied_at: datetime | None = None

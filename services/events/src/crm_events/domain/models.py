"""Recruiting events, their registrations, and who is already a candidate."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crm_shared import new_id, utc_now


class EventKind(StrEnum):
    CAREER_FAIR = "career_fair"
    WEBINAR = "webinar"
    MEETUP = "meetup"
    CAMPUS = "campus"
    OPEN_HOUSE = "open_house"


class RecruitingEvent(BaseModel):
    """A career fair, webinar, meetup, campus or open-house event."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    kind: EventKind
    starts_at: datetime
    location: str | None = None
    capacity: int
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)


class RegistrationStatus(StrEnum):
    REGISTERED = "registered"
    WAITLISTED = "waitlisted"


class Registration(BaseModel):
    """One person's registration for one event."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    event_id: str
    email: str
    first_name: str
    last_name: str
    candidate_id: str | None = None
    status: RegistrationStatus
    registered_at: datetime = Field(default_factory=utc_now)
    checked_in_at: datetime | None = None
    walk_in: bool = False
    # Whether `event.checked_in` went out: only once the attendee is a known candidate.
    attendance_published: bool = False

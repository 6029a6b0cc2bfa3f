"""Request and response schemas of the events API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from crm_events.domain.models import EventKind, EventStatus, RegistrationStatus

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class EventCreate(BaseModel):
    """A recruiting event."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    kind: EventKind
    starts_at: AwareDatetime
    location: Annotated[str, StringConstraints(max_length=300)] | None = None
    capacity: int = Field(ge=1, le=100_000)


class EventUpdate(BaseModel):
    """An edit of an event: the fields given replace the event's."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    kind: EventKind | None = None
    starts_at: AwareDatetime | None = None
    location: Annotated[str, StringConstraints(max_length=300)] | None = None
    capacity: int | None = Field(default=None, ge=1, le=100_000)


class EventCancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class EventPublic(BaseModel):
    id: str
    name: str
    kind: EventKind
    starts_at: datetime
    location: str | None
    capacity: int
    registered: int
    created_at: datetime
    status: EventStatus
    version: int = Field(description="Counts edits; its `ETag` is the version, for `If-Match`.")
    updated_at: datetime | None
    cancelled_at: datetime | None
    cancellation_reason: str | None


class EventListing(BaseModel):
    """What anyone may know of an event: its public registration page's content."""

    id: str
    name: str
    kind: EventKind
    starts_at: datetime
    location: str | None
    status: EventStatus
    places_left: int = Field(
        description="Seats not yet taken; 0: a new registration joins the waitlist."
    )


class RegistrationCreate(BaseModel):
    """A public registration for an event (no login)."""

    model_config = ConfigDict(extra="forbid")

    first_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    last_name: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    email: Annotated[EmailStr, StringConstraints(max_length=254)]


class RegistrationPublic(BaseModel):
    id: str
    event_id: str
    status: RegistrationStatus
    registered_at: datetime


class RegistrationDetail(RegistrationPublic):
    email: str
    first_name: str
    last_name: str
    candidate_id: str | None
    checked_in_at: datetime | None
    walk_in: bool


class WalkInCreate(RegistrationCreate):
    """Somebody who came to the event without registering, captured at the door."""

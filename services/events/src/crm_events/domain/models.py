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


class EventStatus(StrEnum):
    """published (open for registration) -> cancelled (final)."""

    PUBLISHED = "published"
    CANCELLED = "cancelled"


class RecruitingEvent(BaseModel):
    """A career fair, webinar, meetup, campus or open-house event.

    `version` counts edits, for optimistic concurrency (`If-Match`).
    """

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
    status: EventStatus = EventStatus.PUBLISHED
    version: int = 1
    updated_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancellation_reason: str | None = None


class EventChangeRefused(ValueError):
    """An edit or cancellation the event's state does not allow."""


class EventNotFound(LookupError):
    """No event with this id in the tenant (or, for public registration, anywhere)."""

    def __init__(self, event_id: str) -> None:
        super().__init__(event_id)
        self.event_id = event_id


class RegistrationNotFound(LookupError):
    """No registration with this id for the event."""

    def __init__(self, event_id: str, registration_id: str) -> None:
        super().__init__(registration_id)
        self.event_id = event_id
        self.registration_id = registration_id


class EventCancelled(Exception):
    """The event was cancelled: it takes no registrations."""

    def __init__(self, event: RecruitingEvent) -> None:
        super().__init__(event.id)
        self.event = event


def seats_to_promote(capacity: int, registered: int, *, status: EventStatus) -> int:
    """How many waitlisted people a capacity of `capacity` lets in, given `registered` now.

    A capacity below the people already registered is refused: they were promised a seat.
    """
    if status is EventStatus.CANCELLED:
        raise EventChangeRefused("the event was cancelled; it cannot change")
    if capacity < registered:
        raise EventChangeRefused(
            f"{registered} people are registered; the capacity cannot go below that"
        )
    return capacity - registered


class RegistrationStatus(StrEnum):
    REGISTERED = "registered"
    WAITLISTED = "waitlisted"


def registration_status(capacity: int, registered: int) -> RegistrationStatus:
    """A new registrant's status: waitlisted once the registered people fill the capacity."""
    return (
        RegistrationStatus.WAITLISTED if registered >= capacity else RegistrationStatus.REGISTERED
    )


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

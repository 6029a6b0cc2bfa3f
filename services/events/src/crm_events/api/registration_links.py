"""Routes behind a registrant's signed link (no login): see the registration, cancel it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from crm_events.adapters.calendar import MEDIA_TYPE
from crm_events.api.deps import Storage
from crm_events.api.schemas import EventForRegistrant, LinkedRegistration, RegistrationPublic
from crm_events.application.cancellations import (
    InvalidLink,
    cancel_by_link,
    linked_registration,
)
from crm_events.application.invitations import invitation_by_link
from crm_events.domain.models import (
    RecruitingEvent,
    Registration,
    RegistrationCancelRefused,
    as_attended,
    as_utc,
)
from crm_shared import ProblemError, problem_responses, public_operation

links_router = APIRouter(
    prefix="/public/event-registrations", tags=["public"], dependencies=[public_operation()]
)


def invalid_link() -> ProblemError:
    """A forged or altered link, or one whose registration was erased."""
    return ProblemError(404, "this link is not valid", problem_type="invalid-link")


def cancel_refused(refused: RegistrationCancelRefused) -> ProblemError:
    """409 whose type says why: `registration-cancelled` (a reused link),
    `registration-attended`, `event-past`."""
    return ProblemError(409, refused.detail, problem_type=refused.problem_type)


def for_registrant(event: RecruitingEvent, registration: Registration) -> EventForRegistrant:
    """The event as a registrant sees it (their session's time, if they chose one), times in
    UTC and in its own zone."""
    event = as_attended(event, registration)
    return EventForRegistrant.model_validate(
        event.model_dump()
        | {
            "starts_at": as_utc(event.starts_at),
            "ends_at": as_utc(event.ends_at) if event.ends_at else None,
            "starts_at_local": event.local(event.starts_at),
            "ends_at_local": event.local(event.ends_at),
        }
    )


async def _linked(storage: Storage, token: str) -> tuple[Registration, RecruitingEvent]:
    try:
        registration = await linked_registration(storage, token)
    except InvalidLink:
        raise invalid_link() from None
    event = await storage.events(registration.tenant_id).get(registration.event_id)
    if event is None:
        raise invalid_link()
    return registration, event


@links_router.get("/{token}", response_model=LinkedRegistration)
async def read_registration(token: str, storage: Storage) -> LinkedRegistration:
    """The registration a registrant's link names, with its event (and join URL): whether
    they have a seat, are waitlisted, or cancelled. 404 (`invalid-link`) for a forged or
    altered link."""
    registration, event = await _linked(storage, token)
    return LinkedRegistration.model_validate(
        registration.model_dump()
        | {
            "event": for_registrant(event, registration),
            "session_name": session.name
            if (session := event.session(registration.session_id))
            else None,
        }
    )


@links_router.post(
    "/{token}/cancel", response_model=RegistrationPublic, responses=problem_responses(409)
)
async def cancel_registration(token: str, storage: Storage) -> RegistrationPublic:
    """Cancels the registration the link names; its seat goes to the longest-waiting person
    on the waitlist. Using the link again is a 409 (`registration-cancelled`), and so is
    cancelling after checking in (`registration-attended`) or once the event is over
    (`event-past`); a forged or altered link is a 404 (`invalid-link`)."""
    try:
        cancelled = await cancel_by_link(storage, token)
    except InvalidLink:
        raise invalid_link() from None
    except RegistrationCancelRefused as refused:
        raise cancel_refused(refused) from None
    return RegistrationPublic.model_validate(cancelled.registration.model_dump())


# How the `.ics` answers are documented in the OpenAPI document.
CALENDAR_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An iCalendar invitation (RFC 5545, METHOD:REQUEST or METHOD:CANCEL).",
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


def calendar_file(ics: bytes) -> Response:
    """An `.ics` answer a browser saves and a calendar opens; never cached, since an edit or a
    cancellation replaces it."""
    return Response(
        ics,
        media_type=f"{MEDIA_TYPE}; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="invitation.ics"',
            "Cache-Control": "no-store",
        },
    )


@links_router.get("/{token}/invitation.ics", response_class=Response, responses=CALENDAR_RESPONSE)
async def registration_invitation(token: str, storage: Storage) -> Response:
    """The registration's calendar invitation: the same UID for every copy, SEQUENCE from
    the event's version, so an edit updates the calendar entry and a cancellation (of the
    event or the registration: METHOD:CANCEL, STATUS:CANCELLED) removes it. 404
    (`invalid-link`) for a forged or altered link."""
    try:
        return calendar_file(await invitation_by_link(storage, token))
    except InvalidLink:
        raise invalid_link() from None

"""Use cases of cancelling a registration: by the registrant through their signed link, or by
a coordinator on their behalf. A freed seat goes to the longest-waiting person."""

from __future__ import annotations

from dataclasses import dataclass

from crm_events.application.storage import EventsStorage
from crm_events.application.waitlist import promote
from crm_events.domain.models import (
    EventNotFound,
    Registration,
    RegistrationNotFound,
    RegistrationStatus,
    check_cancellable,
)
from crm_events.publishers import to_event_registration_cancelled
from crm_shared import Session, utc_now


class InvalidLink(Exception):
    """A registration link that is forged, altered, or names a registration that is gone."""


@dataclass(frozen=True)
class Cancelled:
    """A cancelled registration and who got a seat because of it."""

    registration: Registration
    promoted: list[Registration]


async def cancel_registration(
    storage: EventsStorage, tenant_id: str, event_id: str, registration_id: str
) -> Cancelled:
    """Cancels a registration; a seat it frees goes to the longest-waiting person on the
    waitlist (`event.registered` and `event.registration_promoted`). Announced as
    `event.registration_cancelled`.

    `RegistrationCancelRefused` for a registration cancelled already, one checked in, or an
    event that is over; `EventNotFound` / `RegistrationNotFound` when they are gone.
    """
    events = storage.events(tenant_id)
    registrations = storage.registrations(tenant_id)
    outcome: Cancelled | None = None

    async def cancel(session: Session) -> None:
        nonlocal outcome
        # Written first: registrations, edits and other cancellations of the event wait.
        await events.hold(event_id, session=session)
        event = await events.get(event_id, session=session)
        if event is None:
            raise EventNotFound(event_id)
        registration = await registrations.registration(event_id, registration_id, session=session)
        if registration is None:
            raise RegistrationNotFound(event_id, registration_id)
        now = utc_now()
        check_cancellable(event, registration, now)
        cancelled = await registrations.cancel(registration_id, now, session=session)
        if cancelled is None:  # pragma: no cover - the event's document serialises cancels
            raise RegistrationNotFound(event_id, registration_id)
        held_seat = registration.status is RegistrationStatus.REGISTERED
        await to_event_registration_cancelled(
            storage.outbox,
            event,
            cancelled,
            "seat" if held_seat else "waitlist",
            session=session,
        )
        promoted: list[Registration] = []
        if held_seat:
            promoted = await promote(storage, event, "cancellation", session=session)
        outcome = Cancelled(cancelled, promoted)

    await storage.in_transaction(cancel)
    storage.outbox.notify_committed()
    assert outcome is not None
    return outcome


async def linked_registration(storage: EventsStorage, token: str) -> Registration:
    """The registration a registrant's link names; `InvalidLink` for a forged or altered
    link, or a registration (or event) erased since."""
    linked = storage.links.open(token)
    if linked is None:
        raise InvalidLink
    registration = await storage.registrations(linked.tenant_id).registration(
        linked.event_id, linked.registration_id
    )
    if registration is None:
        raise InvalidLink
    return registration


async def cancel_by_link(storage: EventsStorage, token: str) -> Cancelled:
    """The registrant cancels through their signed link; using it again is refused
    (`RegistrationCancelRefused`, `registration-cancelled`)."""
    registration = await linked_registration(storage, token)
    try:
        return await cancel_registration(
            storage, registration.tenant_id, registration.event_id, registration.id
        )
    except (EventNotFound, RegistrationNotFound):
        raise InvalidLink from None

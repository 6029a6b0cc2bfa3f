"""Use cases of an event's lifecycle: edit (promoting the waitlist when seats open) and delete."""

from __future__ import annotations

from typing import Any

from crm_events.domain.models import EventChangeRefused, RecruitingEvent, seats_to_promote
from crm_events.publishers import to_event_registered
from crm_events.repository import EventRepository
from crm_shared import MongoClient, Outbox, Session, StaleVersionError, in_transaction


async def edit_event(
    mongo: MongoClient,
    outbox: Outbox,
    events: EventRepository,
    event: RecruitingEvent,
    version: int,
    changes: dict[str, Any],
) -> int:
    """Applies an edit made from `version`; returns how many waitlisted people it registered.

    A larger capacity registers waitlisted people first come first served, each announced as
    `event.registered` like any registration; a capacity below the registered count is refused
    (`EventChangeRefused`).
    """
    promoted = 0

    async def edit(session: Session) -> None:
        nonlocal promoted
        current = await events.get(event.id, session=session)
        if current is None:
            raise LookupError(event.id)
        registered = await events.registered_count(event.id, session=session)
        seats = seats_to_promote(
            changes.get("capacity", current.capacity), registered, status=current.status
        )
        if current.version != version or not await events.replace(
            event.id, version, changes, session=session
        ):
            raise StaleVersionError(current.version)
        edited = await events.get(event.id, session=session)
        assert edited is not None
        registrations = await events.promote_waitlisted(event.id, seats, session=session)
        for registration in registrations:
            await to_event_registered(outbox, edited, registration, session=session)
        promoted = len(registrations)

    await in_transaction(mongo, edit)
    outbox.notify_committed()
    return promoted


async def delete_event(mongo: MongoClient, events: EventRepository, event_id: str) -> None:
    """Deletes an event nobody registered for; `EventChangeRefused` otherwise (cancel it)."""

    async def delete(session: Session) -> None:
        if not await events.delete_if_unregistered(event_id, session=session):
            raise EventChangeRefused(
                "people registered for this event; cancel it instead, which keeps their "
                "registrations and attendance"
            )

    await in_transaction(mongo, delete)

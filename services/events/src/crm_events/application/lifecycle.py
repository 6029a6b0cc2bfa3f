"""Use cases of an event's lifecycle: create, read, edit (promoting the waitlist when seats
open), cancel and delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_events.application.storage import EventsStorage
from crm_events.domain.models import (
    EventChangeRefused,
    EventNotFound,
    RecruitingEvent,
    seats_to_promote,
)
from crm_events.publishers import to_event_registered
from crm_events.repositories.events import find_event_anywhere
from crm_shared import Session, StaleVersionError


@dataclass(frozen=True)
class EventStanding:
    """An event with the number of people registered for it."""

    event: RecruitingEvent
    registered: int


async def _standing(storage: EventsStorage, event: RecruitingEvent) -> EventStanding:
    registered = await storage.registrations(event.tenant_id).registered_count(event.id)
    return EventStanding(event, registered)


async def existing_event(storage: EventsStorage, tenant_id: str, event_id: str) -> RecruitingEvent:
    """The tenant's event; `EventNotFound` if it has none."""
    event = await storage.events(tenant_id).get(event_id)
    if event is None:
        raise EventNotFound(event_id)
    return event


async def create_event(
    storage: EventsStorage, tenant_id: str, created_by: str, fields: dict[str, Any]
) -> EventStanding:
    """Creates a recruiting event that people can register for."""
    event = RecruitingEvent(tenant_id=tenant_id, created_by=created_by, **fields)
    await storage.events(tenant_id).add(event)
    return await _standing(storage, event)


async def list_events(storage: EventsStorage, tenant_id: str) -> list[EventStanding]:
    """The tenant's events, soonest first."""
    return [await _standing(storage, event) for event in await storage.events(tenant_id).all()]


async def find_event(storage: EventsStorage, tenant_id: str, event_id: str) -> EventStanding:
    """One event with its registration count; `EventNotFound` if the tenant has none."""
    return await _standing(storage, await existing_event(storage, tenant_id, event_id))


async def published_event(storage: EventsStorage, event_id: str) -> EventStanding:
    """An event as its public registration page shows it; the event id alone finds it (the
    event decides the tenant, as for registering)."""
    event = await find_event_anywhere(storage.database, event_id)
    if event is None:
        raise EventNotFound(event_id)
    return await _standing(storage, event)


async def edit_event(
    storage: EventsStorage, tenant_id: str, event_id: str, version: int, changes: dict[str, Any]
) -> int:
    """Applies an edit made from `version`; returns how many waitlisted people it registered.

    A larger capacity registers waitlisted people first come first served, each announced as
    `event.registered` like any registration; a capacity below the registered count is refused
    (`EventChangeRefused`).
    """
    events = storage.events(tenant_id)
    registrations = storage.registrations(tenant_id)
    outbox = storage.outbox
    promoted = 0

    async def edit(session: Session) -> None:
        nonlocal promoted
        current = await events.get(event_id, session=session)
        if current is None:
            raise EventNotFound(event_id)
        registered = await registrations.registered_count(event_id, session=session)
        seats = seats_to_promote(
            changes.get("capacity", current.capacity), registered, status=current.status
        )
        if current.version != version or not await events.replace(
            event_id, version, changes, session=session
        ):
            raise StaleVersionError(current.version)
        edited = await events.get(event_id, session=session)
        assert edited is not None
        promotions = await registrations.promote_waitlisted(event_id, seats, session=session)
        for registration in promotions:
            await to_event_registered(outbox, edited, registration, session=session)
        promoted = len(promotions)

    await storage.in_transaction(edit)
    outbox.notify_committed()
    return promoted


async def cancel_event(
    storage: EventsStorage, tenant_id: str, event_id: str, reason: str | None
) -> None:
    """Cancels a published event (final); `EventChangeRefused` if it is not published."""
    event = await existing_event(storage, tenant_id, event_id)
    if not await storage.events(tenant_id).cancel(event_id, reason):
        raise EventChangeRefused(f"the event is {event.status.value} already")


async def delete_event(storage: EventsStorage, tenant_id: str, event_id: str) -> None:
    """Deletes an event nobody registered for; `EventChangeRefused` otherwise (cancel it)."""
    await existing_event(storage, tenant_id, event_id)
    events = storage.events(tenant_id)
    registrations = storage.registrations(tenant_id)

    async def delete(session: Session) -> None:
        # Written first, so a registration under way conflicts with this transaction.
        await events.touch(event_id, session=session)
        if await registrations.any_for(event_id, session=session) or not await events.delete(
            event_id, session=session
        ):
            raise EventChangeRefused(
                "people registered for this event; cancel it instead, which keeps their "
                "registrations and attendance"
            )

    await storage.in_transaction(delete)

"""Use cases of an event's lifecycle: create (as a draft or published), read, edit (promoting
the waitlist when seats open), publish, complete, cancel and delete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_events.application.attendance import settle_outcomes
from crm_events.application.notices import tell_registrants
from crm_events.application.storage import EventsStorage
from crm_events.application.waitlist import promote
from crm_events.domain.models import (
    EventChangeRefused,
    EventNotFound,
    EventStatus,
    RecruitingEvent,
    RegistrationStatus,
    check_capacity,
    check_event_details,
    invitation_changes,
    next_status,
    reminder_plan,
    time_zone,
    times_in_utc,
)
from crm_events.domain.sessions import check_session_edit, with_session_ids
from crm_events.repositories.events import find_event_anywhere
from crm_shared import Session, StaleVersionError, utc_now


@dataclass(frozen=True)
class EventStanding:
    """An event with the number of people registered for it (holding a seat), in all and by
    session (None: registered without one)."""

    event: RecruitingEvent
    registered: int
    seated: dict[str | None, int]


async def _standing(storage: EventsStorage, event: RecruitingEvent) -> EventStanding:
    registrations = storage.registrations(event.tenant_id)
    if not event.sessions:
        registered = await registrations.registered_count(event.id)
        return EventStanding(event, registered, {None: registered})
    seated = await registrations.by_session(event.id, RegistrationStatus.REGISTERED)
    return EventStanding(event, sum(seated.values()), seated)


async def existing_event(storage: EventsStorage, tenant_id: str, event_id: str) -> RecruitingEvent:
    """The tenant's event; `EventNotFound` if it has none."""
    event = await storage.events(tenant_id).get(event_id)
    if event is None:
        raise EventNotFound(event_id)
    return event


async def create_event(
    storage: EventsStorage, tenant_id: str, created_by: str, fields: dict[str, Any]
) -> EventStanding:
    """Creates a recruiting event, a draft or published (open for registration).

    Times without an offset are wall-clock times in the event's time zone; the organisers are
    the creator unless named. `EventDetailsInvalid` for fields that do not fit together.
    """
    zone = time_zone(fields.get("time_zone") or "UTC")
    fields = times_in_utc(fields | _named_sessions(fields), zone)
    if not fields.get("organisers"):
        fields["organisers"] = [created_by]
    event = RecruitingEvent(tenant_id=tenant_id, created_by=created_by, **fields)
    check_event_details(event)
    event = event.model_copy(update=reminder_plan(event, utc_now()))
    await storage.events(tenant_id).add(event)
    return await _standing(storage, event)


def _named_sessions(fields: dict[str, Any]) -> dict[str, Any]:
    """The sessions of a create or edit, each with an id (see `with_session_ids`)."""
    return {"sessions": with_session_ids(fields["sessions"])} if fields.get("sessions") else {}


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
    if event is None or event.status is EventStatus.DRAFT:  # a draft is nobody's business yet
        raise EventNotFound(event_id)
    return await _standing(storage, event)


async def edit_event(
    storage: EventsStorage,
    tenant_id: str,
    event_id: str,
    version: int,
    changes: dict[str, Any],
    *,
    notify_registrants: bool = True,
) -> int:
    """Applies an edit made from `version`; returns how many waitlisted people it registered.
    A published event's registrants are told (`event.invitation_changed`, in the edit's
    transaction) when its time or place changed; with `notify_registrants` False the change
    is still announced (analytics follows the start) but marked not to be mailed.

    A larger capacity (of the event or a session) registers waitlisted people first come first
    served, each announced as `event.registered` like any registration and as
    `event.registration_promoted`; a capacity below the registered count, and removing a
    session somebody registered for, are refused (`EventChangeRefused`). Sessions without an
    id are new ones. Times without an offset are
    wall-clock times in the event's time zone (the new one, if the edit changes it); a new time
    zone alone keeps the instants.
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
        zone = time_zone(changes.get("time_zone") or current.time_zone)
        edit_fields = times_in_utc(changes | _named_sessions(changes), zone)
        # Validated, not copied: the edit's questions and sessions arrive as plain fields.
        edited_event = RecruitingEvent.model_validate(current.model_dump() | edit_fields)
        check_event_details(edited_event)
        # The console sends the sessions with every edit: only a real change counts.
        sessions_changed = edited_event.sessions != current.sessions
        if {"starts_at", "reminders"} & edit_fields.keys() or sessions_changed:
            # Reminders follow the new start: pending again if it moved later, skipped if
            # their time has passed.
            edit_fields |= reminder_plan(edited_event, utc_now())
        seated = await registrations.by_session(
            event_id, RegistrationStatus.REGISTERED, session=session
        )
        check_capacity(
            changes.get("capacity", current.capacity),
            sum(seated.values()),
            current=current.capacity,
            status=current.status,
        )
        if sessions_changed:
            refusal = check_session_edit(
                current.sessions,
                edited_event.sessions,
                seated,
                await registrations.by_session(event_id, session=session),
            )
            if refusal is not None:
                raise EventChangeRefused(refusal)
        if current.version != version or not await events.replace(
            event_id, version, edit_fields, session=session
        ):
            raise StaleVersionError(current.version)
        edited = await events.get(event_id, session=session)
        assert edited is not None
        newly_seated = await promote(storage, edited, "capacity", session=session)
        promoted = len(newly_seated)
        if (
            invitation_changes(current, edited) or sessions_changed
        ) and edited.status is EventStatus.PUBLISHED:
            # The promoted get a confirmation with the new details already.
            await tell_registrants(
                storage,
                current,
                edited,
                session=session,
                excluding={r.id for r in newly_seated},
                notify=notify_registrants,
            )

    await storage.in_transaction(edit)
    outbox.notify_committed()
    return promoted


async def move_event(
    storage: EventsStorage, tenant_id: str, event_id: str, target: EventStatus
) -> None:
    """Publishes a draft, or completes a published event that has started (each registrant
    becomes `event.attended` or `event.no_show`); `EventChangeRefused` for any other move."""
    event = await existing_event(storage, tenant_id, event_id)
    now = utc_now()
    next_status(event, target, now)
    events = storage.events(tenant_id)
    changes = {"completed_at": now} if target is EventStatus.COMPLETED else {}

    async def move(session: Session) -> None:
        if not await events.move(event_id, event.status, target, changes, session=session):
            raise EventChangeRefused("the event changed meanwhile; read it again")
        if target is EventStatus.COMPLETED:
            moved = await events.get(event_id, session=session)
            assert moved is not None
            # In the move's transaction: a completion retried finds the event completed (409)
            # and settles nothing twice.
            await settle_outcomes(
                storage.outbox, storage.registrations(tenant_id), moved, session=session
            )

    await storage.in_transaction(move)
    storage.outbox.notify_committed()


async def cancel_event(
    storage: EventsStorage, tenant_id: str, event_id: str, reason: str | None
) -> None:
    """Cancels a draft or published event (final), telling its registrants in the same
    transaction (`event.invitation_changed`, `cancelled`); `EventChangeRefused` if it is final
    already (cancelled or completed)."""
    event = await existing_event(storage, tenant_id, event_id)
    events = storage.events(tenant_id)

    async def cancel(session: Session) -> None:
        if not await events.cancel(event_id, reason, session=session):
            raise EventChangeRefused(f"the event is {event.status.value}; it cannot be cancelled")
        cancelled = await events.get(event_id, session=session)
        assert cancelled is not None
        await tell_registrants(storage, None, cancelled, session=session)

    await storage.in_transaction(cancel)
    storage.outbox.notify_committed()


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

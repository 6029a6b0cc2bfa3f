"""Promotion from the waitlist: when a seat opens, the longest-waiting person gets it (for an
event with sessions, the longest-waiting person whose session has a seat free)."""

from __future__ import annotations

from typing import Literal

from crm_events.application.storage import EventsStorage
from crm_events.domain.models import (
    EventStatus,
    RecruitingEvent,
    Registration,
    RegistrationStatus,
)
from crm_events.domain.sessions import promotion_order
from crm_events.publishers import to_event_registered, to_event_registration_promoted
from crm_shared import Session


async def promote(
    storage: EventsStorage,
    event: RecruitingEvent,
    reason: Literal["cancellation", "capacity"],
    *,
    session: Session,
) -> list[Registration]:
    """Seats as many waitlisted people as the event (as it is now) and their sessions have
    seats for, longest waiting first, inside `session`'s transaction. A cancelled or completed
    event seats nobody.

    Each is announced twice: as `event.registered` like any registrant (so confirmations and
    sequences follow as for everyone) and as `event.registration_promoted` (so they can be
    told that their place came free).
    """
    if event.status in (EventStatus.CANCELLED, EventStatus.COMPLETED):
        return []
    registrations = storage.registrations(event.tenant_id)
    seated = await registrations.by_session(
        event.id, RegistrationStatus.REGISTERED, session=session
    )
    free = event.capacity - sum(seated.values())
    if free <= 0:
        return []
    # Only the front of each session's queue can move up: at most `free` of each.
    waiting: list[Registration] = []
    queues: list[str | None] = [s.id for s in event.sessions] or [None]
    for session_id in queues:
        waiting += await registrations.waitlist(
            event.id, session_id=session_id, limit=free, session=session
        )
    waiting.sort(key=lambda r: (r.registered_at, r.id))
    chosen = set(
        promotion_order(
            capacity=event.capacity,
            sessions=event.sessions,
            seated=seated,
            waitlisted=[(r.id, r.session_id) for r in waiting],
        )
    )
    promoted = await registrations.promote([r for r in waiting if r.id in chosen], session=session)
    for registration in promoted:
        await to_event_registered(
            storage.outbox, storage.links, event, registration, session=session, promoted=True
        )
        await to_event_registration_promoted(
            storage.outbox, storage.links, event, registration, reason, session=session
        )
    return promoted

"""Promotion from the waitlist: when a seat opens, the longest-waiting person gets it."""

from __future__ import annotations

from typing import Literal

from crm_events.application.storage import EventsStorage
from crm_events.domain.models import RecruitingEvent, Registration
from crm_events.publishers import to_event_registered, to_event_registration_promoted
from crm_shared import Session


async def promote(
    storage: EventsStorage,
    event: RecruitingEvent,
    seats: int,
    reason: Literal["cancellation", "capacity"],
    *,
    session: Session,
) -> list[Registration]:
    """Seats up to `seats` waitlisted people, oldest first, inside `session`'s transaction.

    Each is announced twice: as `event.registered` like any registrant (so confirmations and
    sequences follow as for everyone) and as `event.registration_promoted` (so they can be
    told that their place came free).
    """
    registrations = storage.registrations(event.tenant_id)
    promoted = await registrations.promote_waitlisted(event.id, seats, session=session)
    for registration in promoted:
        await to_event_registered(
            storage.outbox, storage.links, event, registration, session=session
        )
        await to_event_registration_promoted(
            storage.outbox, storage.links, event, registration, reason, session=session
        )
    return promoted

"""Events the events service emits, staged in its outbox inside the write's transaction."""

from __future__ import annotations

from crm_events.domain.models import RecruitingEvent, Registration
from crm_shared import (
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    EventCheckedIn,
    EventRegistered,
    Outbox,
    Session,
)


async def to_event_registered(
    outbox: Outbox, event: RecruitingEvent, registration: Registration, *, session: Session
) -> None:
    """Stages `event.registered`, keyed by the candidate (or the email when nobody matched)."""
    payload = EventRegistered(
        event_id=event.id,
        event_name=event.name,
        registration_id=registration.id,
        candidate_id=registration.candidate_id,
        email=registration.email,
        first_name=registration.first_name,
        last_name=registration.last_name,
        registered_at=registration.registered_at,
    )
    await outbox.stage(
        EVENT_REGISTERED,
        tenant_id=registration.tenant_id,
        subject=registration.candidate_id or registration.email,
        data=payload,
        session=session,
    )


async def to_event_checked_in(
    outbox: Outbox, event: RecruitingEvent, registration: Registration, *, session: Session
) -> None:
    """Stages `event.checked_in` for a registrant or walk-in who attended."""
    assert registration.checked_in_at is not None
    payload = EventCheckedIn(
        event_id=event.id,
        event_name=event.name,
        registration_id=registration.id,
        candidate_id=registration.candidate_id,
        email=registration.email,
        checked_in_at=registration.checked_in_at,
        walk_in=registration.walk_in,
    )
    await outbox.stage(
        EVENT_CHECKED_IN,
        tenant_id=registration.tenant_id,
        subject=registration.candidate_id or registration.email,
        data=payload,
        session=session,
    )

"""Events the events service emits, staged in its outbox inside the write's transaction."""

from __future__ import annotations

from crm_events.domain.models import RecruitingEvent, Registration
from crm_shared import EVENT_REGISTERED, EventRegistered, Outbox, Session


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

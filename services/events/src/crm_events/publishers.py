"""Events the events service emits, staged in its outbox inside the write's transaction."""

from __future__ import annotations

from typing import Literal

from crm_events.application.links import RegistrationLinks
from crm_events.domain.models import RecruitingEvent, Registration
from crm_shared import (
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    EVENT_REGISTRATION_PROMOTED,
    EventCheckedIn,
    EventRegistered,
    EventRegistrationPromoted,
    Outbox,
    Session,
)


async def to_event_registered(
    outbox: Outbox,
    links: RegistrationLinks,
    event: RecruitingEvent,
    registration: Registration,
    *,
    session: Session,
) -> None:
    """Stages `event.registered`, keyed by the candidate (or the email when nobody matched),
    with the registrant's signed links for the confirmation."""
    payload = EventRegistered(
        event_id=event.id,
        event_name=event.name,
        registration_id=registration.id,
        candidate_id=registration.candidate_id,
        email=registration.email,
        first_name=registration.first_name,
        last_name=registration.last_name,
        registered_at=registration.registered_at,
        manage_url=links.manage_url(registration),
        invitation_url=links.invitation_url(registration),
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


async def to_event_registration_promoted(
    outbox: Outbox,
    links: RegistrationLinks,
    event: RecruitingEvent,
    registration: Registration,
    reason: Literal["cancellation", "capacity"],
    *,
    session: Session,
) -> None:
    """Stages `event.registration_promoted` for a waitlisted registrant who got a seat, so
    they can be told (with their links)."""
    assert registration.promoted_at is not None
    payload = EventRegistrationPromoted(
        event_id=event.id,
        event_name=event.name,
        registration_id=registration.id,
        candidate_id=registration.candidate_id,
        email=registration.email,
        first_name=registration.first_name,
        last_name=registration.last_name,
        registered_at=registration.registered_at,
        promoted_at=registration.promoted_at,
        reason=reason,
        manage_url=links.manage_url(registration),
        invitation_url=links.invitation_url(registration),
    )
    await outbox.stage(
        EVENT_REGISTRATION_PROMOTED,
        tenant_id=registration.tenant_id,
        subject=registration.candidate_id or registration.email,
        data=payload,
        session=session,
    )

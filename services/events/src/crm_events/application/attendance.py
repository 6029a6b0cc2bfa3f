"""Announcing attendance: `event.checked_in` once the attendee is a known candidate."""

from __future__ import annotations

from crm_events.domain.models import RecruitingEvent, Registration
from crm_events.publishers import to_event_checked_in
from crm_events.repositories.registrations import RegistrationRepository
from crm_shared import Outbox, Session


async def announce_attendance(
    outbox: Outbox,
    registrations: RegistrationRepository,
    event: RecruitingEvent,
    registration: Registration,
    *,
    session: Session,
) -> None:
    """Stages `event.checked_in` for a checked-in registrant known as a candidate, once.

    An attendee nobody knew yet is announced when the candidates service has created them
    (`know_candidate` links the registration), so the event carries the candidate and can
    enrol them in sequences.
    """
    if registration.candidate_id is None or registration.attendance_published:
        return
    await to_event_checked_in(outbox, event, registration, session=session)
    await registrations.mark_attendance_published(registration.id, session=session)

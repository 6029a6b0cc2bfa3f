"""Announcing attendance: `event.checked_in` once the attendee is a known candidate, and a
completed event's outcomes (`event.attended`, `event.no_show`) once per registration."""

from __future__ import annotations

from crm_events.domain.models import (
    EventStatus,
    Outcome,
    RecruitingEvent,
    Registration,
    registration_outcome,
)
from crm_events.publishers import to_event_checked_in, to_event_outcome
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


async def announce_outcome(
    outbox: Outbox,
    registrations: RegistrationRepository,
    event: RecruitingEvent,
    registration: Registration,
    *,
    session: Session,
) -> None:
    """Stages `event.attended` / `event.no_show` for a settled registration of a known
    candidate, once; a registrant nobody knew yet is announced when the candidates service
    has created them (`know_candidate`), so the topic always names the candidate."""
    if (
        registration.candidate_id is None
        or registration.outcome is None
        or registration.outcome_published
    ):
        return
    await to_event_outcome(outbox, event, registration, session=session)
    await registrations.mark_outcome_published(registration.id, session=session)


async def settle_outcomes(
    outbox: Outbox,
    registrations: RegistrationRepository,
    event: RecruitingEvent,
    *,
    session: Session,
) -> None:
    """A completed event's registrations become attended (checked in) or no-shows (a seat
    held, nobody came), each announced once; the waitlisted and the cancelled get nothing."""
    for registration in await registrations.not_cancelled(event.id, session=session):
        outcome = registration_outcome(registration)
        if outcome is None or registration.outcome is outcome:
            continue
        settled = await registrations.settle(registration.id, outcome, session=session)
        if settled is not None:
            await announce_outcome(outbox, registrations, event, settled, session=session)


async def settle_late_attendance(
    outbox: Outbox,
    registrations: RegistrationRepository,
    event: RecruitingEvent,
    registration: Registration,
    *,
    session: Session,
) -> None:
    """Somebody checked in after their event was completed (a late entry): they attended, so
    `event.attended` follows, even if they had been counted as a no-show."""
    if event.status is not EventStatus.COMPLETED or registration.outcome is Outcome.ATTENDED:
        return
    settled = await registrations.settle(registration.id, Outcome.ATTENDED, session=session)
    if settled is not None:
        await announce_outcome(outbox, registrations, event, settled, session=session)

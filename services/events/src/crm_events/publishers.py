"""Events the events service emits, staged in its outbox inside the write's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from crm_events.adapters.calendar import invitation, invitation_sequence
from crm_events.application.links import RegistrationLinks
from crm_events.domain.models import (
    Outcome,
    RecruitingEvent,
    Registration,
    RegistrationStatus,
    as_attended,
)
from crm_shared import (
    EVENT_ATTENDED,
    EVENT_CHECKED_IN,
    EVENT_INVITATION_CHANGED,
    EVENT_NO_SHOW,
    EVENT_REGISTERED,
    EVENT_REGISTRATION_CANCELLED,
    EVENT_REGISTRATION_PROMOTED,
    EVENT_REMINDER_REQUESTED,
    EVENT_WAITLISTED,
    EventAttended,
    EventCheckedIn,
    EventInvitationChanged,
    EventNoShow,
    EventOutcome,
    EventRegistered,
    EventRegistrationCancelled,
    EventRegistrationPromoted,
    EventReminderRequested,
    EventTimeAndPlace,
    EventWaitlisted,
    Outbox,
    RegistrationAnswer,
    Session,
    TopicSpec,
)


async def to_event_registered(
    outbox: Outbox,
    links: RegistrationLinks,
    event: RecruitingEvent,
    registration: Registration,
    *,
    session: Session,
    at_door: bool = False,
    promoted: bool = False,
) -> None:
    """Stages `event.registered`, keyed by the candidate (or the email when nobody matched),
    with what the confirmation mail needs: the event's time and place, the registrant's signed
    links and the calendar invitation as it is now. `at_door`: registered by checking in (a
    walk-in, or somebody who had cancelled), so nobody mails them a confirmation; `promoted`:
    given a seat that came free, from the waitlist."""
    manage_url, page_url = links.manage_url(registration), links.page_url(registration)
    payload = EventRegistered(
        **_registrant(event, registration),
        registered_at=registration.registered_at,
        manage_url=manage_url,
        manage_page_url=page_url,
        invitation_url=links.invitation_url(registration),
        walk_in=at_door or registration.walk_in,
        promoted=promoted,
        **_time_and_place(event, registration),
        invitation_ics=invitation(event, registration, page_url=page_url).decode(),
        answers=_answers(registration),
        code=registration.code,
        check_in_url=links.check_in_url(registration),
    )
    await _stage_for(outbox, EVENT_REGISTERED, registration, payload, session=session)


async def to_event_waitlisted(
    outbox: Outbox,
    links: RegistrationLinks,
    event: RecruitingEvent,
    registration: Registration,
    *,
    session: Session,
) -> None:
    """Stages `event.waitlisted` for a registrant who joined a full event's waitlist, so they
    can be told their place is not confirmed (no invitation: they have no seat)."""
    time_and_place = _time_and_place(event, registration)
    del time_and_place["join_url"]  # for those with a seat only
    payload = EventWaitlisted(
        **_registrant(event, registration),
        registered_at=registration.registered_at,
        manage_url=links.manage_url(registration),
        manage_page_url=links.page_url(registration),
        **time_and_place,
        answers=_answers(registration),
    )
    await _stage_for(outbox, EVENT_WAITLISTED, registration, payload, session=session)


def _answers(registration: Registration) -> list[RegistrationAnswer]:
    return [
        RegistrationAnswer.model_validate(answer.model_dump(mode="json"))
        for answer in registration.answers
    ]


async def to_event_checked_in(
    outbox: Outbox, event: RecruitingEvent, registration: Registration, *, session: Session
) -> None:
    """Stages `event.checked_in` for a registrant or walk-in who attended."""
    assert registration.checked_in_at is not None
    payload = EventCheckedIn(
        **_attendee(event, registration),
        checked_in_at=registration.checked_in_at,
        walk_in=registration.walk_in,
    )
    await _stage_for(outbox, EVENT_CHECKED_IN, registration, payload, session=session)


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
        **_registrant(event, registration),
        registered_at=registration.registered_at,
        promoted_at=registration.promoted_at,
        reason=reason,
        manage_url=links.manage_url(registration),
        manage_page_url=links.page_url(registration),
        invitation_url=links.invitation_url(registration),
    )
    await _stage_for(outbox, EVENT_REGISTRATION_PROMOTED, registration, payload, session=session)


async def to_event_registration_cancelled(
    outbox: Outbox,
    event: RecruitingEvent,
    registration: Registration,
    held: Literal["seat", "waitlist"],
    *,
    session: Session,
) -> None:
    """Stages `event.registration_cancelled` for a registration just cancelled, saying whether
    it held a seat or a place on the waitlist (analytics counts both apart)."""
    assert registration.cancelled_at is not None
    payload = EventRegistrationCancelled(
        **_attendee(event, registration), cancelled_at=registration.cancelled_at, held=held
    )
    await _stage_for(outbox, EVENT_REGISTRATION_CANCELLED, registration, payload, session=session)


async def to_event_invitation_changed(
    outbox: Outbox,
    links: RegistrationLinks,
    event: RecruitingEvent,
    registration: Registration,
    changed_fields: list[str],
    *,
    session: Session,
    before: RecruitingEvent | None = None,
    notify: bool = True,
) -> None:
    """Stages `event.invitation_changed` for one registrant of an event that moved or was
    cancelled, with the new copy of their invitation (same UID, higher SEQUENCE); `before`:
    the event before an edit, so the notice can say what changed, old against new; `notify`
    False: announced for the record, not mailed."""
    manage_url, page_url = links.manage_url(registration), links.page_url(registration)
    cancelled = event.cancelled_at is not None
    previous = None
    if before is not None and not cancelled:
        was = _time_and_place(before, registration)
        del was["time_zone"]  # the notice shows both in the event's zone as it is now
        previous = EventTimeAndPlace(**was)
    payload = EventInvitationChanged(
        **_registrant(event, registration),
        change="cancelled" if cancelled else "updated",
        changed_fields=changed_fields,
        previous=previous,
        waitlisted=registration.status is RegistrationStatus.WAITLISTED,
        **_time_and_place(event, registration),
        cancellation_reason=event.cancellation_reason,
        sequence=invitation_sequence(event, registration),
        invitation_ics=invitation(event, registration, page_url=page_url).decode(),
        manage_url=manage_url,
        manage_page_url=page_url,
        invitation_url=links.invitation_url(registration),
        occurred_at=_latest(event.cancelled_at, event.updated_at, event.created_at),
        notify_registrant=notify,
    )
    await _stage_for(outbox, EVENT_INVITATION_CHANGED, registration, payload, session=session)


async def to_event_outcome(
    outbox: Outbox, event: RecruitingEvent, registration: Registration, *, session: Session
) -> None:
    """Stages `event.attended` or `event.no_show` for a registrant of a completed event, who
    is a known candidate."""
    assert registration.candidate_id is not None
    assert registration.outcome is not None
    common: dict[str, Any] = {
        **_attendee(event, registration),
        "tenant_id": registration.tenant_id,
        "occurred_at": event.completed_at or event.updated_at or event.starts_at,
    }
    payload: EventOutcome
    if registration.outcome is Outcome.ATTENDED:
        assert registration.checked_in_at is not None
        payload = EventAttended(
            **common, checked_in_at=registration.checked_in_at, walk_in=registration.walk_in
        )
        spec = EVENT_ATTENDED
    else:
        payload = EventNoShow(**common)
        spec = EVENT_NO_SHOW
    await _stage_for(outbox, spec, registration, payload, session=session)


async def to_event_reminder_requested(
    outbox: Outbox,
    links: RegistrationLinks,
    event: RecruitingEvent,
    registration: Registration,
    minutes_before: int,
    *,
    session: Session,
) -> None:
    """Stages `event.reminder_requested` for one registrant, with the invitation as it is."""
    manage_url, page_url = links.manage_url(registration), links.page_url(registration)
    payload = EventReminderRequested(
        **_registrant(event, registration),
        minutes_before=minutes_before,
        **_time_and_place(event, registration),
        manage_url=manage_url,
        manage_page_url=page_url,
        invitation_url=links.invitation_url(registration),
        invitation_ics=invitation(event, registration, page_url=page_url).decode(),
        sequence=invitation_sequence(event, registration),
    )
    await _stage_for(outbox, EVENT_REMINDER_REQUESTED, registration, payload, session=session)


def _latest(*moments: datetime | None) -> datetime:
    return max(moment for moment in moments if moment is not None)


async def _stage_for(
    outbox: Outbox,
    spec: TopicSpec,
    registration: Registration,
    payload: BaseModel,
    *,
    session: Session,
) -> None:
    """Stages `payload` on `spec` for one registrant, keyed by their candidate (or their
    address while nobody matched them), so one person's events stay in order."""
    await outbox.stage(
        spec,
        tenant_id=registration.tenant_id,
        subject=registration.candidate_id or registration.email,
        data=payload,
        session=session,
    )


def _attendee(event: RecruitingEvent, registration: Registration) -> dict[str, Any]:
    """Who registered for which event (and session): the fields every registrant topic
    starts with."""
    session = event.session(registration.session_id)
    return {
        "event_id": event.id,
        "event_name": event.name,
        "registration_id": registration.id,
        "candidate_id": registration.candidate_id,
        "email": registration.email,
        "session_id": session.id if session else None,
        "session_name": session.name if session else None,
        # A payload's `starts_at` is the registrant's session's: the event's own beside it.
        "event_starts_at": event.starts_at,
    }


def _registrant(event: RecruitingEvent, registration: Registration) -> dict[str, Any]:
    """`_attendee` and the name a mail to them greets."""
    return {
        **_attendee(event, registration),
        "first_name": registration.first_name,
        "last_name": registration.last_name,
    }


def _time_and_place(event: RecruitingEvent, registration: Registration) -> dict[str, Any]:
    """When (their session's time, if they chose one) and where the event is, as a mail to
    the registrant states it."""
    event = as_attended(event, registration)
    return {
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "time_zone": event.time_zone,
        "location": event.location,
        "join_url": event.join_url,
    }

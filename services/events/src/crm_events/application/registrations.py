"""Use cases of registration: the public registers, the door checks people in and captures
walk-ins, recruiters see who registered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_events.application.attendance import announce_attendance, settle_late_attendance
from crm_events.application.lifecycle import existing_event
from crm_events.application.storage import EventsStorage
from crm_events.domain.models import (
    EventCancelled,
    EventNotFound,
    EventStatus,
    RecruitingEvent,
    Registration,
    RegistrationNotFound,
    RegistrationRefusal,
    RegistrationRefused,
    RegistrationStatus,
    check_admissible,
    registration_refusal,
    registration_status,
)
from crm_events.domain.questions import answers_to
from crm_events.domain.sessions import chosen_session
from crm_events.publishers import to_event_registered, to_event_waitlisted
from crm_events.repositories.events import find_event_anywhere
from crm_events.repositories.registrations import (
    DuplicateRegistrationError,
    RegistrationRepository,
)
from crm_shared import Session, normalise_email, utc_now


@dataclass(frozen=True)
class Registrant:
    """The person a registration or walk-in names."""

    email: str
    first_name: str
    last_name: str
    # Answers to the event's questions by question id, as the form or API gave them.
    answers: dict[str, Any] = field(default_factory=dict)
    # The session (time slot) they chose, for an event with sessions.
    session_id: str | None = None


@dataclass(frozen=True)
class Recorded:
    """A registration and whether this request created it (False: it existed already)."""

    registration: Registration
    created: bool


class _Closed(Exception):
    """The event stopped taking registrations while one was being stored."""


async def _status(
    registrations: RegistrationRepository,
    event: RecruitingEvent,
    session_id: str | None,
    *,
    session: Session,
) -> RegistrationStatus:
    """A new registrant's status at `event` as it is now, in the session they chose (which
    must still be one of its sessions, not over: `SessionChoiceInvalid`)."""
    chosen = chosen_session(event.sessions, session_id, utc_now())
    registered = await registrations.registered_count(event.id, session=session)
    in_session = (
        await registrations.registered_count(event.id, session_id=chosen.id, session=session)
        if chosen is not None
        else 0
    )
    return registration_status(event.capacity, registered, chosen, in_session)


def _check_open(event: RecruitingEvent) -> None:
    """Raises `RegistrationRefused` unless `event` takes registrations now."""
    refusal = registration_refusal(event, utc_now())
    if refusal is RegistrationRefusal.CANCELLED:
        raise EventCancelled(event)
    if refusal is not None:
        raise RegistrationRefused(event, refusal)


async def registrations_for(
    storage: EventsStorage, tenant_id: str, event_id: str, *, after: str | None = None, limit: int
) -> list[Registration]:
    """One page of who registered for an event, in the order they registered: the first
    `limit` after the registration `after`."""
    await existing_event(storage, tenant_id, event_id)
    return await storage.registrations(tenant_id).of_event(event_id, after=after, limit=limit)


async def check_in(
    storage: EventsStorage, tenant_id: str, event_id: str, registration_id: str
) -> Registration:
    """Marks a registrant as attended; checking in again changes nothing. `event.checked_in`
    goes out once the attendee is a known candidate: now, or when the candidates service has
    created them from their registration. A cancelled registration is refused
    (`CheckInRefused`): letting that person in is a walk-in (`walk_in`), the door's explicit
    choice."""
    return await _check_in(storage, tenant_id, event_id, registration_id, readmit=False)


async def _check_in(
    storage: EventsStorage, tenant_id: str, event_id: str, registration_id: str, *, readmit: bool
) -> Registration:
    """Checks a registration in now; `readmit`: somebody who had cancelled is registered
    again first, otherwise refused."""
    event = await existing_event(storage, tenant_id, event_id)
    registration = await storage.registrations(tenant_id).registration(event_id, registration_id)
    if registration is None:
        raise RegistrationNotFound(event_id, registration_id)
    if not readmit:
        check_admissible(event, registration)
    [(attended, _)] = await admit_all(storage, event, [(registration, utc_now())], readmit=readmit)
    return attended


async def admit_all(
    storage: EventsStorage,
    event: RecruitingEvent,
    arrivals: list[tuple[Registration, datetime]],
    *,
    readmit: bool = True,
) -> list[tuple[Registration, bool]]:
    """Checks each registration in as of its time (now at the live door, the door's time for
    an offline upload), once, in one transaction: its `event.checked_in` (and, for a completed
    event, its `event.attended`) is staged with it, and a check-in that lost the race to
    another (or came twice in `arrivals`) changes nothing. Somebody who had cancelled is
    registered again first when `readmit` (a walk-in, an offline door), refused
    (`CheckInRefused`) otherwise, even when they cancelled a moment ago. Per arrival, the
    registration as it is now and whether this call checked it in."""
    registrations = storage.registrations(event.tenant_id)
    outbox = storage.outbox
    newly = [False] * len(arrivals)

    async def record(session: Session) -> None:
        for index, (registration, at) in enumerate(arrivals):
            newly[index] = await _admit_one(
                storage, event, registration, at, readmit=readmit, session=session
            )

    if any(registration.checked_in_at is None for registration, _ in arrivals):
        await storage.in_transaction(record)
        outbox.notify_committed()
    current = await registrations.by_ids(event.id, [r.id for r, _ in arrivals])
    return [
        (current.get(registration.id, registration), newly[index])
        for index, (registration, _) in enumerate(arrivals)
    ]


async def _admit_one(
    storage: EventsStorage,
    event: RecruitingEvent,
    registration: Registration,
    at: datetime,
    *,
    readmit: bool,
    session: Session,
) -> bool:
    """One check-in of `admit_all`, inside its transaction; whether it checked them in."""
    if registration.checked_in_at is not None:
        return False
    registrations = storage.registrations(event.tenant_id)
    outbox = storage.outbox
    if not readmit:
        # Read again in the transaction: a cancellation committed since the registration was
        # read is seen (or, if it commits meanwhile, one of the two writes is retried).
        latest = await registrations.registration(event.id, registration.id, session=session)
        registration = latest or registration
        check_admissible(event, registration)
    if registration.status is RegistrationStatus.CANCELLED:
        # They cancelled but came after all, and the door let them in: a seat again.
        reopened = await registrations.reopen(
            registration.id,
            RegistrationStatus.REGISTERED,
            at,
            first_name=registration.first_name,
            last_name=registration.last_name,
            session_id=registration.session_id,
            session=session,
        )
        if reopened is not None:
            await to_event_registered(
                outbox, storage.links, event, reopened, session=session, at_door=True
            )
    checked_in = await registrations.check_in(registration, at, session=session)
    if checked_in is None:
        return False
    await announce_attendance(outbox, registrations, event, checked_in, session=session)
    await settle_late_attendance(outbox, registrations, event, checked_in, session=session)
    return True


async def walk_in(
    storage: EventsStorage, tenant_id: str, event_id: str, person: Registrant
) -> Recorded:
    """Captures somebody at the door: a registration that is checked in at once. It is
    published as `event.registered` (so an unknown person becomes a candidate) and, once the
    person is a known candidate, `event.checked_in`. Somebody who had registered is simply
    checked in (`created` is False), one who had cancelled registered again first (the door
    let them in). A cancelled event takes no walk-ins (`EventCancelled`);
    a draft's or a completed event's door still does (a rehearsal, a late entry)."""
    event = await existing_event(storage, tenant_id, event_id)
    if event.status is EventStatus.CANCELLED:
        raise EventCancelled(event)
    registrations = storage.registrations(event.tenant_id)
    directory = storage.directory(event.tenant_id)
    outbox = storage.outbox
    email = normalise_email(person.email)
    existing = await registrations.registration_of(event.id, email)
    if existing is not None:
        # Somebody who had cancelled is registered again: the door lets them in as a walk-in.
        checked_in = await _check_in(storage, tenant_id, event_id, existing.id, readmit=True)
        return Recorded(checked_in, created=False)
    now = utc_now()
    registration = Registration(
        tenant_id=event.tenant_id,
        event_id=event.id,
        email=email,
        first_name=person.first_name,
        last_name=person.last_name,
        status=RegistrationStatus.REGISTERED,  # they are there: capacity no longer matters
        registered_at=now,
        checked_in_at=now,
        walk_in=True,
    )

    async def store(session: Session) -> None:
        nonlocal registration
        registration = registration.model_copy(
            update={"candidate_id": await directory.candidate_for_update(email, session=session)}
        )
        await registrations.register(registration, session=session)
        await to_event_registered(outbox, storage.links, event, registration, session=session)
        await announce_attendance(outbox, registrations, event, registration, session=session)
        await settle_late_attendance(outbox, registrations, event, registration, session=session)

    try:
        await storage.in_transaction(store)
    except _Closed:
        raise EventCancelled(event) from None
    except DuplicateRegistrationError:
        # Registered (or captured by a colleague) at this very moment: check that one in.
        raced = await registrations.registration_of(event.id, email)
        if raced is None:  # pragma: no cover - the unique index just said it exists
            raise
        checked_in = await _check_in(storage, tenant_id, event_id, raced.id, readmit=True)
        return Recorded(checked_in, created=False)
    outbox.notify_committed()
    return Recorded(registration, created=True)


async def register(storage: EventsStorage, event_id: str, person: Registrant) -> Recorded:
    """Registers somebody for an event, waitlisted when it is full; registering again returns
    the first registration (`created` is False). The event decides the tenant.

    `RegistrationRefused` (its `refusal` says why) for a draft, a cancelled or completed event,
    one that took place, and outside the registration window; a draft is `EventNotFound` to
    whoever does not know its id; `AnswerInvalid` for answers that do not fit the event's
    questions; `SessionChoiceInvalid` for a session missing (the event has sessions), unknown
    or over. A repeat registration keeps the first one's answers and session.
    """
    event = await find_event_anywhere(storage.database, event_id)
    if event is None:
        raise EventNotFound(event_id)
    _check_open(event)
    chosen_session(event.sessions, person.session_id, utc_now())
    answers = answers_to(event.questions, person.answers)
    events = storage.events(event.tenant_id)
    registrations = storage.registrations(event.tenant_id)
    directory = storage.directory(event.tenant_id)
    email = normalise_email(person.email)
    outbox = storage.outbox
    registration: Registration | None = None

    async def store(session: Session) -> None:
        nonlocal registration
        if not await events.hold_open(event.id, session=session):
            raise _Closed
        current = await events.get(event.id, session=session) or event
        _check_open(current)  # edited meanwhile: a window closed, the start moved
        registration = Registration(
            tenant_id=event.tenant_id,
            event_id=event.id,
            email=email,
            first_name=person.first_name,
            last_name=person.last_name,
            candidate_id=await directory.candidate_for_update(email, session=session),
            status=await _status(registrations, current, person.session_id, session=session),
            answers=answers,
            session_id=person.session_id,
        )
        await registrations.register(registration, session=session)
        await _announce(storage, current, registration, session=session)

    try:
        async with storage.seat_locks.holding(event.id):
            await storage.in_transaction(store)
    except _Closed:
        # Cancelled or completed (or deleted) since it was read: say which.
        latest = await events.get(event.id)
        refusal = registration_refusal(latest, utc_now()) if latest else None
        raise RegistrationRefused(
            latest or event, refusal or RegistrationRefusal.CANCELLED
        ) from None
    except DuplicateRegistrationError:
        existing = await registrations.registration_of(event.id, email)
        if existing is None:  # pragma: no cover - the unique index just said it exists
            raise
        if existing.status is RegistrationStatus.CANCELLED:
            return await _reopen(storage, event, existing, person)
        return Recorded(existing, created=False)
    outbox.notify_committed()
    assert registration is not None
    return Recorded(registration, created=True)


async def _announce(
    storage: EventsStorage,
    event: RecruitingEvent,
    registration: Registration,
    *,
    session: Session,
) -> None:
    """Stages what a new (or renewed) registration tells: `event.registered` for a seat,
    `event.waitlisted` for a place in the queue."""
    if registration.status is RegistrationStatus.REGISTERED:
        await to_event_registered(
            storage.outbox, storage.links, event, registration, session=session
        )
    elif registration.status is RegistrationStatus.WAITLISTED:
        await to_event_waitlisted(
            storage.outbox, storage.links, event, registration, session=session
        )


async def _reopen(
    storage: EventsStorage, event: RecruitingEvent, cancelled: Registration, person: Registrant
) -> Recorded:
    """Somebody who cancelled registers again: the same registration comes back, at the end
    of the queue (registered if a seat is free, else waitlisted behind those already there),
    in the session they chose this time."""
    events = storage.events(event.tenant_id)
    registrations = storage.registrations(event.tenant_id)
    reopened: Registration | None = None

    async def store(session: Session) -> None:
        nonlocal reopened
        if not await events.hold_open(event.id, session=session):
            raise _Closed
        current = await events.get(event.id, session=session) or event
        _check_open(current)
        reopened = await registrations.reopen(
            cancelled.id,
            await _status(registrations, current, person.session_id, session=session),
            utc_now(),
            first_name=person.first_name,
            last_name=person.last_name,
            session_id=person.session_id,
            session=session,
        )
        if reopened is None:  # registered again by a request at the same moment
            reopened = await registrations.registration(event.id, cancelled.id, session=session)
        else:
            await _announce(storage, current, reopened, session=session)

    try:
        async with storage.seat_locks.holding(event.id):
            await storage.in_transaction(store)
    except _Closed:
        latest = await events.get(event.id)
        refusal = registration_refusal(latest, utc_now()) if latest else None
        raise RegistrationRefused(
            latest or event, refusal or RegistrationRefusal.CANCELLED
        ) from None
    storage.outbox.notify_committed()
    assert reopened is not None
    return Recorded(reopened, created=True)

"""Routes of the events API: recruiters manage events; the public registers."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from crm_events.api.schemas import (
    EventCreate,
    EventPublic,
    RegistrationCreate,
    RegistrationDetail,
    RegistrationPublic,
    WalkInCreate,
)
from crm_events.domain.models import RecruitingEvent, Registration, RegistrationStatus
from crm_events.publishers import announce_attendance, to_event_registered
from crm_events.repository import (
    DuplicateRegistrationError,
    EventRepository,
    EventsRepo,
    find_event_anywhere,
)
from crm_shared import (
    CandidateDirectory,
    CurrentPrincipal,
    Platform,
    ProblemError,
    Session,
    in_transaction,
    normalise_email,
    require_roles,
    utc_now,
)

router = APIRouter(prefix="/events", tags=["events"])
public_router = APIRouter(prefix="/public/events", tags=["public"])


def _not_found(event_id: str) -> ProblemError:
    return ProblemError(404, f"no event {event_id}", problem_type="not-found")


async def _public(event: RecruitingEvent, events: EventRepository) -> EventPublic:
    return EventPublic.model_validate(
        event.model_dump() | {"registered": await events.registered_count(event.id)}
    )


@router.post("", status_code=201, response_model=EventPublic)
async def create_event(
    body: EventCreate,
    principal: CurrentPrincipal,
    events: EventsRepo,
    request: Request,
    response: Response,
) -> EventPublic:
    """Creates a recruiting event that people can register for."""
    event = RecruitingEvent(
        tenant_id=principal.tenant_id, created_by=principal.user_id, **body.model_dump()
    )
    await events.add(event)
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{event.id}"
    return await _public(event, events)


@router.get("", response_model=list[EventPublic])
async def list_events(events: EventsRepo) -> list[EventPublic]:
    """The caller's tenant's events, soonest first."""
    return [await _public(event, events) for event in await events.all()]


@router.get("/{event_id}", response_model=EventPublic)
async def get_event(event_id: str, events: EventsRepo) -> EventPublic:
    """One event with its registration count."""
    event = await events.get(event_id)
    if event is None:
        raise _not_found(event_id)
    return await _public(event, events)


@router.get("/{event_id}/registrations", response_model=list[RegistrationDetail])
async def event_registrations(event_id: str, events: EventsRepo) -> list[RegistrationDetail]:
    """Who registered for an event (first 5000)."""
    if await events.get(event_id) is None:
        raise _not_found(event_id)
    return [
        RegistrationDetail.model_validate(r.model_dump())
        for r in await events.registrations(event_id)
    ]


# People who run events at the door; viewers only look.
EVENT_STAFF = require_roles("admin", "recruiter", "coordinator")


@router.post(
    "/{event_id}/registrations/{registration_id}/check-in",
    response_model=RegistrationDetail,
    dependencies=[EVENT_STAFF],
)
async def check_in(
    event_id: str, registration_id: str, events: EventsRepo, request: Request
) -> RegistrationDetail:
    """Marks a registrant as attended; checking in again changes nothing. `event.checked_in`
    goes out once the attendee is a known candidate: now, or when the candidates service has
    created them from their registration."""
    event = await events.get(event_id)
    if event is None:
        raise _not_found(event_id)
    registration = await events.registration(event_id, registration_id)
    if registration is None:
        raise ProblemError(
            404, f"no registration {registration_id} for event {event_id}", problem_type="not-found"
        )
    platform: Platform = request.app.state.platform
    outbox = platform.require_outbox()
    attended = registration

    async def record(session: Session) -> None:
        nonlocal attended
        checked_in = await events.check_in(registration, utc_now(), session=session)
        if checked_in is not None:
            attended = checked_in
            await announce_attendance(outbox, events, event, checked_in, session=session)

    if registration.checked_in_at is None:
        await in_transaction(platform.require_mongo(), record)
        outbox.notify_committed()
        attended = await events.registration(event_id, registration_id) or attended
    return RegistrationDetail.model_validate(attended.model_dump())


@router.post(
    "/{event_id}/walk-ins",
    status_code=201,
    response_model=RegistrationDetail,
    dependencies=[EVENT_STAFF],
)
async def walk_in(
    event_id: str, body: WalkInCreate, events: EventsRepo, request: Request, response: Response
) -> RegistrationDetail:
    """Captures somebody at the door: a registration that is checked in at once. It is
    published as `event.registered` (so an unknown person becomes a candidate) and, once the
    person is a known candidate, `event.checked_in`. Somebody who had registered is simply
    checked in (200)."""
    event = await events.get(event_id)
    if event is None:
        raise _not_found(event_id)
    platform: Platform = request.app.state.platform
    database = platform.require_database()
    outbox = platform.require_outbox()
    directory = CandidateDirectory(database, event.tenant_id)
    email = normalise_email(str(body.email))
    existing = await events.registration_of(event.id, email)
    if existing is not None:
        response.status_code = 200
        return await check_in(event_id, existing.id, events, request)
    now = utc_now()
    registration = Registration(
        tenant_id=event.tenant_id,
        event_id=event.id,
        email=email,
        first_name=body.first_name,
        last_name=body.last_name,
        status=RegistrationStatus.REGISTERED,  # they are there: capacity no longer matters
        registered_at=now,
        checked_in_at=now,
        walk_in=True,
    )

    async def store(session: Session) -> None:
        nonlocal registration
        registration = registration.model_copy(
            update={"candidate_id": await directory.candidate_for(email, session=session)}
        )
        await events.register(registration, session=session)
        await to_event_registered(outbox, event, registration, session=session)
        await announce_attendance(outbox, events, event, registration, session=session)

    try:
        await in_transaction(platform.require_mongo(), store)
    except DuplicateRegistrationError:
        # Registered (or captured by a colleague) at this very moment: check that one in.
        raced = await events.registration_of(event.id, email)
        if raced is None:  # pragma: no cover - the unique index just said it exists
            raise
        response.status_code = 200
        return await check_in(event_id, raced.id, events, request)
    outbox.notify_committed()
    return RegistrationDetail.model_validate(registration.model_dump())


@public_router.post("/{event_id}/registrations", status_code=201, response_model=RegistrationPublic)
async def register(
    event_id: str, body: RegistrationCreate, request: Request, response: Response
) -> RegistrationPublic:
    """Registers somebody for an event; registering again returns the first registration."""
    platform: Platform = request.app.state.platform
    database = platform.require_database()
    event = await find_event_anywhere(database, event_id)
    if event is None:
        raise _not_found(event_id)
    events = EventRepository(database, event.tenant_id)
    directory = CandidateDirectory(database, event.tenant_id)
    email = normalise_email(str(body.email))
    outbox = platform.require_outbox()
    registration: Registration | None = None

    async def store(session: Session) -> None:
        nonlocal registration
        full = await events.registered_count(event.id, session=session) >= event.capacity
        registration = Registration(
            tenant_id=event.tenant_id,
            event_id=event.id,
            email=email,
            first_name=body.first_name,
            last_name=body.last_name,
            candidate_id=await directory.candidate_for(email, session=session),
            status=RegistrationStatus.WAITLISTED if full else RegistrationStatus.REGISTERED,
        )
        await events.register(registration, session=session)
        if registration.status is RegistrationStatus.REGISTERED:
            await to_event_registered(outbox, event, registration, session=session)

    try:
        await in_transaction(platform.require_mongo(), store)
    except DuplicateRegistrationError:
        existing = await events.registration_of(event.id, email)
        if existing is None:  # pragma: no cover - the unique index just said it exists
            raise
        response.status_code = 200
        return RegistrationPublic.model_validate(existing.model_dump())
    outbox.notify_committed()
    assert registration is not None
    return RegistrationPublic.model_validate(registration.model_dump())

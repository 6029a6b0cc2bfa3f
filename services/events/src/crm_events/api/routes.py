"""Routes of the events API: recruiters manage events; the public registers."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from crm_events.api.schemas import (
    EventCancellation,
    EventCreate,
    EventPublic,
    EventUpdate,
    RegistrationCreate,
    RegistrationDetail,
    RegistrationPublic,
    WalkInCreate,
)
from crm_events.domain.models import (
    EventChangeRefused,
    EventStatus,
    RecruitingEvent,
    Registration,
    RegistrationStatus,
)
from crm_events.lifecycle import delete_event, edit_event
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
    IfMatch,
    Platform,
    ProblemError,
    Session,
    StaleVersionError,
    etag_for,
    in_transaction,
    normalise_email,
    problem_responses,
    require_roles,
    required_version,
    stale_version,
    utc_now,
)

router = APIRouter(prefix="/events", tags=["events"])
public_router = APIRouter(prefix="/public/events", tags=["public"])

# People who run events (and the door); viewers only look.
EVENT_STAFF = require_roles("admin", "recruiter", "coordinator")


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
async def get_event(event_id: str, events: EventsRepo, response: Response) -> EventPublic:
    """One event with its registration count, and its version as `ETag`."""
    event = await _event(events, event_id)
    response.headers["ETag"] = etag_for(event.version)
    return await _public(event, events)


async def _event(events: EventRepository, event_id: str) -> RecruitingEvent:
    event = await events.get(event_id)
    if event is None:
        raise _not_found(event_id)
    return event


def _refused(error: EventChangeRefused) -> ProblemError:
    return ProblemError(409, str(error), problem_type="conflict")


@router.patch(
    "/{event_id}",
    response_model=EventPublic,
    dependencies=[EVENT_STAFF],
    responses=problem_responses(409),
)
async def update_event(
    event_id: str,
    body: EventUpdate,
    events: EventsRepo,
    request: Request,
    response: Response,
    if_match: IfMatch = None,
) -> EventPublic:
    """Edits a published event, made from the version `If-Match` names (428 without it, 412 if
    it changed meanwhile). A larger capacity registers waitlisted people, first come first
    served; a capacity below the people registered is a 409, and so is any edit of a cancelled
    event."""
    version = required_version(if_match)
    event = await _event(events, event_id)
    changes = body.model_dump(exclude_unset=True)
    if any(
        changes.get(field) is None
        for field in ("name", "kind", "starts_at", "capacity")
        if field in changes
    ):
        raise ProblemError(
            422,
            "name, kind, starts_at and capacity cannot be null",
            problem_type="validation-error",
        )
    platform: Platform = request.app.state.platform
    try:
        await edit_event(
            platform.require_mongo(), platform.require_outbox(), events, event, version, changes
        )
    except StaleVersionError as stale:
        raise stale_version("event", event_id, stale.current, version) from None
    except EventChangeRefused as refused:
        raise _refused(refused) from None
    return await get_event(event_id, events, response)


@router.post(
    "/{event_id}/cancel",
    response_model=EventPublic,
    dependencies=[EVENT_STAFF],
    responses=problem_responses(409),
)
async def cancel_event(
    event_id: str, body: EventCancellation, events: EventsRepo, response: Response
) -> EventPublic:
    """Cancels an event (final): registration closes (409), and registrations and attendance
    are kept. 409 if it was cancelled already. Registrants are not told automatically yet."""
    event = await _event(events, event_id)
    if not await events.cancel(event_id, body.reason):
        raise _refused(EventChangeRefused(f"the event is {event.status.value} already"))
    return await get_event(event_id, events, response)


@router.delete(
    "/{event_id}", status_code=204, dependencies=[EVENT_STAFF], responses=problem_responses(409)
)
async def remove_event(event_id: str, events: EventsRepo, request: Request) -> Response:
    """Deletes an event nobody registered for (a mistake, a duplicate); one with registrations
    is a 409: cancel it instead, which keeps who registered and attended."""
    await _event(events, event_id)
    platform: Platform = request.app.state.platform
    try:
        await delete_event(platform.require_mongo(), events, event_id)
    except EventChangeRefused as refused:
        raise _refused(refused) from None
    return Response(status_code=204)


@router.get("/{event_id}/registrations", response_model=list[RegistrationDetail])
async def event_registrations(event_id: str, events: EventsRepo) -> list[RegistrationDetail]:
    """Who registered for an event (first 5000)."""
    if await events.get(event_id) is None:
        raise _not_found(event_id)
    return [
        RegistrationDetail.model_validate(r.model_dump())
        for r in await events.registrations(event_id)
    ]


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
    responses={
        200: {
            "model": RegistrationDetail,
            "description": "The person had registered: now checked in.",
        },
        **problem_responses(409),
    },
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
    except _Closed:
        raise _cancelled(event) from None
    except DuplicateRegistrationError:
        # Registered (or captured by a colleague) at this very moment: check that one in.
        raced = await events.registration_of(event.id, email)
        if raced is None:  # pragma: no cover - the unique index just said it exists
            raise
        response.status_code = 200
        return await check_in(event_id, raced.id, events, request)
    outbox.notify_committed()
    return RegistrationDetail.model_validate(registration.model_dump())


class _Closed(Exception):
    """The event stopped taking registrations while one was being stored."""


def _cancelled(event: RecruitingEvent) -> ProblemError:
    return ProblemError(
        409, f"the event {event.name!r} was cancelled", problem_type="event-cancelled"
    )


@public_router.post(
    "/{event_id}/registrations",
    status_code=201,
    response_model=RegistrationPublic,
    responses={
        200: {
            "model": RegistrationPublic,
            "description": "The address was registered already: its registration.",
        },
        **problem_responses(409),
    },
)
async def register(
    event_id: str, body: RegistrationCreate, request: Request, response: Response
) -> RegistrationPublic:
    """Registers somebody for an event; registering again returns the first registration."""
    platform: Platform = request.app.state.platform
    database = platform.require_database()
    event = await find_event_anywhere(database, event_id)
    if event is None:
        raise _not_found(event_id)
    if event.status is EventStatus.CANCELLED:
        raise _cancelled(event)
    events = EventRepository(database, event.tenant_id)
    directory = CandidateDirectory(database, event.tenant_id)
    email = normalise_email(str(body.email))
    outbox = platform.require_outbox()
    registration: Registration | None = None

    async def store(session: Session) -> None:
        nonlocal registration
        if not await events.hold_open(event.id, session=session):
            raise _Closed
        current = await events.get(event.id, session=session)
        capacity = current.capacity if current else event.capacity
        full = await events.registered_count(event.id, session=session) >= capacity
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
    except _Closed:
        raise _cancelled(event) from None
    except DuplicateRegistrationError:
        existing = await events.registration_of(event.id, email)
        if existing is None:  # pragma: no cover - the unique index just said it exists
            raise
        response.status_code = 200
        return RegistrationPublic.model_validate(existing.model_dump())
    outbox.notify_committed()
    assert registration is not None
    return RegistrationPublic.model_validate(registration.model_dump())

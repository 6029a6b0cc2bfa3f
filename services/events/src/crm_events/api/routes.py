"""Routes of the events API: recruiters manage events; the public registers."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from crm_events.api.schemas import (
    EventCreate,
    EventPublic,
    RegistrationCreate,
    RegistrationDetail,
    RegistrationPublic,
)
from crm_events.domain.models import RecruitingEvent, Registration, RegistrationStatus
from crm_events.publishers import to_event_registered
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

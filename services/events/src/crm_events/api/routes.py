"""Routes of the events API: event coordinators manage events; the public registers."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from crm_events.api.deps import Storage
from crm_events.api.registration_links import CALENDAR_RESPONSE, calendar_file, cancel_refused
from crm_events.api.schemas import (
    DoorCheckInReport,
    DoorCheckInResultPublic,
    DoorCheckInUpload,
    EventCancellation,
    EventCreate,
    EventListing,
    EventPublic,
    EventUpdate,
    PersonCreate,
    RegistrationCreate,
    RegistrationDetail,
    RegistrationPublic,
    WalkInCreate,
)
from crm_events.application import (
    cancellations,
    door_uploads,
    embedding,
    invitations,
    lifecycle,
    registrations,
)
from crm_events.application.door_uploads import DoorCheckIn, DoorTimesRefused
from crm_events.application.lifecycle import EventStanding
from crm_events.application.registrations import Registrant
from crm_events.domain.models import (
    CheckInRefused,
    DoorCheckInOutcome,
    EventChangeRefused,
    EventDetailsInvalid,
    EventNotFound,
    EventStatus,
    RecruitingEvent,
    Registration,
    RegistrationCancelRefused,
    RegistrationNotFound,
    RegistrationRefused,
    RegistrationStatus,
    new_door_code,
    refusal_detail,
    registration_refusal,
)
from crm_events.domain.questions import AnswerInvalid
from crm_events.domain.sessions import SessionChoiceInvalid
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    FieldError,
    IfMatch,
    Page,
    ProblemError,
    StaleVersionError,
    decode_cursor,
    etag_for,
    first_page_of,
    new_id,
    problem_responses,
    public_operation,
    reject_unknown_query_params,
    require_permission,
    required_version,
    stale_version,
    utc_now,
    validation_problem,
)

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/events",
    tags=["events"],
    # A misspelt filter (`?emial=`) is a 422 naming it, not a silently wider list.
    dependencies=[Depends(reject_unknown_query_params)],
)
public_router = APIRouter(
    prefix="/public/events", tags=["public"], dependencies=[public_operation()]
)


def _not_found(missing: EventNotFound) -> ProblemError:
    return ProblemError(404, f"no event {missing.event_id}", problem_type="not-found")


def _refused(error: EventChangeRefused) -> ProblemError:
    return ProblemError(409, str(error), problem_type="conflict")


def _refused_registration(refused: RegistrationRefused) -> ProblemError:
    """409 whose type says why: `event-cancelled`, `event-not-published`, `event-past`,
    `event-completed`, `registration-not-open`, `registration-closed`."""
    return ProblemError(
        409, refusal_detail(refused.event, refused.refusal), problem_type=refused.refusal.value
    )


def _invalid(error: EventDetailsInvalid | AnswerInvalid | SessionChoiceInvalid) -> ProblemError:
    match error:
        case EventDetailsInvalid():
            return validation_problem([FieldError(name, why) for name, why in error.faults])
        case AnswerInvalid():
            field = f"answers.{error.question_id}"
        case SessionChoiceInvalid():
            field = "session_id"
    return validation_problem([FieldError(field, error.detail)])


def _no_registration(missing: RegistrationNotFound) -> ProblemError:
    return ProblemError(
        404,
        f"no registration {missing.registration_id} for event {missing.event_id}",
        problem_type="not-found",
    )


def _public(standing: EventStanding) -> EventPublic:
    return EventPublic.of(standing.event, standing.registered, standing.seated)


async def _found(storage: Storage, tenant_id: str, event_id: str) -> EventStanding:
    try:
        return await lifecycle.find_event(storage, tenant_id, event_id)
    except EventNotFound as missing:
        raise _not_found(missing) from None


@router.post(
    "",
    dependencies=[require_permission("events:write")],
    status_code=201,
    response_model=EventPublic,
)
async def create_event(
    body: EventCreate,
    principal: CurrentPrincipal,
    storage: Storage,
    request: Request,
    response: Response,
) -> EventPublic:
    """Creates a recruiting event: published (people can register) or a draft. Times without
    an offset are wall-clock times in its `time_zone`; a venue is needed in person, a join
    URL virtually, both for a hybrid event (422 otherwise)."""
    try:
        standing = await lifecycle.create_event(
            storage, principal.tenant_id, principal.user_id, body.model_dump()
        )
    except EventDetailsInvalid as invalid:
        raise _invalid(invalid) from None
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{standing.event.id}"
    return _public(standing)


@router.get("", dependencies=[require_permission("events:read")], response_model=list[EventPublic])
async def list_events(principal: CurrentPrincipal, storage: Storage) -> list[EventPublic]:
    """The caller's tenant's events, soonest first."""
    return [
        _public(standing) for standing in await lifecycle.list_events(storage, principal.tenant_id)
    ]


@router.get(
    "/{event_id}", dependencies=[require_permission("events:read")], response_model=EventPublic
)
async def get_event(
    event_id: str, principal: CurrentPrincipal, storage: Storage, response: Response
) -> EventPublic:
    """One event with its registration count, and its version as `ETag`."""
    standing = await _found(storage, principal.tenant_id, event_id)
    response.headers["ETag"] = etag_for(standing.event.version)
    return _public(standing)


@router.patch(
    "/{event_id}",
    response_model=EventPublic,
    dependencies=[require_permission("events:write")],
    responses=problem_responses(409),
)
async def update_event(
    event_id: str,
    body: EventUpdate,
    principal: CurrentPrincipal,
    storage: Storage,
    response: Response,
    if_match: IfMatch = None,
) -> EventPublic:
    """Edits a draft or published event, made from the version `If-Match` names (428 without
    it, 412 if it changed meanwhile). A larger capacity registers waitlisted people, first come
    first served; a capacity below the people registered is a 409, and so is any edit of a
    cancelled or completed event. Times without an offset are wall-clock times in the event's
    time zone. Registrants are mailed a change of time or place unless `notify_registrants` is
    false."""
    version = required_version(if_match)
    await _found(storage, principal.tenant_id, event_id)
    changes = body.model_dump(exclude_unset=True, exclude={"notify_registrants"})
    nulled = [
        field
        for field in (
            "name",
            "kind",
            "format",
            "starts_at",
            "time_zone",
            "capacity",
            "organisers",
            "reminders",
            "questions",
        )
        if field in changes and changes[field] is None
    ]
    if nulled:
        raise validation_problem(
            [FieldError(field, "cannot be null") for field in nulled],
            "name, kind, format, starts_at, time_zone, capacity, organisers, reminders and "
            "questions cannot be null",
        )
    try:
        await lifecycle.edit_event(
            storage,
            principal.tenant_id,
            event_id,
            version,
            changes,
            notify_registrants=body.notify_registrants,
        )
    except EventNotFound as missing:
        raise _not_found(missing) from None
    except StaleVersionError as stale:
        raise stale_version("event", event_id, stale.current, version) from None
    except EventChangeRefused as refused:
        raise _refused(refused) from None
    except EventDetailsInvalid as invalid:
        raise _invalid(invalid) from None
    return await get_event(event_id, principal, storage, response)


async def _move(
    event_id: str,
    target: EventStatus,
    principal: CurrentPrincipal,
    storage: Storage,
    response: Response,
) -> EventPublic:
    try:
        await lifecycle.move_event(storage, principal.tenant_id, event_id, target)
    except EventNotFound as missing:
        raise _not_found(missing) from None
    except EventChangeRefused as refused:
        raise _refused(refused) from None
    return await get_event(event_id, principal, storage, response)


@router.post(
    "/{event_id}/publish",
    response_model=EventPublic,
    dependencies=[require_permission("events:write")],
    responses=problem_responses(409),
)
async def publish_event(
    event_id: str, principal: CurrentPrincipal, storage: Storage, response: Response
) -> EventPublic:
    """Publishes a draft: its public page appears and registration opens (within its
    window). 409 for an event that is not a draft."""
    return await _move(event_id, EventStatus.PUBLISHED, principal, storage, response)


@router.post(
    "/{event_id}/complete",
    response_model=EventPublic,
    dependencies=[require_permission("events:write")],
    responses=problem_responses(409),
)
async def complete_event(
    event_id: str, principal: CurrentPrincipal, storage: Storage, response: Response
) -> EventPublic:
    """Marks a published event that has started as completed (final): no more registrations
    or edits; check-in and walk-ins still work for latecomers. 409 otherwise."""
    return await _move(event_id, EventStatus.COMPLETED, principal, storage, response)


@router.post(
    "/{event_id}/cancel",
    response_model=EventPublic,
    dependencies=[require_permission("events:write")],
    responses=problem_responses(409),
)
async def cancel_event(
    event_id: str,
    body: EventCancellation,
    principal: CurrentPrincipal,
    storage: Storage,
    response: Response,
) -> EventPublic:
    """Cancels a draft or published event (final): registration closes (409), and
    registrations and attendance are kept. 409 if it was cancelled or completed already."""
    try:
        await lifecycle.cancel_event(storage, principal.tenant_id, event_id, body.reason)
    except EventNotFound as missing:
        raise _not_found(missing) from None
    except EventChangeRefused as refused:
        raise _refused(refused) from None
    return await get_event(event_id, principal, storage, response)


@router.delete(
    "/{event_id}",
    status_code=204,
    dependencies=[require_permission("events:write")],
    responses=problem_responses(409),
)
async def remove_event(event_id: str, principal: CurrentPrincipal, storage: Storage) -> Response:
    """Deletes an event nobody registered for (a mistake, a duplicate); one with registrations
    is a 409: cancel it instead, which keeps who registered and attended."""
    try:
        await lifecycle.delete_event(storage, principal.tenant_id, event_id)
    except EventNotFound as missing:
        raise _not_found(missing) from None
    except EventChangeRefused as refused:
        raise _refused(refused) from None
    return Response(status_code=204)


@router.get(
    "/{event_id}/registrations",
    dependencies=[require_permission("events:read")],
    response_model=Page[RegistrationDetail],
)
async def event_registrations(
    event_id: str,
    principal: CurrentPrincipal,
    storage: Storage,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[RegistrationDetail]:
    """Who registered for an event (registered, waitlisted and cancelled alike) in the order
    they first registered, a page at a time."""
    after = decode_cursor(cursor) if cursor else None
    try:
        event = await lifecycle.existing_event(storage, principal.tenant_id, event_id)
        found = await registrations.registrations_for(
            storage, principal.tenant_id, event_id, after=after, limit=limit + 1
        )
    except EventNotFound as missing:
        raise _not_found(missing) from None
    shown, next_cursor = first_page_of(found, limit, lambda registration: registration.id)
    return Page[RegistrationDetail](
        items=[_detail(storage, r, event) for r in shown], next_cursor=next_cursor
    )


@router.post(
    "/{event_id}/registrations/{registration_id}/check-in",
    response_model=RegistrationDetail,
    dependencies=[require_permission("events:write")],
    responses=problem_responses(409),
)
async def check_in(
    event_id: str, registration_id: str, principal: CurrentPrincipal, storage: Storage
) -> RegistrationDetail:
    """Marks a registrant as attended; checking in again changes nothing. `event.checked_in`
    goes out once the attendee is a known candidate: now, or when the candidates service has
    created them from their registration. 409 `registration-cancelled` for a registration that
    was cancelled: the person holds no seat, and letting them in anyway is a walk-in
    (`POST /events/{id}/walk-ins` with their address), which registers them again."""
    try:
        event = await lifecycle.existing_event(storage, principal.tenant_id, event_id)
        attended = await registrations.check_in(
            storage, principal.tenant_id, event_id, registration_id
        )
    except EventNotFound as missing:
        raise _not_found(missing) from None
    except RegistrationNotFound as missing:
        raise _no_registration(missing) from None
    except CheckInRefused as refused:
        raise ProblemError(409, refused.detail, problem_type=refused.problem_type) from None
    return _detail(storage, attended, event)


@router.post(
    "/{event_id}/check-ins",
    response_model=DoorCheckInReport,
    dependencies=[require_permission("events:write")],
    responses=problem_responses(409),
)
async def upload_check_ins(
    event_id: str, body: DoorCheckInUpload, principal: CurrentPrincipal, storage: Storage
) -> DoorCheckInReport:
    """Uploads check-ins made at the door without network, each as of its door time: safe to
    upload again (`already_checked_in`), and every item answered (unknown codes, the waitlisted,
    cancelled registrations). 409 `event-cancelled` for a cancelled event; 422 naming the items
    whose time is in the future or before the event's day (nothing is recorded then)."""
    items = [DoorCheckIn(i.code, i.checked_in_at) for i in body.check_ins]
    try:
        results = await door_uploads.upload_check_ins(storage, principal.tenant_id, event_id, items)
    except EventNotFound as missing:
        raise _not_found(missing) from None
    except RegistrationRefused as refused:
        raise _refused_registration(refused) from None
    except DoorTimesRefused as refused:
        raise validation_problem(
            [
                FieldError(f"check_ins.{i}.checked_in_at", why)
                for i, why in refused.refusals.items()
            ],
            f"{len(refused.refusals)} check-in time{'s' if len(refused.refusals) != 1 else ''} "
            "cannot be kept; nothing was recorded",
        ) from None
    counts = dict.fromkeys(DoorCheckInOutcome, 0)
    for result in results:
        counts[result.outcome] += 1
    return DoorCheckInReport(
        results=[
            DoorCheckInResultPublic(
                index=index,
                code=result.code,
                outcome=result.outcome,
                registration_id=result.registration.id if result.registration else None,
                checked_in_at=result.registration.checked_in_at if result.registration else None,
            )
            for index, result in enumerate(results)
        ],
        counts=counts,
    )


@router.post(
    "/{event_id}/walk-ins",
    status_code=201,
    response_model=RegistrationDetail,
    dependencies=[require_permission("events:write")],
    responses={
        200: {
            "model": RegistrationDetail,
            "description": "The person had registered: now checked in.",
        },
        **problem_responses(409),
    },
)
async def walk_in(
    event_id: str,
    body: WalkInCreate,
    principal: CurrentPrincipal,
    storage: Storage,
    response: Response,
) -> RegistrationDetail:
    """Captures somebody at the door: a registration that is checked in at once. It is
    published as `event.registered` (so an unknown person becomes a candidate) and, once the
    person is a known candidate, `event.checked_in`. Somebody who had registered is simply
    checked in (200)."""
    try:
        recorded = await registrations.walk_in(
            storage, principal.tenant_id, event_id, _registrant(body)
        )
    except EventNotFound as missing:
        raise _not_found(missing) from None
    except RegistrationRefused as refused:
        raise _refused_registration(refused) from None
    except RegistrationNotFound as missing:  # erased between finding it and checking it in
        raise _no_registration(missing) from None
    if not recorded.created:
        response.status_code = 200
    return _detail(storage, recorded.registration)


@router.post(
    "/{event_id}/registrations/{registration_id}/cancel",
    response_model=RegistrationDetail,
    dependencies=[require_permission("events:write")],
    responses=problem_responses(409),
)
async def cancel_registration(
    event_id: str, registration_id: str, principal: CurrentPrincipal, storage: Storage
) -> RegistrationDetail:
    """Cancels a registration on the registrant's behalf (they phoned, wrote); its seat goes
    to the longest-waiting person on the waitlist. 409 if it was cancelled already
    (`registration-cancelled`), the person checked in (`registration-attended`) or the event
    is over (`event-past`)."""
    try:
        cancelled = await cancellations.cancel_registration(
            storage, principal.tenant_id, event_id, registration_id
        )
    except EventNotFound as missing:
        raise _not_found(missing) from None
    except RegistrationNotFound as missing:
        raise _no_registration(missing) from None
    except RegistrationCancelRefused as refused:
        raise cancel_refused(refused) from None
    return _detail(storage, cancelled.registration)


@router.get(
    "/{event_id}/registrations/{registration_id}/invitation.ics",
    response_class=Response,
    dependencies=[require_permission("events:read")],
    responses=CALENDAR_RESPONSE,
)
async def registration_invitation(
    event_id: str, registration_id: str, principal: CurrentPrincipal, storage: Storage
) -> Response:
    """A registration's calendar invitation, as its registrant's link gives it (to resend)."""
    try:
        ics = await invitations.invitation_for(
            storage, principal.tenant_id, event_id, registration_id
        )
    except EventNotFound as missing:
        raise _not_found(missing) from None
    except RegistrationNotFound as missing:
        raise _no_registration(missing) from None
    return calendar_file(ics)


def _detail(
    storage: Storage, registration: Registration, event: RecruitingEvent | None = None
) -> RegistrationDetail:
    """A registration as staff see it, with the registrant's links (to pass on) and, given
    its event, the name of its session (for the door of an event with time slots)."""
    session = event.session(registration.session_id) if event is not None else None
    return RegistrationDetail.model_validate(
        registration.model_dump()
        | {
            "manage_url": storage.links.manage_url(registration),
            "manage_page_url": storage.links.page_url(registration),
            "invitation_url": storage.links.invitation_url(registration),
            "session_name": session.name if session else None,
        }
    )


def _registrant(body: PersonCreate) -> Registrant:
    answers = body.answers if isinstance(body, RegistrationCreate) else {}
    return Registrant(
        email=str(body.email),
        first_name=body.first_name,
        last_name=body.last_name,
        answers=answers,
        session_id=body.session_id if isinstance(body, RegistrationCreate) else None,
    )


def _unstored(event_id: str) -> RegistrationPublic:
    """What a registration with the honeypot filled is told: a registration like any other,
    stored nowhere, so the bot learns nothing it could adapt to."""
    logger.info("registration for event %s dropped: the honeypot field was filled", event_id)
    return RegistrationPublic(
        id=new_id(),
        event_id=event_id,
        code=new_door_code(),
        status=RegistrationStatus.REGISTERED,
        registered_at=utc_now(),
    )


@public_router.get("/{event_id}", response_model=EventListing)
async def read_published_event(event_id: str, storage: Storage) -> EventListing:
    """An event as its public registration page shows it: name, format, time (in UTC and in
    its time zone), venue, whether it was cancelled, whether registration is open and how many
    seats are left (none: registering joins the waitlist), and the sites its tenant lets frame
    the embeddable form. A draft is a 404. The join URL is for registrants only."""
    try:
        standing = await lifecycle.published_event(storage, event_id)
    except EventNotFound as missing:
        raise _not_found(missing) from None
    event = standing.event
    shown = EventPublic.of(event, standing.registered, standing.seated)
    return EventListing.model_validate(
        shown.model_dump()
        | {
            "registration_open": registration_refusal(event, utc_now()) is None,
            "places_left": max(event.capacity - standing.registered, 0),
            "embedding_origins": await embedding.embedding_origins(storage, event.tenant_id),
        }
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
    event_id: str, body: RegistrationCreate, storage: Storage, response: Response
) -> RegistrationPublic:
    """Registers somebody for an event; registering again returns the first registration. A
    409 whose type says why for a draft (`event-not-published`), a cancelled, completed or
    past event (`event-cancelled`, `event-completed`, `event-past`), and outside the
    registration window (`registration-not-open`, `registration-closed`). Answers that do not
    fit the event's questions are a 422 naming `answers.<question id>`; a session missing,
    unknown or over, a 422 naming `session_id`."""
    if body.website and body.website.strip():
        return _unstored(event_id)
    try:
        recorded = await registrations.register(storage, event_id, _registrant(body))
    except EventNotFound as missing:
        raise _not_found(missing) from None
    except RegistrationRefused as refused:
        raise _refused_registration(refused) from None
    except (AnswerInvalid, SessionChoiceInvalid) as invalid:
        raise _invalid(invalid) from None
    registration = recorded.registration
    if not recorded.created:
        # The address may be somebody else's: a repeat gets no link to their registration.
        response.status_code = 200
        return RegistrationPublic.model_validate(registration.model_dump() | {"code": None})
    return RegistrationPublic.model_validate(
        registration.model_dump()
        | {
            "manage_url": storage.links.manage_url(registration),
            "manage_page_url": storage.links.page_url(registration),
            "invitation_url": storage.links.invitation_url(registration),
        }
    )

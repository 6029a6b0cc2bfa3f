"""Event pages: the list, create and edit, an event with its registrations and waitlist,
cancelling, the door's check-in and walk-ins (phone-sized), and the public registration page
with its embeddable variant and the careers site's script that frames it."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem
from crm_console.api.deps import (
    Container,
    CurrentViewer,
    Viewer,
    asked_first_about,
    done,
    embed_policy,
    form_of,
    is_htmx,
    refused,
    render,
    require,
)
from crm_console.application.events import (
    REGISTRANT_LINKS,
    EventDesk,
    PublicRegistration,
    RegistrantLink,
)
from crm_console.container import ConsoleContainer
from crm_console.domain.candidates import SOURCES
from crm_console.domain.csv_files import csv_params
from crm_console.domain.embedding import embed_frame_code, embed_path, embed_script_code
from crm_console.domain.events import (
    ANSWER_FIELD,
    BLANK_QUESTION_ROWS,
    BLANK_SESSION_ROWS,
    CONSENT_PURPOSES,
    FORMATS,
    KINDS,
    QUESTION_KINDS,
    REGISTRANT_TOKEN,
    EventForm,
    code_of,
    event_form,
    event_question_rows,
    event_session_rows,
    form_values,
    has_started,
    may_cancel,
    off_day_door,
    registrant_page_path,
    registration_answers,
    registration_closed_note,
    registration_path,
    row_errors,
    status_question,
    upload_summary,
    walk_in_person,
)
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.problems import Problem
from crm_console.domain.questions import Question
from crm_shared import public_operation

EVENTS = f"{CONSOLE_PREFIX}/events"
router = APIRouter(prefix=EVENTS, include_in_schema=False)
public_router = APIRouter(
    prefix=f"{CONSOLE_PREFIX}/public/events",
    include_in_schema=False,
    dependencies=[public_operation()],
)
registrant_router = APIRouter(
    prefix=f"{CONSOLE_PREFIX}/public/registrations",
    include_in_schema=False,
    dependencies=[public_operation()],
)
embed_script_router = APIRouter(
    prefix=f"{CONSOLE_PREFIX}/public", include_in_schema=False, dependencies=[public_operation()]
)
# The careers site's script, as the console serves it at /console/public/embed.js.
EMBED_SCRIPT = Path(__file__).parent.parent / "static" / "embed.js"


@cache
def embed_script_source() -> str:
    return EMBED_SCRIPT.read_text(encoding="utf-8")


def _refusal(
    request: Request,
    state: ConsoleContainer,
    viewer: Viewer,
    refused_by_api: ApiProblem,
    event_id: str,
) -> HTMLResponse:
    """The API's refusal, in place (htmx, or the page's script) or as a page of its own."""
    problem = refused_by_api.problem
    return refused(request, state.templates, viewer, problem, back=f"{EVENTS}/{event_id}")


@router.get("")
async def event_list(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The tenant's events, soonest first."""
    events = await EventDesk(state.gateway).events(viewer.caller)
    return render(
        request,
        state.templates,
        "events/list.html",
        {"events": events, "kinds": KINDS},
        viewer=viewer,
    )


def _form_page(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    form: EventForm,
    *,
    event: dict[str, Any] | None = None,
    problem: Any = None,
    status_code: int = 200,
) -> HTMLResponse:
    template = "events/form_fields.html" if is_htmx(request) else "events/form.html"
    return render(
        request,
        state.templates,
        template,
        {
            "form": form,
            "event": event,
            "kinds": KINDS,
            "formats": FORMATS,
            "question_kinds": QUESTION_KINDS,
            "consent_purposes": CONSENT_PURPOSES,
            "blank_questions": BLANK_QUESTION_ROWS,
            "blank_sessions": BLANK_SESSION_ROWS,
            "problem": problem,
        },
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/new")
async def new_event(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """An empty event form."""
    require(viewer, "events:write")
    blank = EventForm(
        values={"time_zone": "UTC", "capacity": "50", "kind": "meetup", "format": "in_person"}
    )
    return _form_page(request, viewer, state, blank)


@router.post("")
async def create_event(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """Creates the event, then shows it; the form again with what is wrong next to each field."""
    form = event_form(await form_of(request), creating=True)
    if not form.valid:
        return _form_page(request, viewer, state, form, status_code=422)
    try:
        created = await EventDesk(state.gateway).create(viewer.caller, form.body)
    except ApiProblem as refused:
        return _refused_form(request, viewer, state, form, refused)
    return done(request, f"{EVENTS}/{created['id']}")


def _refused_form(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    form: EventForm,
    refused: ApiProblem,
    event: dict[str, Any] | None = None,
) -> HTMLResponse:
    problem = refused.problem
    errors = {**form.errors, **problem.field_errors, **row_errors(problem.paths)}
    return _form_page(
        request,
        viewer,
        state,
        EventForm(form.values, errors, form.body, form.questions, form.sessions),
        event=event,
        problem=refused.problem,
        status_code=refused.problem.status,
    )


@router.get("/{event_id}")
async def event_page(
    event_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """One event: its details, the link to share, who registered and the waitlist."""
    page = await EventDesk(state.gateway).page(viewer.caller, event_id)
    return render(
        request,
        state.templates,
        "events/detail.html",
        {
            "page": page,
            "kinds": KINDS,
            "formats": FORMATS,
            "link": registration_path(event_id),
            "session_names": {s["id"]: s["name"] for s in page.event.get("sessions") or []},
            # The report's sources are candidate sources, said as the candidate list says them.
            "source_labels": SOURCES | {"unknown": "Not known"},
            "embed_script": embed_script_code(event_id),
            "embed_frame": embed_frame_code(event_id, page.event.get("name", "")),
        },
        viewer=viewer,
    )


@router.get("/{event_id}/report.csv")
async def event_report_csv(
    event_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """The event's report as a CSV file (the analytics API's own, with its file name), comma
    or semicolon separated."""
    download = await EventDesk(state.gateway).report_csv(
        viewer.caller, event_id, csv_params(request.query_params)
    )
    return Response(
        download.content,
        media_type=download.media_type,
        headers={**download.headers, "Cache-Control": "no-store"},
    )


@router.get("/{event_id}/edit")
async def edit_event(
    event_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The event's form, filled in from its current version."""
    event = await EventDesk(state.gateway).event(viewer.caller, event_id)
    form = EventForm(
        values=form_values(event),
        questions=event_question_rows(event),
        sessions=event_session_rows(event),
    )
    return _form_page(request, viewer, state, form, event=event)


@router.post("/{event_id}")
async def update_event(
    event_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Saves the edit made from the version the form was filled from."""
    fields = await form_of(request)
    form = event_form(fields)
    event = {"id": event_id, "version": fields.get("version", "")}
    if not form.valid:
        return _form_page(request, viewer, state, form, event=event, status_code=422)
    try:
        await EventDesk(state.gateway).update(
            viewer.caller, event_id, fields.get("version", ""), form.body
        )
    except ApiProblem as refused:
        return _refused_form(request, viewer, state, form, refused, event)
    return done(request, f"{EVENTS}/{event_id}")


@router.post("/{event_id}/cancel")
async def cancel_event(
    event_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Cancels the event (final); the API's refusal shows next to the button."""
    fields = await form_of(request)
    if asked := await _status_asked_first(request, viewer, state, event_id, fields, "cancel"):
        return asked
    desk = EventDesk(state.gateway)
    return await _status_change(
        request,
        viewer,
        state,
        event_id,
        desk.cancel(viewer.caller, event_id, fields.get("reason", "")),
    )


@router.post("/{event_id}/delete")
async def delete_event(
    event_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Deletes an event nobody registered for, then shows the list; the API's refusal (someone
    registered meanwhile) shows by the button."""
    form = await form_of(request)
    if asked := await _status_asked_first(request, viewer, state, event_id, form, "delete"):
        return asked
    try:
        await EventDesk(state.gateway).delete(viewer.caller, event_id)
    except ApiProblem as refused:
        return _refusal(request, state, viewer, refused, event_id)
    return done(request, EVENTS)


@router.post("/{event_id}/publish")
async def publish_event(
    event_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Publishes a draft: its registration page opens; the API's refusal shows by the button."""
    form = await form_of(request)
    if asked := await _status_asked_first(request, viewer, state, event_id, form, "publish"):
        return asked
    desk = EventDesk(state.gateway)
    return await _status_change(
        request, viewer, state, event_id, desk.move(viewer.caller, event_id, "publish")
    )


@router.post("/{event_id}/complete")
async def complete_event(
    event_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Marks an event that has started as completed (final)."""
    form = await form_of(request)
    if asked := await _status_asked_first(request, viewer, state, event_id, form, "complete"):
        return asked
    desk = EventDesk(state.gateway)
    return await _status_change(
        request, viewer, state, event_id, desk.move(viewer.caller, event_id, "complete")
    )


async def _status_asked_first(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    event_id: str,
    form: dict[str, str],
    action: str,
) -> HTMLResponse | None:
    """What a status button asks first (`status_question`), as a page for a form posted
    without script; None when nothing needs asking."""

    async def question() -> Question | None:
        event = await EventDesk(state.gateway).event(viewer.caller, event_id)
        return status_question(action, event, has_started(event, datetime.now(UTC)))

    back = f"{EVENTS}/{event_id}"
    return await asked_first_about(request, state.templates, viewer, form, question, back=back)


async def _status_change(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    event_id: str,
    change: Awaitable[None],
) -> Response:
    """Runs a publish, complete or cancel; the event page again, or the API's refusal."""
    try:
        await change
    except ApiProblem as refused:
        return _refusal(request, state, viewer, refused, event_id)
    return done(request, f"{EVENTS}/{event_id}")


async def _door_page(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    event_id: str,
    q: str,
    *,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The door as a page: the search for `q` with its matches, and the walk-in form (`extra`
    holds what a post without script left: who was checked in, a refusal)."""
    desk = EventDesk(state.gateway)
    event = await desk.event(viewer.caller, event_id)
    matches = await desk.door(viewer.caller, event_id, q, event) if q else []
    return render(
        request,
        state.templates,
        "events/check_in.html",
        {
            "event": event,
            "matches": matches,
            "q": q,
            "event_id": event_id,
            "values": {},
            "errors": {},
            "off_day": off_day_door(event, datetime.now(UTC)),
            **(extra or {}),
        },
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/{event_id}/check-in")
async def check_in_page(
    event_id: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    q: Annotated[str, Query(max_length=200)] = "",
    code: Annotated[str, Query(max_length=50)] = "",
) -> HTMLResponse:
    """The door: find a registrant by name, e-mail or code and check them in (a phone page);
    htmx asks for the matches alone as the person types. `code` is what a confirmation's QR
    code opens the page with: the search filled in with it."""
    q = q or code.strip()
    if is_htmx(request):
        desk = EventDesk(state.gateway)
        matches = await desk.door(viewer.caller, event_id, q)
        zone, off_day = await desk.door_clock(viewer.caller, event_id) if matches else ("UTC", None)
        return render(
            request,
            state.templates,
            "events/door_matches.html",
            {"matches": matches, "q": q, "event_id": event_id, "zone": zone, "off_day": off_day},
            viewer=viewer,
        )
    return await _door_page(request, viewer, state, event_id, q)


async def _asked_first(
    request: Request, viewer: Viewer, state: ConsoleContainer, event_id: str, form: dict[str, str]
) -> HTMLResponse | None:
    """On another day than the event's the door asks before a check-in (see `asked_first`);
    None when nothing needs asking."""

    async def question() -> Question | None:
        _, off_day = await EventDesk(state.gateway).door_clock(viewer.caller, event_id)
        if off_day is None:
            return None
        who = f"{form.get('first_name', '')} {form.get('last_name', '')}".strip() or "them"
        return Question(off_day.check_in_question, f"Check {who} in all the same", "primary big")

    back = f"{EVENTS}/{event_id}/check-in"
    if form.get("q"):
        back += "?" + urlencode({"q": form["q"]})
    return await asked_first_about(request, state.templates, viewer, form, question, back=back)


async def _door_refusal(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    event_id: str,
    form: dict[str, str],
    refused: ApiProblem,
) -> HTMLResponse:
    """The API's refusal of a door's check-in: in place of the row for htmx, above the search
    the person was found by in the door's page without script."""
    if is_htmx(request):
        return _refusal(request, state, viewer, refused, event_id)
    return await _door_page(
        request,
        viewer,
        state,
        event_id,
        form.get("q", ""),
        extra={"door_problem": refused.problem},
        status_code=refused.problem.status,
    )


@router.post("/{event_id}/check-in/{registration_id}")
async def check_in(
    event_id: str, registration_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Checks one registrant in; the answer replaces their row (without script: the door's
    page again, the search the person was found by showing them checked in)."""
    form = await form_of(request)
    if (asked := await _asked_first(request, viewer, state, event_id, form)) is not None:
        return asked
    desk = EventDesk(state.gateway)
    try:
        person = await desk.check_in(viewer.caller, event_id, registration_id)
    except ApiProblem as refused:
        return await _door_refusal(request, viewer, state, event_id, form, refused)
    if not is_htmx(request):
        return await _door_page(request, viewer, state, event_id, form.get("q") or code_of(person))
    return render(
        request,
        state.templates,
        "events/door_person.html",
        {
            "person": person | {"code": code_of(person)},
            "event_id": event_id,
            "just_checked": True,
            "zone": await desk.time_zone(viewer.caller, event_id),
        },
        viewer=viewer,
    )


@router.post("/{event_id}/check-in/{registration_id}/walk-in")
async def let_in_as_walk_in(
    event_id: str, registration_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Lets in somebody who had cancelled, the door's explicit choice: the events API's walk-in
    with their name and address registers them again and checks them in (a plain check-in of a
    cancelled registration is refused); the answer replaces their row (without script: the
    door's page again)."""
    form = await form_of(request)
    if (asked := await _asked_first(request, viewer, state, event_id, form)) is not None:
        return asked
    person = walk_in_person(form)
    desk = EventDesk(state.gateway)
    try:
        registration, _, said = await desk.walk_in_said(
            viewer.caller, event_id, person, had_cancelled=True
        )
    except ApiProblem as refused:
        return await _door_refusal(request, viewer, state, event_id, form, refused)
    if not is_htmx(request):
        return await _door_page(
            request, viewer, state, event_id, form.get("q") or person["email"], extra={"done": said}
        )
    zone = await desk.time_zone(viewer.caller, event_id)
    return render(
        request,
        state.templates,
        "events/door_person.html",
        {
            "person": registration | {"code": code_of(registration)},
            "event_id": event_id,
            "just_checked": True,
            "outcome": said,
            "zone": zone,
        },
        viewer=viewer,
    )


@router.post("/{event_id}/check-ins")
async def upload_check_ins(
    event_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Uploads the check-ins the door's page queued while offline (JSON, as the API takes it);
    the answer says what each did, or the API's refusal, for the page to show."""
    try:
        batch = await request.json()
    except ValueError:
        batch = None
    try:
        report = await EventDesk(state.gateway).upload_check_ins(viewer.caller, event_id, batch)
    except ApiProblem as refused:
        return _refusal(request, state, viewer, refused, event_id)
    return render(
        request,
        state.templates,
        "events/door_upload.html",
        {"lines": upload_summary(report)},
        viewer=viewer,
    )


@router.post("/{event_id}/walk-ins")
async def walk_in(
    event_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Registers somebody who came without registering and checks them in; the form comes back
    empty with who was checked in, or with the API's refusal next to the field (without
    script: in the door's page, which then finds the person walked in)."""
    form = await form_of(request)
    if (asked := await _asked_first(request, viewer, state, event_id, form)) is not None:
        return asked
    person = walk_in_person(form)
    desk = EventDesk(state.gateway)
    context: dict[str, Any] = {"event_id": event_id, "values": {}, "errors": {}}
    try:
        _, created, said = await desk.walk_in_said(viewer.caller, event_id, person)
    except ApiProblem as refused:
        context |= {
            "values": person,
            "errors": refused.problem.field_errors,
            "problem": refused.problem,
        }
        status_code = refused.problem.status
    else:
        context["added"] = said
        status_code = 201 if created else 200
    if not is_htmx(request):
        found = person["email"] if "added" in context else ""
        return await _door_page(
            request, viewer, state, event_id, found, extra=context, status_code=status_code
        )
    # The form comes back for the next person: still asking first on another day.
    context["off_day"] = (await desk.door_clock(viewer.caller, event_id))[1]
    return render(
        request,
        state.templates,
        "events/walk_in.html",
        context,
        viewer=viewer,
        status_code=status_code,
    )


def _visitor(request: Request) -> str | None:
    # The gateway names the visitor's address to the console; passed on for its rate limit.
    return request.headers.get("x-forwarded-for")


def _public_page(
    request: Request,
    state: ConsoleContainer,
    event: dict[str, Any],
    *,
    embedded: bool,
    values: dict[str, str] | None = None,
    problem: Problem | None = None,
) -> HTMLResponse:
    """The registration page (hosted, or the embeddable variant a careers site frames), or
    just its form for htmx; with what was typed and the API's refusal by each field."""
    if is_htmx(request):
        template = "events/public_form.html"
    else:
        template = "events/embed.html" if embedded else "events/public.html"
    # An answer's refusal is named by its full path, `answers.<question id>`.
    errors = problem.field_errors | problem.paths if problem else {}
    return render(
        request,
        state.templates,
        template,
        {
            "event": event,
            "kinds": KINDS,
            "closed_note": registration_closed_note(event, datetime.now(UTC)),
            "values": values or {},
            "errors": errors,
            "problem": problem,
            "form_action": embed_path(event["id"]) if embedded else registration_path(event["id"]),
        },
        status_code=problem.status if problem else 200,
        headers=_embed_headers(event) if embedded else None,
    )


def _embed_headers(event: dict[str, Any]) -> dict[str, str]:
    """The embeddable page may be framed by the sites the event's tenant named, no others."""
    return {"Content-Security-Policy": embed_policy(event.get("embedding_origins") or [])}


async def _registration(
    event_id: str, request: Request, state: ConsoleContainer, *, embedded: bool
) -> HTMLResponse:
    """Registers the visitor from either page; the confirmation shows their code for the door."""
    fields = await form_of(request)
    person = {name: fields.get(name, "").strip() for name in ("first_name", "last_name", "email")}
    chosen = {"session_id": session} if (session := fields.get("session_id")) else {}
    answers = registration_answers(fields)
    public = PublicRegistration(state.gateway)
    try:
        honeypot = {"website": trap} if (trap := fields.get("website")) else {}
        registration = await public.register(
            event_id, {**person, **chosen, "answers": answers, **honeypot}, _visitor(request)
        )
    except ApiProblem as refused:
        # Read again for its questions (the form is drawn from them), htmx or not.
        event = await public.event(event_id, _visitor(request))
        typed = person | chosen | {f"{ANSWER_FIELD}{key}": value for key, value in answers.items()}
        return _public_page(
            request, state, event, embedded=embedded, values=typed, problem=refused.problem
        )
    context = {"registration": registration, "code": code_of(registration), "person": person}
    if is_htmx(request):
        return render(request, state.templates, "events/public_done.html", context)
    # Sent without script (htmx did not run): a whole page, under the event it is for.
    event = await public.event(event_id, _visitor(request))
    if not embedded:
        return render(
            request,
            state.templates,
            "events/public_done_page.html",
            context | {"event": event, "kinds": KINDS},
        )
    # The embeddable one must stay frameable.
    return render(
        request,
        state.templates,
        "events/embed_done.html",
        context | {"event": event},
        headers=_embed_headers(event),
    )


@public_router.get("/{event_id}")
async def public_event(event_id: str, request: Request, state: Container) -> HTMLResponse:
    """The public registration page of an event: no sign-in."""
    event = await PublicRegistration(state.gateway).event(event_id, _visitor(request))
    return _public_page(request, state, event, embedded=False)


@public_router.post("/{event_id}")
async def public_register(event_id: str, request: Request, state: Container) -> HTMLResponse:
    """Registers the visitor; the confirmation shows their code for the door."""
    return await _registration(event_id, request, state, embedded=False)


@public_router.get("/{event_id}/embed")
async def embedded_event(event_id: str, request: Request, state: Container) -> HTMLResponse:
    """The registration page a careers site frames (`embed.js` or an iframe): the same form
    without the console's header, framed only by the sites its tenant allows."""
    event = await PublicRegistration(state.gateway).event(event_id, _visitor(request))
    return _public_page(request, state, event, embedded=True)


@public_router.post("/{event_id}/embed")
async def embedded_register(event_id: str, request: Request, state: Container) -> HTMLResponse:
    """Registers the visitor from the framed form (no cookie and no CSRF token: it needs
    neither, see docs/events.md "Embedding the registration form")."""
    return await _registration(event_id, request, state, embedded=True)


def _registrant_token(token: str) -> str:
    """The link's token, or the 404 a link that is not one gets (never passed on as a path)."""
    if not REGISTRANT_TOKEN.match(token):
        raise ApiProblem(
            Problem(
                status=404,
                title="Not Found",
                detail="this link is not valid",
                problem_type="invalid-link",
            )
        )
    return token


def _registrant_page(
    request: Request,
    state: ConsoleContainer,
    token: str,
    registration: dict[str, Any],
    *,
    problem: Problem | None = None,
) -> HTMLResponse:
    """The registrant's page: the event, where their registration stands, and the button to
    cancel it while it can be; with the API's refusal when a cancel was refused."""
    return render(
        request,
        state.templates,
        "events/registrant.html",
        {
            "registration": registration,
            "event": registration.get("event") or {},
            "kinds": KINDS,
            "may_cancel": may_cancel(registration, datetime.now(UTC)),
            "cancel_action": f"{registrant_page_path(token)}/cancel",
            "invitation_path": f"{REGISTRANT_LINKS}/{token}/invitation.ics",
            "problem": problem,
        },
        status_code=problem.status if problem else 200,
    )


@registrant_router.get("/{token}")
async def registrant_page(token: str, request: Request, state: Container) -> HTMLResponse:
    """The page a registrant's mails link to (no sign-in; the signed link is the key): the
    event, whether they have a seat, wait or cancelled, and "Cancel my registration"."""
    link = RegistrantLink(state.gateway)
    registration = await link.registration(_registrant_token(token), _visitor(request))
    return _registrant_page(request, state, token, registration)


@registrant_router.post("/{token}/cancel")
async def registrant_cancel(token: str, request: Request, state: Container) -> HTMLResponse:
    """Cancels the registration from its page (a plain form post: no session, so no CSRF
    token; see docs/events.md "The registrant's page"), then says it is cancelled; a refusal
    (cancelled already, attended, over) shows on the page again."""
    link = RegistrantLink(state.gateway)
    _registrant_token(token)
    try:
        await link.cancel(token, _visitor(request))
    except ApiProblem as refused:
        if refused.problem.status == 404:
            raise
        registration = await link.registration(token, _visitor(request))
        return _registrant_page(request, state, token, registration, problem=refused.problem)
    registration = await link.registration(token, _visitor(request))
    return render(
        request,
        state.templates,
        "events/registrant_cancelled.html",
        {"registration": registration, "event": registration.get("event") or {}, "kinds": KINDS},
    )


@embed_script_router.get("/embed.js")
async def embed_script() -> Response:
    """The careers site's script: inserts the event's framed form and sizes it to its content."""
    return Response(
        embed_script_source(),
        media_type="text/javascript",
        # Any site loads it; a short cache lets a fix reach them within minutes.
        headers={"Cache-Control": "public, max-age=300"},
    )

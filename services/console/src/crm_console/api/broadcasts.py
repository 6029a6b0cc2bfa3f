"""Broadcast pages: the list, the composer (audience, template, schedule incl. each
candidate's local time, A/B subjects) and the live progress view with its controls."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem, SignedOut
from crm_console.api.deps import (
    Container,
    CurrentViewer,
    PagePeople,
    Viewer,
    asked_first,
    asked_first_about,
    done,
    form_of,
    fragment_or_page,
    is_htmx,
    render,
    require,
)
from crm_console.api.forms import form_values
from crm_console.api.message_reports import csv_answer, report_panel
from crm_console.application.broadcasts import CONTROLS, BroadcastDesk
from crm_console.domain import broadcast_people as who
from crm_console.domain import broadcasts as rules
from crm_console.domain.csv_files import csv_params
from crm_console.domain.message_reports import variant_label
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.problems import Problem
from crm_console.domain.questions import Question

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/broadcasts", include_in_schema=False)
HERE = f"{CONSOLE_PREFIX}/broadcasts"


# What the cancel and delete buttons ask first: in the browser with script (`hx-confirm`),
# as a page without (`asked_first`).
CANCEL = Question("Cancel this broadcast? Nothing not yet sent will be.", "Cancel broadcast")


def _vocabulary() -> dict[str, Any]:
    return {
        "audience_kinds": rules.AUDIENCE_KINDS,
        "schedule_kinds": rules.SCHEDULE_KINDS,
        "ab_metrics": rules.AB_METRICS,
        "ab_rows": range(rules.AB_VARIANT_ROWS),
        "status_labels": rules.STATUS_LABELS,
        "describe_audience": rules.describe_audience,
        "describe_schedule": rules.describe_schedule,
        "reasons": rules.reasons,
        "done_share": rules.done_share,
        "ab_outcome": rules.ab_outcome,
        "rate_cell": rules.rate_cell,
        "is_live": rules.is_live,
        "actions": rules.actions,
        "composer_label": rules.composer_label,
        "cancel_question": CANCEL.text,
        "delete_question": rules.delete_question,
    }


@router.get("")
async def broadcast_list(
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """The tenant's broadcasts with status and progress."""
    page = await BroadcastDesk(state.gateway).page(viewer.caller, cursor)
    return render(
        request,
        state.templates,
        "broadcasts/list.html",
        {**_vocabulary(), "page": page},
        viewer=viewer,
    )


async def _composer(
    request: Request,
    viewer: Viewer,
    state: Container,
    values: dict[str, Any],
    problem: Problem | None = None,
    fragment: bool = False,
) -> HTMLResponse:
    lookups = await BroadcastDesk(state.gateway).composer_choices(viewer.caller)
    errors: dict[str, str] = {}
    for error in problem.located if problem else ():
        errors.setdefault(rules.composer_field(error.field), error.detail)
    return render(
        request,
        state.templates,
        "broadcasts/compose_form.html"
        if fragment and is_htmx(request)
        else "broadcasts/compose.html",
        {
            **_vocabulary(),
            "values": values,
            "lookups": lookups,
            "problem": problem,
            "errors": errors,
        },
        viewer=viewer,
        status_code=problem.status if problem else 200,
    )


@router.get("/new")
async def compose(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """An empty composer, for a person who may write broadcasts."""
    require(viewer, "broadcasts:write")
    return await _composer(
        request, viewer, state, {"audience_type": "segment", "schedule_type": "now"}
    )


@router.get("/audience-fields")
async def audience_fields(
    request: Request, viewer: CurrentViewer, state: Container, audience_type: str = "segment"
) -> HTMLResponse:
    lookups = await BroadcastDesk(state.gateway).composer_choices(viewer.caller)
    return render(
        request,
        state.templates,
        "broadcasts/audience_fields.html",
        {"values": {"audience_type": audience_type}, "lookups": lookups, "errors": {}},
    )


@router.get("/schedule-fields")
async def schedule_fields(
    request: Request, viewer: CurrentViewer, state: Container, schedule_type: str = "now"
) -> HTMLResponse:
    return render(
        request,
        state.templates,
        "broadcasts/schedule_fields.html",
        {"values": {"schedule_type": schedule_type}, "errors": {}},
    )


@router.post("")
async def create_broadcast(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """Saves the composed broadcast as a draft and opens it, to be checked and sent."""
    form = await form_values(request)
    body = rules.broadcast_from_form(form)
    try:
        created = await BroadcastDesk(state.gateway).create(viewer.caller, body)
    except SignedOut:
        raise
    except ApiProblem as refused:
        values = {name: (vals[0] if vals else "") for name, vals in form.items()}
        return await _composer(request, viewer, state, values, refused.problem, fragment=True)
    return done(request, f"{HERE}/{created['id']}")


@router.get("/{broadcast_id}")
async def broadcast_page(
    broadcast_id: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    people: PagePeople,
) -> HTMLResponse:
    """A broadcast: what it sends to whom and when, and its live progress with controls."""
    desk = BroadcastDesk(state.gateway)
    broadcast = await desk.broadcast(viewer.caller, broadcast_id)
    lookups = await desk.composer_choices(viewer.caller)
    return render(
        request,
        state.templates,
        "broadcasts/detail.html",
        {
            **_vocabulary(),
            "b": broadcast,
            "names": lookups.names(),
            "problem": None,
            "people": people,
        },
        viewer=viewer,
    )


@router.get("/{broadcast_id}/progress")
async def progress(
    broadcast_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The progress panel alone: the page asks for it every few seconds while it can change."""
    broadcast = await BroadcastDesk(state.gateway).broadcast(viewer.caller, broadcast_id)
    return render(
        request,
        state.templates,
        "broadcasts/progress.html",
        {**_vocabulary(), "b": broadcast, "problem": None},
        viewer=viewer,
    )


@router.get("/{broadcast_id}/people")
async def people(
    broadcast_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Who the broadcast still waits to send to and who it skipped, grouped by why: loaded
    after the page, asked again while the broadcast can change."""
    desk = BroadcastDesk(state.gateway)
    broadcast = await desk.broadcast(viewer.caller, broadcast_id)
    found = await desk.people(viewer.caller, broadcast)
    listed = {s: list(p.data.get("items", [])) for s, p in found.items() if p.data is not None}
    unavailable = sorted({p.unavailable for p in found.values() if p.unavailable})
    # Without script the page links here: the panels in a page of their own.
    return fragment_or_page(
        request,
        state.templates,
        "broadcasts/people.html",
        {
            **_vocabulary(),
            "b": broadcast,
            "panels": who.panels(broadcast, listed, datetime.now(UTC)),
            "unavailable": unavailable,
        },
        title="Waiting and skipped",
        back=f"{HERE}/{quote(broadcast_id, safe='')}",
        viewer=viewer,
    )


@router.get("/{broadcast_id}/messages")
async def messages(
    broadcast_id: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    status: Annotated[str, Query(max_length=20)] = "queued",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Everyone the broadcast waits for (`queued`, `held`) or skipped (`suppressed`), with
    why, a page at a time: the full list behind the panels' "and N more"."""
    if status not in who.LISTED_STATES:
        return Response(status_code=404)
    desk = BroadcastDesk(state.gateway)
    broadcast = await desk.broadcast(viewer.caller, broadcast_id)
    page = await desk.messages(viewer.caller, broadcast_id, status, cursor)
    now = datetime.now(UTC)
    rows = [
        (m, *who.waiting_reason(m, broadcast.get("schedule") or {}, now)[1:])
        if status in who.WAITING_STATES
        else (m, who.skipped_reason(m)[1], "")
        for m in page.get("items", [])
    ]
    return render(
        request,
        state.templates,
        "broadcasts/messages.html",
        {
            "b": broadcast,
            "status": status,
            "rows": rows,
            "next_cursor": page.get("next_cursor"),
            "name_of": who.name_of,
        },
        viewer=viewer,
    )


# The event that makes the page ask for the panels of who waits or was skipped again.
PEOPLE_STALE = "broadcast-people-stale"

# What the broadcast's report counts, above its table.
REPORT_INTRO = (
    "Every message of the broadcast, test groups and the rest of the audience alike (the rest "
    "got the winning subject and counts under its variant)."
)


@router.get("/{broadcast_id}/report")
async def report(
    broadcast_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The broadcast's message report (analytics): every message sent, opened, clicked,
    replied to, unsubscribed from, in total, per A/B variant and per day; loaded after the
    page, and asked again (`live=1`) while the broadcast sends and until analytics has counted
    the mail it sent."""
    desk = BroadcastDesk(state.gateway)
    live = request.query_params.get("live") == "1"
    found = await desk.report(viewer.caller, broadcast_id)
    if live:
        reported_sent = int(found.data["totals"]["sent"]) if found.data else 0
        live = rules.report_may_change(
            await desk.broadcast(viewer.caller, broadcast_id), reported_sent, datetime.now(UTC)
        )
    return report_panel(
        request,
        viewer,
        state,
        found,
        panel_url=f"{HERE}/{quote(broadcast_id, safe='')}/report",
        intro=REPORT_INTRO,
        group_label=variant_label,
        groups_caption="per A/B variant",
        live=live,
    )


@router.get("/{broadcast_id}/report.csv")
async def report_csv(
    broadcast_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """The message report as the analytics API's CSV file, comma or semicolon separated."""
    return csv_answer(
        await BroadcastDesk(state.gateway).report_csv(
            viewer.caller, broadcast_id, csv_params(request.query_params)
        )
    )


@router.get("/{broadcast_id}/failures")
async def failures(
    broadcast_id: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """Who the broadcast's failed mail was for and why, a page at a time (in a page of its own
    for a link opened without script)."""
    page = await BroadcastDesk(state.gateway).failed_messages(viewer.caller, broadcast_id, cursor)
    return fragment_or_page(
        request,
        state.templates,
        "broadcasts/failures.html",
        {**_vocabulary(), "broadcast_id": broadcast_id, "page": page},
        title="Failed mail",
        back=f"{HERE}/{broadcast_id}",
        viewer=viewer,
    )


@router.post("/{broadcast_id}/delete")
async def delete_draft(
    broadcast_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    form = await form_of(request)
    back = f"{HERE}/{quote(broadcast_id, safe='')}"
    desk = BroadcastDesk(state.gateway)

    async def question() -> Question:
        return rules.delete_question(await desk.broadcast(viewer.caller, broadcast_id))

    if asked := await asked_first_about(
        request, state.templates, viewer, form, question, back=back
    ):
        return asked
    await desk.delete(viewer.caller, broadcast_id)
    return done(request, HERE)


@router.post("/{broadcast_id}/{action}")
async def control(
    broadcast_id: str, action: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Sends, pauses, resumes or cancels; the panel shows the outcome or why the API refused.
    A draft sent goes to its page again: a draft's page has no panels of who waits or was
    skipped, nor of what became of the mail, and a sending broadcast's has them."""
    if action not in CONTROLS:
        return Response(status_code=404)
    if action == "cancel" and (
        asked := asked_first(
            request,
            state.templates,
            viewer,
            await form_of(request),
            CANCEL,
            back=f"{HERE}/{quote(broadcast_id, safe='')}",
        )
    ):
        return asked
    desk = BroadcastDesk(state.gateway)
    problem = None
    try:
        broadcast = await desk.control(viewer.caller, broadcast_id, action)
    except SignedOut:
        raise
    except ApiProblem as refused:
        problem = refused.problem
        broadcast = await desk.broadcast(viewer.caller, broadcast_id)
    page = f"{HERE}/{quote(broadcast_id, safe='')}"
    if problem is None and (action == "send" or not is_htmx(request)):
        return done(request, page)
    if not is_htmx(request):
        # Refused, without script: the progress panel with why, as a page linking back.
        return fragment_or_page(
            request,
            state.templates,
            "broadcasts/progress.html",
            {**_vocabulary(), "b": broadcast, "problem": problem},
            title=str(broadcast.get("name") or "Broadcast"),
            back=page,
            viewer=viewer,
            status_code=problem.status if problem else 200,
        )
    answer = render(
        request,
        state.templates,
        "broadcasts/progress.html",
        {**_vocabulary(), "b": broadcast, "problem": problem},
        viewer=viewer,
    )
    if problem is None:
        # Who waits (a cancel leaves nobody waiting) is asked again at once, not at its poll,
        # which a broadcast that stopped being live no longer has.
        answer.headers["HX-Trigger"] = PEOPLE_STALE
    return answer

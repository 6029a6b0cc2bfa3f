"""Sequence pages: the list, the step builder (every step kind, trigger, exits, re-entry), a
sequence with its enrolments by state, pause and resume, enrolling by hand."""

from __future__ import annotations

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
    done,
    form_of,
    fragment_or_page,
    is_htmx,
    render,
    require,
)
from crm_console.api.forms import form_values
from crm_console.api.message_reports import csv_answer, day_chart, report_panel
from crm_console.application.enrolment_reports import EnrolmentReports
from crm_console.application.message_reports import MessageReports
from crm_console.application.sequences import BuilderChoices, SequenceDesk
from crm_console.domain import sequences as rules
from crm_console.domain.csv_files import csv_params
from crm_console.domain.forms import first
from crm_console.domain.message_reports import figure_cell, step_label
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.pools import REFUSAL_REASONS
from crm_console.domain.problems import Problem

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/sequences", include_in_schema=False)
HERE = f"{CONSOLE_PREFIX}/sequences"
# What an enrolment's row (sequences/enrolment_row.html) needs, on the page and after an action.
ENROLMENT_ROW_HELPERS: dict[str, object] = {
    "enrolment_name": rules.enrolment_name,
    "enrolment_actions": rules.enrolment_actions,
    "action_label": rules.action_label,
    "exit_label": rules.exit_label,
    "step_shown": rules.step_shown,
    "step_problem_lines": rules.step_problem_lines,
}


def _vocabulary() -> dict[str, Any]:
    return {
        "step_kinds": rules.STEP_KINDS,
        "trigger_kinds": rules.TRIGGER_KINDS,
        "exit_reasons": rules.EXIT_REASONS,
        "reentry_policies": rules.REENTRY_POLICIES,
        "weekdays": rules.WEEKDAYS,
        "conditions": rules.BRANCH_CONDITIONS,
    }


@router.get("")
async def sequence_list(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The tenant's sequences with their status and trigger."""
    desk = SequenceDesk(state.gateway)
    sequences = await desk.all(viewer.caller)
    names = (await desk.builder_choices(viewer.caller)).names() if sequences.items else {}
    return render(
        request,
        state.templates,
        "sequences/list.html",
        {"sequences": sequences, "names": names, "describe_trigger": rules.describe_trigger},
        viewer=viewer,
    )


async def _builder(
    request: Request,
    viewer: Viewer,
    state: Container,
    *,
    sequence: dict[str, Any] | None,
    definition: dict[str, Any],
    keys: list[str],
    problem: Problem | None = None,
    fragment: bool = False,
    lookups: BuilderChoices | None = None,
) -> HTMLResponse:
    if lookups is None:
        lookups = await SequenceDesk(state.gateway).builder_choices(viewer.caller)
    return render(
        request,
        state.templates,
        "sequences/builder_form.html"
        if fragment and is_htmx(request)
        else "sequences/builder.html",
        {
            **_vocabulary(),
            "sequence": sequence,
            "definition": definition,
            "trigger": definition.get("trigger", {"type": "manual"}),
            "steps": rules.step_forms(keys, definition.get("steps", []), problem),
            "errors": rules.other_errors(problem),
            "problem": problem,
            "lookups": lookups,
        },
        viewer=viewer,
        status_code=problem.status if problem else 200,
    )


@router.get("/new")
async def new_sequence(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """An empty builder: a manual trigger, one send step, the usual exits."""
    require(viewer, "sequences:write")
    definition = {
        "name": "",
        "trigger": {"type": "manual"},
        "steps": [{"type": "send"}],
        "reentry": {"policy": "never"},
        "exit_on": list(rules.DEFAULT_EXITS),
    }
    return await _builder(request, viewer, state, sequence=None, definition=definition, keys=[])


@router.get("/step")
async def new_step(
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    kind: Annotated[str, Query(alias="new_step_kind")] = "send",
) -> HTMLResponse:
    """One more step of the chosen kind, for the builder to append."""
    step = rules.step_form(kind if kind in rules.STEP_KINDS else "send")
    lookups = await SequenceDesk(state.gateway).builder_choices(viewer.caller)
    return render(
        request,
        state.templates,
        "sequences/step.html",
        {**_vocabulary(), "step": step, "lookups": lookups},
        viewer=viewer,
    )


@router.get("/trigger-fields")
async def trigger_fields(
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    trigger_type: str = "manual",
) -> HTMLResponse:
    """The fields of the chosen trigger kind."""
    lookups = await SequenceDesk(state.gateway).builder_choices(viewer.caller)
    return render(
        request,
        state.templates,
        "sequences/trigger_fields.html",
        {"trigger": {"type": trigger_type}, "lookups": lookups, "errors": {}, "sequence": None},
        viewer=viewer,
    )


async def _save(
    sequence_id: str | None, request: Request, viewer: Viewer, state: Container
) -> Response:
    form = await form_values(request)
    keys, definition = rules.definition_from_form(form)
    desk = SequenceDesk(state.gateway)
    sequence = {"id": sequence_id, "version": first(form, "version")} if sequence_id else None
    if sequence_id is None:
        definition["enrol_current_members"] = first(form, "enrol_current_members") == "on"
    reshaped = rules.reshaped_without_script(form, keys, definition["steps"])
    if reshaped is not None:
        # "Add step" or a step's "Remove" posted without script: the builder again, changed,
        # and nothing saved.
        keys, definition["steps"] = reshaped
        return await _builder(
            request, viewer, state, sequence=sequence, definition=definition, keys=keys
        )
    # Read only for a definition naming a pool stage, and then reused for the form again.
    lookups = (
        await desk.builder_choices(viewer.caller) if rules.names_pool_stage(definition) else None
    )
    problem = rules.stage_problem(definition, lookups.pools.items if lookups else [])
    if problem is None:
        try:
            if sequence_id is None:
                saved = await desk.create(viewer.caller, definition)
            else:
                saved = await desk.edit(
                    viewer.caller, sequence_id, definition, first(form, "version")
                )
            return done(request, f"{HERE}/{saved['id']}")
        except SignedOut:
            raise
        except ApiProblem as refused:
            problem = refused.problem
    return await _builder(
        request,
        viewer,
        state,
        sequence=sequence,
        definition=definition,
        keys=keys,
        problem=problem,
        fragment=True,
        lookups=lookups,
    )


@router.post("")
async def create_sequence(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    return await _save(None, request, viewer, state)


@router.get("/{sequence_id}")
async def sequence_page(
    sequence_id: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    people: PagePeople,
    enrolment_state: Annotated[str, Query(alias="state")] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """A sequence: its definition, status, enrolments by state (fifty a page) with the reason
    of each failed or ended one."""
    shown = enrolment_state if enrolment_state in rules.ENROLMENT_STATES else ""
    view = await SequenceDesk(state.gateway).view(viewer.caller, sequence_id, shown or None, cursor)
    return render(
        request,
        state.templates,
        "sequences/detail.html",
        {
            "view": view,
            "shown_state": shown,
            "enrolment_states": rules.ENROLMENT_STATES,
            "actions": rules.sequence_actions(view.sequence["status"]),
            "describe_trigger": rules.describe_trigger,
            "describe_step": rules.describe_step,
            "exit_reasons": rules.EXIT_REASONS,
            **ENROLMENT_ROW_HELPERS,
            "people": people,
        },
        viewer=viewer,
    )


# What the sequence's report counts, above its table.
REPORT_INTRO = (
    "Every message the sequence sent, per step: the step's place in the sequence when it sent "
    "(a step moved by an edit keeps its old number for the mail sent before)."
)


@router.get("/{sequence_id}/report")
async def report(
    sequence_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The sequence's message report (analytics): its mail in total, per step and per day;
    loaded after the page."""
    found = await MessageReports(state.gateway).report(viewer.caller, "sequence", sequence_id)
    return report_panel(
        request,
        viewer,
        state,
        found,
        panel_url=f"{HERE}/{quote(sequence_id, safe='')}/report",
        intro=REPORT_INTRO,
        group_label=step_label,
        groups_caption="per step",
    )


@router.get("/{sequence_id}/report.csv")
async def report_csv(
    sequence_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """The message report as the analytics API's CSV file, comma or semicolon separated."""
    return csv_answer(
        await MessageReports(state.gateway).csv(
            viewer.caller, "sequence", sequence_id, csv_params(request.query_params)
        )
    )


@router.get("/{sequence_id}/enrolment-report")
async def enrolment_report(
    sequence_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The sequence's enrolment report (analytics): entered, completed, left early and why, and
    enrolled now; loaded after the page."""
    found = await EnrolmentReports(state.gateway).report(viewer.caller, sequence_id)
    panel_url = f"{HERE}/{quote(sequence_id, safe='')}/enrolment-report"
    return fragment_or_page(
        request,
        state.templates,
        "sequences/enrolment_report.html",
        {
            "report": found,
            "panel_url": panel_url,
            "csv_href": f"{panel_url}.csv",
            "figure_cell": figure_cell,
            "ended_because": rules.ended_because,
            "day_chart": day_chart(found, rules.ENROLMENT_CHART, title="Enrolments per day"),
        },
        title="How the enrolments went",
        back=f"{HERE}/{quote(sequence_id, safe='')}",
        viewer=viewer,
    )


@router.get("/{sequence_id}/enrolment-report.csv")
async def enrolment_report_csv(
    sequence_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """The enrolment report as the analytics API's CSV file, comma or semicolon separated."""
    return csv_answer(
        await EnrolmentReports(state.gateway).csv(
            viewer.caller, sequence_id, csv_params(request.query_params)
        )
    )


@router.get("/{sequence_id}/edit")
async def edit_sequence(
    sequence_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The builder with the sequence's definition."""
    sequence = await SequenceDesk(state.gateway).sequence(viewer.caller, sequence_id)
    return await _builder(request, viewer, state, sequence=sequence, definition=sequence, keys=[])


@router.post("/{sequence_id}")
async def change_sequence(
    sequence_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    return await _save(sequence_id, request, viewer, state)


@router.post("/{sequence_id}/pause")
async def pause_sequence(
    sequence_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Pauses the sequence (the API says 409 when it is not active)."""
    await SequenceDesk(state.gateway).change_status(viewer.caller, sequence_id, "pause")
    return done(request, f"{HERE}/{sequence_id}")


@router.post("/{sequence_id}/resume")
async def resume_sequence(
    sequence_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Resumes the sequence (the API says 409 when it is not paused)."""
    await SequenceDesk(state.gateway).change_status(viewer.caller, sequence_id, "resume")
    return done(request, f"{HERE}/{sequence_id}")


@router.get("/{sequence_id}/candidates")
async def enrol_choice(
    sequence_id: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    candidate_q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """Candidates to enrol, as the person searches; those chosen already are ticked."""
    found = await SequenceDesk(state.gateway).find_candidates(viewer.caller, candidate_q)
    chosen = {person.candidate_id for person in rules.chosen_people(_query(request))}
    return render(
        request,
        state.templates,
        "sequences/enrol_choice.html",
        {"candidates": found, "sequence_id": sequence_id, "chosen_ids": chosen},
    )


def _query(request: Request) -> dict[str, list[str]]:
    return {name: request.query_params.getlist(name) for name in request.query_params}


@router.get("/{sequence_id}/chosen")
async def chosen_list(
    sequence_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The chosen list after a search result was ticked or unticked, or a chosen person
    removed: kept across searches, so what is enrolled is what was chosen (no API call)."""
    query = _query(request)
    toggled = first(query, "toggle_id")
    removed = first(query, "remove_id")
    people = rules.chosen_people(
        query,
        toggled=toggled,
        toggled_name=first(query, "toggle_name"),
        ticked=toggled in query.get("pick", []),
        removed=removed,
    )
    return render(
        request,
        state.templates,
        "sequences/enrol_chosen.html",
        {"chosen": people, "sequence_id": sequence_id},
        viewer=viewer,
        # A removal unticks the person in the results, which search again.
        headers={"HX-Trigger": "enrol-chosen-changed"} if removed else None,
    )


@router.post("/{sequence_id}/enrolments")
async def enrol(
    sequence_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Enrols the chosen candidates; says who was enrolled and why others were not."""
    form = await form_values(request)
    candidate_ids = [c for c in form.get("candidate_id", []) if c]
    # The chosen list sends each person's name beside their id: the outcome names them.
    names = dict(zip(form.get("candidate_id", []), form.get("chosen_name", []), strict=False))
    outcome: dict[str, Any] | None = None
    problem: Problem | None = None
    if candidate_ids:
        try:
            outcome = await SequenceDesk(state.gateway).enrol(
                viewer.caller, sequence_id, candidate_ids
            )
        except SignedOut:
            raise
        except ApiProblem as refused:
            problem = refused.problem
    return fragment_or_page(
        request,
        state.templates,
        "sequences/enrol_outcome.html",
        {
            "outcome": outcome,
            "problem": problem,
            "sequence_id": sequence_id,
            "clear": bool(outcome),
            "names": names,
            "refusal_reasons": REFUSAL_REASONS,
        },
        title="Enrolment",
        back=f"{CONSOLE_PREFIX}/sequences/{sequence_id}",
        viewer=viewer,
        # Enrolled: the table refreshes, the chosen list empties, the results untick.
        headers={"HX-Trigger": "enrolments-changed, enrol-chosen-changed"} if outcome else None,
    )


@router.post("/{sequence_id}/enrolments/{candidate_id}/{action}")
async def enrolment_action(
    sequence_id: str,
    candidate_id: str,
    action: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    people: PagePeople,
) -> Response:
    """Pauses, resumes or retries one enrolment, or removes the candidate from the sequence;
    says so above the table and puts the row and the counts by state in place (the API's
    refusal is shown above the table)."""
    if action not in rules.ENROLMENT_ACTIONS:
        return Response(status_code=404)
    page = f"{HERE}/{sequence_id}"
    if action == "remove" and (
        asked := asked_first(
            request,
            state.templates,
            viewer,
            await form_of(request),
            rules.REMOVE_QUESTION,
            back=page,
        )
    ):
        return asked
    desk = SequenceDesk(state.gateway)
    answer = await desk.act_on_enrolment(viewer.caller, sequence_id, candidate_id, action)
    if not is_htmx(request):
        return done(request, page)
    counts = await desk.state_counts(viewer.caller, sequence_id)
    # The API's answer carries no name: the row's button sent the one it showed.
    form = await form_values(request)
    shown = rules.answered_row(answer, first(form, "name"))
    # Nor the sequence's number of steps (its row says "end" past the last): the row sent it.
    steps = first(form, "steps")
    return render(
        request,
        state.templates,
        "sequences/enrolment_done.html",
        {
            "said": rules.enrolment_done(action, answer),
            # The row and the counts are re-rendered from the API's answers, not re-read
            # with the table, so the row shows the state the action produced.
            "e": shown,
            "counts": {st: counts.get(st, 0) for st in rules.ENROLMENT_STATES},
            "sequence_id": sequence_id,
            "step_total": int(steps) if steps.isdigit() else None,
            **ENROLMENT_ROW_HELPERS,
            "people": people,
        },
        viewer=viewer,
        # The enrolment report (analytics) follows the action a moment later: its panel asks
        # again (sequences/enrolment_report.html).
        headers={"HX-Trigger": "enrolment-report-stale"},
    )

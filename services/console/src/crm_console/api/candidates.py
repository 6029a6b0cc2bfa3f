"""Candidate pages: search as you type, the profile with its notes, duplicates and the
side-by-side merge with undo, GDPR export and erasure."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
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
from crm_console.api.selection import bulk_form_answer
from crm_console.application.candidates import CandidateDirectory
from crm_console.application.parts import Part, part
from crm_console.application.pools import Choices, TalentPools
from crm_console.application.sequences import SequenceDesk
from crm_console.application.session_memo import Memo
from crm_console.domain import sequences as sequence_rules
from crm_console.domain.candidate_form import (
    CHANGED_MEANWHILE,
    CONSENT_ACTIONS,
    CONSENT_PURPOSES,
    LAWFUL_BASES,
    LIST_FIELDS,
    REQUIRED,
    TEXT_FIELDS,
    changed_meanwhile,
    changes,
    consent_body,
    create_body,
    custom_inputs,
    form_errors,
)
from crm_console.domain.candidates import (
    CONSENT,
    SORTS,
    SOURCES,
    CandidateFilters,
    placement_value,
    skills_cell,
)
from crm_console.domain.forms import FormValues, first
from crm_console.domain.merging import UNDO_MERGE, merge_choices
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.pools import BulkRequest
from crm_console.domain.problems import Problem
from crm_console.domain.profile import (
    erasure_confirmed,
    erasure_phrase,
    full_name,
    pools_to_add_to,
)

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/candidates", include_in_schema=False)
CONSENT_CHOICES: dict[str, object] = {
    "purposes": CONSENT_PURPOSES,
    "consent_actions": CONSENT_ACTIONS,
    "lawful_bases": LAWFUL_BASES,
}

# What the Sequences panel needs to name an enrolment's state, reason and actions.
ENROLMENT_HELPERS: dict[str, object] = {
    "exit_label": sequence_rules.exit_label,
    "enrolment_actions": sequence_rules.enrolment_actions,
    "action_label": sequence_rules.action_label,
    "step_problem_lines": sequence_rules.step_problem_lines,
}

# A create names a few identifiers another record holds; a longer address is not ours.
LEFT_OUT_NAMED = 10


def _form_text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _redirect(request: Request, target: str) -> Response:
    """To another page: htmx follows `HX-Redirect`, a plain form the `Location`."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return Response(status_code=303, headers={"Location": target})


@router.get("")
async def candidate_list(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The search page; htmx asks for the results alone as the person types."""
    filters = CandidateFilters.from_query(dict(request.query_params))
    directory = CandidateDirectory(state.gateway)
    context: dict[str, object] = {
        "filters": filters,
        "sources": SOURCES,
        "sorts": SORTS,
        "skills_cell": skills_cell,
    }
    if is_htmx(request):
        context["page"] = await directory.search(viewer.caller, filters)
        return render(request, state.templates, "candidates/results.html", context, viewer=viewer)
    pools = TalentPools(state.gateway)
    page, choices, sequences = await asyncio.gather(
        directory.search(viewer.caller, filters),
        directory.filter_choices(viewer.caller),
        pools.sequences(viewer.caller) if viewer.may("sequences:write") else _nothing(),
    )
    context.update(
        page=page,
        choices=choices,
        # The bulk actions offer the pools the filter lists (with their stages): no other read.
        bulk_choices=Choices(pools=choices.pools, sequences=sequences),
        bulk={},
        errors={},
        summary=[],
        consent=CONSENT,
        placement_value=placement_value,
    )
    return render(request, state.templates, "candidates/list.html", context, viewer=viewer)


async def _nothing() -> None:
    return None


@router.post("/bulk")
async def bulk_action(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """Adds the candidates ticked in the list to a pool (at a stage), tags them or enrols them
    in a sequence (one API call); the form says what became of each, naming who was not."""
    return await bulk_form_answer(
        request,
        viewer,
        state,
        bulk_url=f"{CONSOLE_PREFIX}/candidates/bulk",
        where="in the list",
        select_all=True,
    )


def _form_context(
    candidate: dict[str, Any],
    definitions: list[dict[str, Any]],
    *,
    problem: Problem | None = None,
    **extra: object,
) -> dict[str, object]:
    """What the candidate form shows: the values (as stored or as typed), the typed custom
    inputs, and the API's errors at their fields."""
    errors = form_errors(problem.paths, problem.field_errors) if problem else {}
    return {
        "candidate": candidate,
        "custom": custom_inputs(definitions, candidate.get("custom_fields") or {}, errors),
        "text_fields": TEXT_FIELDS,
        "list_fields": LIST_FIELDS,
        "required": REQUIRED,
        "sources": SOURCES,
        "errors": errors,
        "problem": problem,
        **extra,
    }


def _as_typed(form: FormValues, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The form's values in the candidate's shape, to show again what was typed."""
    typed: dict[str, Any] = dict(base or {})
    for name in TEXT_FIELDS:
        typed[name] = (form.get(name) or [""])[0]
    for name in LIST_FIELDS:
        typed[name] = [(form.get(name) or [""])[0]]
    custom = dict(typed.get("custom_fields") or {})
    for name, values in form.items():
        if name.startswith("cf-"):
            custom[name[3:]] = list(values) if len(values) > 1 else (values[0] if values else "")
    typed["custom_fields"] = custom
    typed["source"] = (form.get("source") or [typed.get("source") or ""])[0]
    return typed


def _form_problem(
    request: Request,
    state: Container,
    viewer: Viewer,
    context: dict[str, object],
) -> HTMLResponse:
    problem = context.get("problem")
    status_code = problem.status if isinstance(problem, Problem) else 200
    return render(
        request,
        state.templates,
        "candidates/form_fields.html",
        context,
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/new")
async def new_candidate(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The form for a new candidate, with the tenant's custom fields."""
    require(viewer, "candidates:write")
    definitions = await CandidateDirectory(state.gateway).definitions(viewer.caller)
    context = _form_context({"source": "sourced"}, definitions, mode="new")
    return render(request, state.templates, "candidates/form.html", context, viewer=viewer)


@router.post("")
async def create_candidate(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """Creates the candidate and opens their profile; a person already on file is linked,
    a refusal shown at its field."""
    directory = CandidateDirectory(state.gateway)
    form = await form_values(request)
    definitions = await directory.definitions(viewer.caller)
    typed = _as_typed(form)
    try:
        created = await directory.create(viewer.caller, create_body(form, definitions))
    except SignedOut:
        raise
    except ApiProblem as refused:
        if refused.problem.status not in (400, 409, 422):
            raise
        context = _form_context(typed, definitions, problem=refused.problem, mode="new")
        context["existing_id"] = refused.problem.extensions.get("existing_candidate_id")
        return _form_problem(request, state, viewer, context)
    if created.get("created") is False:
        context = _form_context(typed, definitions, mode="new", on_file=created)
        return _form_problem(request, state, viewer, context)
    # A number someone else holds too (a family's, an office's) stays theirs: the page says
    # whose (`left_out`).
    left_out = urlencode([("left_out", value) for value in created.get("identifiers_left_out", [])])
    target = f"{CONSOLE_PREFIX}/candidates/{created['id']}"
    return _redirect(request, f"{target}?{left_out}" if left_out else target)


@router.get("/merges/{merge_id}")
async def merge_page(
    merge_id: str, request: Request, viewer: CurrentViewer, state: Container, people: PagePeople
) -> HTMLResponse:
    """A merge: which record was folded into which, and its undo."""
    merge = await CandidateDirectory(state.gateway).merge_record(viewer.caller, merge_id)
    return render(
        request,
        state.templates,
        "candidates/merge_done.html",
        {"merge": merge, "people": people},
        viewer=viewer,
    )


@router.post("/merges/{merge_id}/undo")
async def undo_merge(
    merge_id: str, request: Request, viewer: CurrentViewer, state: Container, people: PagePeople
) -> Response:
    """Undoes a merge; the page's merge panel is replaced by its new state (without script,
    the merge's page again, once asked)."""
    page = f"{CONSOLE_PREFIX}/candidates/merges/{merge_id}"
    form = await form_of(request)
    if asked := asked_first(request, state.templates, viewer, form, UNDO_MERGE, back=page):
        return asked
    merge = await CandidateDirectory(state.gateway).undo_merge(viewer.caller, merge_id)
    if not is_htmx(request):
        return done(request, page)
    return render(
        request,
        state.templates,
        "candidates/merge_status.html",
        {"merge": merge, "undone_now": True, "people": people},
        viewer=viewer,
    )


# Who may open a profile may load each of its panels, and nobody else: the page and every
# panel route ask for the same permission before any API call (the API checks each call too).
PROFILE_PERMISSION = "candidates:read"


def profile_viewer(viewer: CurrentViewer) -> Viewer:
    require(viewer, PROFILE_PERMISSION)
    return viewer


ProfileViewer = Annotated[Viewer, Depends(profile_viewer)]


def _memo(state: Container, viewer: Viewer) -> Memo:
    """The session's recent reads: the profile page's candidate, for the pools and ATS panels
    it loads after it (one read of the candidate per profile, not three)."""
    return state.memo.of(viewer.caller, viewer.principal.tenant_id)


@router.get("/{candidate_id}")
async def candidate_profile(
    candidate_id: str,
    request: Request,
    viewer: ProfileViewer,
    state: Container,
    people: PagePeople,
) -> HTMLResponse:
    """The candidate's own record (contact data, custom fields, marketing consent) at once; the
    page then loads each other panel from its own route (`/panels/...`), so a slow or failing
    panel holds nothing else up."""
    directory = CandidateDirectory(state.gateway, _memo(state, viewer))
    profile = await directory.profile(viewer.caller, candidate_id)
    # After a create that left out identifiers another record holds: each named with the
    # record that holds it as read now, so a crafted address names nobody who does not.
    left_out = request.query_params.getlist("left_out")[:LEFT_OUT_NAMED]
    held_elsewhere = await directory.holders(viewer.caller, left_out, but=candidate_id)
    return render(
        request,
        state.templates,
        "candidates/profile.html",
        {
            "profile": profile,
            "errors": {},
            "typed": {},
            "people": people,
            # After "Record consent" (the page is reloaded): the template says so for "consent"
            # alone, so a crafted address can make it say nothing else.
            "done": request.query_params.get("done"),
            "held_elsewhere": held_elsewhere,
            **CONSENT_CHOICES,
        },
        viewer=viewer,
    )


def _panel(
    request: Request,
    state: Container,
    viewer: Viewer,
    candidate_id: str,
    template: str,
    context: dict[str, object],
) -> HTMLResponse:
    """A profile panel: the fragment htmx puts in its place, or, for a browser without script
    (the page's `<noscript>` link), a page of that panel alone. A panel whose call failed says
    why inside it (a 200: the page around it is fine)."""
    context = {"candidate_id": candidate_id, **context}
    if is_htmx(request):
        return render(request, state.templates, template, context, viewer=viewer)
    return render(
        request,
        state.templates,
        "candidates/panel_page.html",
        # Its own name: a panel's context may hold a `panel` of its own (the ATS panel does).
        {**context, "panel_template": template},
        viewer=viewer,
    )


def _panel_answer(
    request: Request,
    state: Container,
    viewer: Viewer,
    candidate_id: str,
    template: str,
    context: dict[str, object],
    *,
    page: str,
    status_code: int = 200,
) -> Response:
    """The answer to a form of a profile panel: htmx swaps in the panel read again. A browser
    without script posted the form of the panel's own page (`page`: that page's path, or the
    profile's): a write that took sends it back there (303, so a reload does not post
    again), a refusal is that page with the reason at its field, never a bare fragment."""
    context = {"candidate_id": candidate_id, **context}
    if is_htmx(request):
        return render(
            request, state.templates, template, context, viewer=viewer, status_code=status_code
        )
    if status_code < 400:
        return Response(status_code=303, headers={"Location": page})
    return render(
        request,
        state.templates,
        "candidates/panel_page.html",
        {**context, "panel_template": template},
        viewer=viewer,
        status_code=status_code,
    )


def _panel_path(candidate_id: str, panel: str) -> str:
    return f"{CONSOLE_PREFIX}/candidates/{candidate_id}/panels/{panel}"


@router.get("/{candidate_id}/panels/suppressions")
async def suppressions_panel(
    candidate_id: str, request: Request, viewer: ProfileViewer, state: Container
) -> HTMLResponse:
    """The "Do not e-mail this person" notice (nothing when no address of theirs is kept from
    mail), or that it is not known."""
    suppressed = await CandidateDirectory(state.gateway).suppressions(viewer.caller, candidate_id)
    return _panel(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/panels/suppressions.html",
        {"suppressed": suppressed},
    )


@router.get("/{candidate_id}/panels/pools")
async def pools_panel(
    candidate_id: str, request: Request, viewer: ProfileViewer, state: Container
) -> HTMLResponse:
    """The talent pools the person is in, by name, with "Add to pool"."""
    directory = CandidateDirectory(state.gateway, _memo(state, viewer))
    read = await part(directory.placements(viewer.caller, candidate_id, as_the_page_read=True))
    context: dict[str, object] = {
        "unavailable": read.unavailable,
        "bulk": {},
        "errors": {},
        "problem": None,
        "summary": [],
    }
    if read.unavailable is None:
        candidate, placed, pools = read.data
        context.update(
            candidate_name=full_name(candidate),
            placements=placed,
            pool_choices=pools_to_add_to(pools, placed),
            may_add=viewer.may("pools:write") and (candidate.get("status") or "active") == "active",
        )
    return _panel(request, state, viewer, candidate_id, "candidates/pools_panel.html", context)


@router.get("/{candidate_id}/panels/segments")
async def segments_panel(
    candidate_id: str, request: Request, viewer: ProfileViewer, state: Container
) -> HTMLResponse:
    """The segments the person is in now."""
    segments = await CandidateDirectory(state.gateway).segments(viewer.caller, candidate_id)
    return _panel(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/panels/segments.html",
        {"segments": segments},
    )


@router.get("/{candidate_id}/panels/engagement")
async def engagement_panel(
    candidate_id: str, request: Request, viewer: ProfileViewer, state: Container
) -> HTMLResponse:
    """The engagement score and what makes it up."""
    engagement = await CandidateDirectory(state.gateway).engagement(viewer.caller, candidate_id)
    return _panel(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/panels/engagement.html",
        {"engagement": engagement},
    )


@router.get("/{candidate_id}/panels/consents")
async def consents_panel(
    candidate_id: str,
    request: Request,
    viewer: ProfileViewer,
    state: Container,
    people: PagePeople,
) -> HTMLResponse:
    """The consent state per purpose and the ledger (who recorded each change, by name)."""
    consents = await CandidateDirectory(state.gateway).consents(viewer.caller, candidate_id)
    return _panel(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/panels/consents.html",
        {"consents": consents, "people": people},
    )


@router.get("/{candidate_id}/panels/ats")
async def ats_panel(
    candidate_id: str, request: Request, viewer: ProfileViewer, state: Container
) -> HTMLResponse:
    """Where the person was sent, the applications the ATS reported and "Send to ATS"."""
    may_push = viewer.may("ats:write")
    directory = CandidateDirectory(state.gateway, _memo(state, viewer))
    panel = await directory.ats_panel(viewer.caller, candidate_id, may_push=may_push)
    return _panel(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/panels/ats.html",
        {"panel": panel, "may_push": may_push},
    )


@router.get("/{candidate_id}/panels/duplicates")
async def duplicates_panel(
    candidate_id: str, request: Request, viewer: ProfileViewer, state: Container
) -> HTMLResponse:
    """The five records likeliest to be the same person, each linked to the merge."""
    duplicates = await CandidateDirectory(state.gateway).suggestions(viewer.caller, candidate_id)
    return _panel(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/panels/duplicates.html",
        {"duplicates": duplicates},
    )


@router.get("/{candidate_id}/panels/notes")
async def notes_panel(
    candidate_id: str,
    request: Request,
    viewer: ProfileViewer,
    state: Container,
    people: PagePeople,
) -> HTMLResponse:
    """The newest notes, with the form for a new one unless the record was merged away (it
    takes none: the API refuses them). The record decides, not the address: the candidate as
    the profile page just read it."""
    directory = CandidateDirectory(state.gateway, _memo(state, viewer))
    notes, candidate = await asyncio.gather(
        part(directory.notes(viewer.caller, candidate_id)),
        part(directory.page_candidate(viewer.caller, candidate_id)),
    )
    return _panel(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/notes.html",
        {
            "notes": notes.data or [],
            "unavailable": notes.unavailable,
            "errors": {},
            "typed": "",
            "read_only": _merged_away(candidate),
            "people": people,
        },
    )


def _merged_away(candidate: Part) -> bool:
    """Whether the record was merged away; an unread record is not assumed so (the API
    refuses a note on a merged one whatever the form)."""
    return isinstance(candidate.data, dict) and candidate.data.get("status") == "merged"


@router.get("/{candidate_id}/panels/sequences")
async def sequences_panel(
    candidate_id: str,
    request: Request,
    viewer: ProfileViewer,
    state: Container,
    people: PagePeople,
) -> HTMLResponse:
    """Every sequence the person is or was in, with the enrolment's actions unless the record
    was merged away (its enrolments went on under the survivor; the API refuses enrolling it).
    The record decides, not the address: the candidate as the profile page just read it."""
    directory = CandidateDirectory(state.gateway, _memo(state, viewer))
    enrolments, candidate = await asyncio.gather(
        directory.enrolments(viewer.caller, candidate_id),
        part(directory.page_candidate(viewer.caller, candidate_id)),
    )
    return _panel(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/sequences_panel.html",
        {
            "enrolments": enrolments,
            "may_act": viewer.may("sequences:write") and not _merged_away(candidate),
            "said": None,
            "problem": None,
            "people": people,
            **ENROLMENT_HELPERS,
        },
    )


@router.get("/{candidate_id}/panels/replies")
async def replies_panel(
    candidate_id: str, request: Request, viewer: ProfileViewer, state: Container
) -> HTMLResponse:
    """The Replies card: the newest page of the person's replies to our mail."""
    replies = await part(CandidateDirectory(state.gateway).replies(viewer.caller, candidate_id))
    return _panel(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/panels/replies.html",
        {"replies": replies},
    )


@router.get("/{candidate_id}/panels/timeline")
async def timeline_panel(
    candidate_id: str, request: Request, viewer: ProfileViewer, state: Container
) -> HTMLResponse:
    """The activity timeline, one sentence per entry."""
    timeline = await CandidateDirectory(state.gateway).timeline(viewer.caller, candidate_id)
    return _panel(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/panels/timeline.html",
        {"timeline": timeline},
    )


@router.get("/{candidate_id}/replies")
async def candidate_replies(
    candidate_id: str,
    request: Request,
    viewer: ProfileViewer,
    state: Container,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """A page of the Replies card, newest first: the one after `cursor` ("Older replies")."""
    replies = await CandidateDirectory(state.gateway).replies(viewer.caller, candidate_id, cursor)
    # Without script "Older replies" is a link: the page of replies as a page of its own.
    return fragment_or_page(
        request,
        state.templates,
        "candidates/replies.html",
        {"candidate_id": candidate_id, "replies": replies},
        title="Replies",
        back=f"{CONSOLE_PREFIX}/candidates/{candidate_id}",
        viewer=viewer,
    )


@router.post("/{candidate_id}/sequences/{sequence_id}/{action}")
async def act_on_enrolment(
    candidate_id: str,
    sequence_id: str,
    action: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    people: PagePeople,
) -> Response:
    """Pauses, resumes or retries the person's enrolment in a sequence, or removes them from
    it, as the sequence's page does; the Sequences panel comes back read again with what
    happened, or the API's refusal (a 409 for an enrolment that ended meanwhile, a 403)."""
    if action not in sequence_rules.ENROLMENT_ACTIONS:
        return HTMLResponse(status_code=404)
    if action == "remove" and (
        asked := asked_first(
            request,
            state.templates,
            viewer,
            await form_of(request),
            sequence_rules.REMOVE_QUESTION,
            back=_panel_path(candidate_id, "sequences"),
        )
    ):
        return asked
    said = None
    problem = None
    try:
        answer = await SequenceDesk(state.gateway).act_on_enrolment(
            viewer.caller, sequence_id, candidate_id, action
        )
        said = sequence_rules.enrolment_done(action, answer)
    except SignedOut:
        raise
    except ApiProblem as refused:
        problem = refused.problem
    # An answer to a change reads the record again (merged away meanwhile: no buttons).
    directory = CandidateDirectory(state.gateway)
    enrolments, candidate = await asyncio.gather(
        directory.enrolments(viewer.caller, candidate_id),
        part(directory.candidate(viewer.caller, candidate_id)),
    )
    return _panel_answer(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/sequences_panel.html",
        {
            "enrolments": enrolments,
            "may_act": viewer.may("sequences:write") and not _merged_away(candidate),
            "said": said,
            "problem": problem,
            "people": people,
            **ENROLMENT_HELPERS,
        },
        page=_panel_path(candidate_id, "sequences"),
        status_code=problem.status if problem else 200,
    )


@router.post("/{candidate_id}/pools")
async def add_to_pool(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Adds the candidate to the pool (at the stage) chosen on the profile, as the bulk action
    does for one; the pools panel comes back with the placements read again and what became
    of the addition (added, a member already, not active), or the API's refusal."""
    form = {key: str(value) for key, value in (await request.form()).items()}
    bulk = BulkRequest.from_form({**form, "action": "add_to_pool"}, [candidate_id])
    errors = {key: said for key, said in bulk.errors().items() if key == "target_pool"}
    directory = CandidateDirectory(state.gateway)
    summary: list[str] = []
    problem = None
    if not errors:
        pools_api = TalentPools(state.gateway)
        try:
            every_pool = await pools_api.pools(viewer.caller)
            done = await pools_api.act(
                viewer.caller, bulk, Choices(pools=every_pool, sequences=None)
            )
            summary = done.lines
        except SignedOut:
            raise
        except ApiProblem as refused:
            problem = refused.problem
            errors = dict(refused.problem.field_errors)
    candidate, placed, pools = await directory.placements(viewer.caller, candidate_id)
    return _panel_answer(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/pools_panel.html",
        {
            "candidate_name": full_name(candidate),
            "placements": placed,
            "pool_choices": pools_to_add_to(pools, placed),
            "may_add": viewer.may("pools:write"),
            # Done: the select starts empty again; refused: it keeps the choice.
            "bulk": {} if summary else bulk,
            "errors": errors,
            "problem": problem,
            "summary": summary,
        },
        page=_panel_path(candidate_id, "pools"),
        status_code=422 if errors and not problem else (problem.status if problem else 200),
    )


@router.post("/{candidate_id}/notes")
async def add_note(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container, people: PagePeople
) -> Response:
    """Writes a note and answers with the notes panel; a refusal shows next to the text."""
    directory = CandidateDirectory(state.gateway)
    body = _form_text((await request.form()).get("body"))
    context: dict[str, object] = {"candidate_id": candidate_id, "typed": "", "people": people}
    status_code = 200
    try:
        await directory.add_note(viewer.caller, candidate_id, body)
        context["added"] = True
    except ApiProblem as refused:
        if refused.problem.status == 409:
            # Merged away since the panel was read: its reason in place of the form.
            context.update(problem=refused.problem, read_only=True)
            status_code = 409
        elif refused.problem.status not in (400, 422):
            raise
        else:
            # The form keeps what was typed, the API's reason beside it.
            context.update(typed=body, problem=refused.problem, errors=refused.problem.field_errors)
            if not refused.problem.field_errors:
                context["errors"] = {"body": refused.problem.message}
            status_code = refused.problem.status
    context["notes"] = await directory.notes(viewer.caller, candidate_id)
    return _panel_answer(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/notes.html",
        context,
        page=_panel_path(candidate_id, "notes"),
        status_code=status_code,
    )


@router.get("/{candidate_id}/edit")
async def edit_candidate(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """The profile's edit form: contact data, title and company, skills, tags and the tenant's
    custom fields (definitions read once), as stored now."""
    directory = CandidateDirectory(state.gateway)
    (candidate, revision), definitions = await asyncio.gather(
        directory.candidate_as_read(viewer.caller, candidate_id),
        directory.definitions(viewer.caller),
    )
    if candidate.get("status") == "merged":
        # A merged-away record is not edited: its profile says so and links the kept one.
        return _redirect(request, f"{CONSOLE_PREFIX}/candidates/{candidate_id}")
    context = _form_context(candidate, definitions, mode="edit", revision=revision)
    return render(request, state.templates, "candidates/form.html", context, viewer=viewer)


@router.post("/{candidate_id}")
async def update_candidate(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Sends what the person changed (only that); a record changed by someone else since the
    form opened is not overwritten: the form says so (412) and asks for a reload."""
    directory = CandidateDirectory(state.gateway)
    form = await form_values(request)
    current, definitions = await asyncio.gather(
        directory.candidate(viewer.caller, candidate_id), directory.definitions(viewer.caller)
    )
    typed = _as_typed(form, current)
    seen = (form.get("updated_at") or [""])[0]
    # The revision the form was filled from: the API applies the change only to it.
    revision = first(form, "revision") or None
    if changed_meanwhile(current, seen):
        stale = Problem(status=412, title="Precondition Failed", detail=CHANGED_MEANWHILE)
        context = _form_context(
            typed, definitions, problem=stale, mode="edit", stale=True, revision=revision
        )
        return _form_problem(request, state, viewer, context)
    body = changes(current, form, definitions)
    if body:
        try:
            await directory.update(viewer.caller, candidate_id, body, revision)
        except SignedOut:
            raise
        except ApiProblem as refused:
            if refused.problem.status not in (400, 409, 412, 422):
                raise
            problem = refused.problem
            if problem.status == 412:
                problem = Problem(status=412, title=problem.title, detail=CHANGED_MEANWHILE)
            context = _form_context(
                typed, definitions, problem=problem, mode="edit", revision=revision
            )
            context["existing_id"] = problem.extensions.get("existing_candidate_id")
            context["stale"] = problem.status == 412
            return _form_problem(request, state, viewer, context)
    return _redirect(request, f"{CONSOLE_PREFIX}/candidates/{candidate_id}")


@router.post("/{candidate_id}/consents")
async def record_consent(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Records a grant or withdrawal (source: recruiter) and reloads the profile, whose
    consent panel then shows it; a refusal is shown at its field."""
    form = await form_values(request)
    try:
        await CandidateDirectory(state.gateway).record_consent(
            viewer.caller, candidate_id, consent_body(form)
        )
    except SignedOut:
        raise
    except ApiProblem as refused:
        if refused.problem.status not in (400, 422):
            raise
        return _panel_answer(
            request,
            state,
            viewer,
            candidate_id,
            "candidates/consent_form.html",
            {
                "problem": refused.problem,
                "errors": refused.problem.field_errors,
                "typed": {name: (values or [""])[0] for name, values in form.items()},
                **CONSENT_CHOICES,
            },
            page=f"{CONSOLE_PREFIX}/candidates/{candidate_id}",
            status_code=refused.problem.status,
        )
    # The page itself again (a fragment alone would not reload it), saying what was done
    # where the focus lands (`?done=consent`: no personal data in the address).
    return _redirect(request, f"{CONSOLE_PREFIX}/candidates/{candidate_id}?done=consent")


@router.post("/{candidate_id}/ats-pushes")
async def push_to_ats(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Sends the candidate to the chosen ATS connection (for a job, if one is chosen) and
    answers with the form saying what the ATS answered; a refusal is shown at its field, and
    one about the candidate (no consent) above the form."""
    form = await form_values(request)
    typed = {name: (values or [""])[0] for name, values in form.items()}
    directory = CandidateDirectory(state.gateway)
    context: dict[str, object] = {"candidate_id": candidate_id, "typed": typed, "errors": {}}
    status_code = 200
    if not typed.get("connection_id"):
        context["errors"] = {"connection_id": "Choose the ATS to send the candidate to."}
        status_code = 422
    else:
        try:
            context["pushed"] = await directory.push_to_ats(
                viewer.caller, candidate_id, typed["connection_id"], typed.get("ats_job_id") or None
            )
        except SignedOut:
            raise
        except ApiProblem as refused:
            if refused.problem.status not in (400, 404, 409, 422, 502):
                raise
            context.update(problem=refused.problem, errors=refused.problem.field_errors)
            status_code = refused.problem.status
    context["ats"] = await directory.ats_choices(viewer.caller)
    return _panel_answer(
        request,
        state,
        viewer,
        candidate_id,
        "candidates/ats_push_form.html",
        context,
        page=_panel_path(candidate_id, "ats"),
        status_code=status_code,
    )


@router.get("/{candidate_id}/duplicates")
async def duplicates_page(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Records that may be the same person, best first, each with its score and reason."""
    candidate, suggestions = await CandidateDirectory(state.gateway).duplicates(
        viewer.caller, candidate_id
    )
    return render(
        request,
        state.templates,
        "candidates/duplicates.html",
        {"candidate": candidate, "suggestions": suggestions},
        viewer=viewer,
    )


@router.get("/{candidate_id}/merge/{other_id}")
async def merge_form(
    candidate_id: str,
    other_id: str,
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    people: PagePeople,
) -> HTMLResponse:
    """Both records side by side, one choice per field; the record in the URL's first place
    stays and the other is folded into it. Only for who may merge (a 403 page otherwise)."""
    require(viewer, "candidates:write")
    comparison = await CandidateDirectory(state.gateway).comparison(
        viewer.caller, candidate_id, other_id, people.name
    )
    return render(
        request, state.templates, "candidates/merge.html", {"comparison": comparison}, viewer=viewer
    )


@router.post("/{candidate_id}/merge/{other_id}")
async def merge(
    candidate_id: str, other_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Merges with the chosen values, then shows the merge with its undo."""
    form = {key: _form_text(value) for key, value in (await request.form()).items()}
    done = await CandidateDirectory(state.gateway).merge(
        viewer.caller, candidate_id, other_id, merge_choices(form)
    )
    return _redirect(request, f"{CONSOLE_PREFIX}/candidates/merges/{done['id']}")


@router.get("/{candidate_id}/export")
async def export(candidate_id: str, viewer: CurrentViewer, state: Container) -> Response:
    """The GDPR export as a file to keep (admins: the API checks `gdpr:read`)."""
    download = await CandidateDirectory(state.gateway).export(viewer.caller, candidate_id)
    return Response(
        download.content,
        media_type=download.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="candidate-{candidate_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/{candidate_id}/erase")
async def erase_form(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Asks the admin to type the person's name before erasing them."""
    candidate = await CandidateDirectory(state.gateway).candidate(viewer.caller, candidate_id)
    return render(
        request,
        state.templates,
        "candidates/erase.html",
        {"candidate": candidate, "phrase": erasure_phrase(candidate), "errors": {}, "typed": ""},
        viewer=viewer,
    )


@router.post("/{candidate_id}/erase")
async def erase(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Erases the person once the typed confirmation names them; otherwise the form comes back
    with the reason by the field (a 200: the API was not asked, nothing was refused)."""
    directory = CandidateDirectory(state.gateway)
    typed = _form_text((await request.form()).get("confirmation"))
    candidate = await directory.candidate(viewer.caller, candidate_id)
    phrase = erasure_phrase(candidate)
    # A browser without script posted the erase page's form: it gets a page back, not a
    # fragment.
    htmx = is_htmx(request)
    if not erasure_confirmed(candidate, typed):
        return render(
            request,
            state.templates,
            "candidates/erase_form.html" if htmx else "candidates/erase.html",
            {
                "candidate": candidate,
                "phrase": phrase,
                "typed": typed,
                "errors": {"confirmation": f"Type “{phrase}” exactly to confirm."},
            },
            viewer=viewer,
        )
    result = await directory.erase(viewer.caller, candidate_id)
    context = {"name": full_name(candidate), "result": result}
    if not htmx:
        context.update(fragment="candidates/erased.html", page_title="Erased")
    return render(
        request,
        state.templates,
        "candidates/erased.html" if htmx else "fragment_page.html",
        context,
        viewer=viewer,
    )

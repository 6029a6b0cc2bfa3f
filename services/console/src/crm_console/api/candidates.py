"""Candidate pages: search as you type, the profile with its notes, duplicates and the
side-by-side merge with undo, GDPR export and erasure."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem
from crm_console.api.deps import Container, CurrentViewer, is_htmx, render
from crm_console.application.candidates import CandidateDirectory
from crm_console.domain.candidates import (
    CONSENT,
    SORTS,
    SOURCES,
    CandidateFilters,
    placement_value,
)
from crm_console.domain.merging import merge_choices
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.profile import erasure_confirmed, erasure_phrase, full_name

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/candidates", include_in_schema=False)


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
    context: dict[str, object] = {"filters": filters, "sources": SOURCES, "sorts": SORTS}
    if is_htmx(request):
        context["page"] = await directory.search(viewer.caller, filters)
        return render(request, state.templates, "candidates/results.html", context, viewer=viewer)
    page, choices = await asyncio.gather(
        directory.search(viewer.caller, filters), directory.filter_choices(viewer.caller)
    )
    context.update(page=page, choices=choices, consent=CONSENT, placement_value=placement_value)
    return render(request, state.templates, "candidates/list.html", context, viewer=viewer)


@router.get("/merges/{merge_id}")
async def merge_page(
    merge_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """A merge: which record was folded into which, and its undo."""
    merge = await CandidateDirectory(state.gateway).merge_record(viewer.caller, merge_id)
    return render(
        request, state.templates, "candidates/merge_done.html", {"merge": merge}, viewer=viewer
    )


@router.post("/merges/{merge_id}/undo")
async def undo_merge(
    merge_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Undoes a merge; the page's merge panel is replaced by its new state."""
    merge = await CandidateDirectory(state.gateway).undo_merge(viewer.caller, merge_id)
    return render(
        request,
        state.templates,
        "candidates/merge_status.html",
        {"merge": merge, "undone_now": True},
        viewer=viewer,
    )


@router.get("/{candidate_id}")
async def candidate_profile(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """One candidate and every panel about them; a panel the person may not read says why."""
    profile = await CandidateDirectory(state.gateway).profile(viewer.caller, candidate_id)
    return render(
        request, state.templates, "candidates/profile.html", {"profile": profile}, viewer=viewer
    )


@router.post("/{candidate_id}/notes")
async def add_note(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Writes a note and answers with the notes panel; a refusal shows next to the text."""
    directory = CandidateDirectory(state.gateway)
    body = _form_text((await request.form()).get("body"))
    context: dict[str, object] = {"candidate_id": candidate_id, "typed": ""}
    status_code = 200
    try:
        await directory.add_note(viewer.caller, candidate_id, body)
        context["added"] = True
    except ApiProblem as refused:
        if refused.problem.status not in (400, 422):
            raise
        # The form keeps what was typed, the API's reason beside it.
        context.update(typed=body, problem=refused.problem, errors=refused.problem.field_errors)
        if not refused.problem.field_errors:
            context["errors"] = {"body": refused.problem.message}
        status_code = refused.problem.status
    context["notes"] = await directory.notes(viewer.caller, candidate_id)
    return render(
        request,
        state.templates,
        "candidates/notes.html",
        context,
        viewer=viewer,
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
    candidate_id: str, other_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Both records side by side, one choice per field; the record in the URL's first place
    stays and the other is folded into it."""
    comparison = await CandidateDirectory(state.gateway).comparison(
        viewer.caller, candidate_id, other_id
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
    if not erasure_confirmed(candidate, typed):
        return render(
            request,
            state.templates,
            "candidates/erase_form.html",
            {
                "candidate": candidate,
                "phrase": phrase,
                "typed": typed,
                "errors": {"confirmation": f"Type “{phrase}” exactly to confirm."},
            },
            viewer=viewer,
        )
    result = await directory.erase(viewer.caller, candidate_id)
    return render(
        request,
        state.templates,
        "candidates/erased.html",
        {"name": full_name(candidate), "result": result},
        viewer=viewer,
    )

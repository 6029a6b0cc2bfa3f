"""Candidate pages: search as you type, and the profile."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from crm_console.api.deps import Container, CurrentViewer, is_htmx, render
from crm_console.application.candidates import CandidateDirectory
from crm_console.domain.candidates import SORTS, SOURCES, CandidateFilters
from crm_console.domain.navigation import CONSOLE_PREFIX

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/candidates", include_in_schema=False)


@router.get("")
async def candidate_list(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The search page; htmx asks for the results alone as the person types."""
    filters = CandidateFilters.from_query(dict(request.query_params))
    page = await CandidateDirectory(state.gateway).search(viewer.caller, filters)
    template = "candidates/results.html" if is_htmx(request) else "candidates/list.html"
    return render(
        request,
        state.templates,
        template,
        {"filters": filters, "page": page, "sources": SOURCES, "sorts": SORTS},
        viewer=viewer,
    )


@router.get("/{candidate_id}")
async def candidate_profile(
    candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """One candidate: contact data, consent, pools, engagement with its explanation, activity."""
    profile = await CandidateDirectory(state.gateway).profile(viewer.caller, candidate_id)
    return render(
        request, state.templates, "candidates/profile.html", {"profile": profile}, viewer=viewer
    )

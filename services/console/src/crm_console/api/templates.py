"""Template and block pages: the list, the editor with live preview, merge fields and the
problems of a draft shown at their line."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem, SignedOut
from crm_console.api.deps import (
    Container,
    CurrentViewer,
    asked_first,
    done,
    form_of,
    fragment_or_page,
    render,
    require,
)
from crm_console.api.forms import form_values
from crm_console.api.message_reports import csv_answer, report_panel
from crm_console.application.message_reports import MessageReports
from crm_console.application.templates import TemplateStudio
from crm_console.domain.csv_files import csv_params
from crm_console.domain.forms import first
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.templates import (
    ARCHIVE_QUESTION,
    PART_LABELS,
    TemplateDraft,
    delete_block_question,
    part_problems,
)

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/templates", include_in_schema=False)
HERE = f"{CONSOLE_PREFIX}/templates"


@router.get("")
async def template_list(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The tenant's templates and blocks."""
    library = await TemplateStudio(state.gateway).library(viewer.caller)
    return render(
        request, state.templates, "templates/list.html", {"library": library}, viewer=viewer
    )


async def _editor_page(
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    template: dict[str, object] | None,
) -> HTMLResponse:
    editor = await TemplateStudio(state.gateway).editor(viewer.caller)
    draft = TemplateDraft.of(template or {})
    return render(
        request,
        state.templates,
        "templates/editor.html",
        {
            "template": template,
            "draft": draft,
            "editor": editor,
            "parts": PART_LABELS,
            "problem": None,
            "problems": [],
            "saved": request.query_params.get("saved") == "1",
        },
        viewer=viewer,
    )


@router.get("/new")
async def new_template(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """An empty editor."""
    require(viewer, "templates:write")
    return await _editor_page(request, viewer, state, None)


@router.post("/preview")
async def preview(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The editor's draft rendered for the chosen candidate, or its problems at their lines."""
    form = await form_values(request)
    draft = TemplateDraft.from_form(form)
    candidate_id = first(form, "candidate_id")
    result = None
    if candidate_id and draft.subject and draft.html and draft.text:
        result = await TemplateStudio(state.gateway).preview(viewer.caller, draft, candidate_id)
    return render(
        request,
        state.templates,
        "templates/preview.html",
        {"result": result, "candidate_id": candidate_id, "draft": draft},
        viewer=viewer,
    )


@router.get("/candidates")
async def candidate_choice(
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    candidate_q: Annotated[str, Query(max_length=200)] = "",
) -> HTMLResponse:
    """The candidates to preview for, as the person searches."""
    found = await TemplateStudio(state.gateway).candidates(viewer.caller, candidate_q)
    return render(
        request, state.templates, "templates/candidate_choice.html", {"candidates": found}
    )


@router.get("/blocks/new")
async def new_block(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    return render(
        request,
        state.templates,
        "templates/block.html",
        {"block": None, "values": {}, "problem": None},
        viewer=viewer,
    )


@router.get("/blocks/{key}")
async def block_page(
    key: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    block = await TemplateStudio(state.gateway).block(viewer.caller, key)
    return render(
        request,
        state.templates,
        "templates/block.html",
        {"block": block, "values": block, "problem": None},
        viewer=viewer,
    )


async def _save_block(
    key: str | None, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    form = await form_values(request)
    fields = {name: first(form, name) for name in ("key", "name", "html", "text")}
    try:
        await TemplateStudio(state.gateway).save_block(viewer.caller, key, fields)
    except SignedOut:
        raise
    except ApiProblem as refused:
        # Without script the form again in a page of its own, never the bare form.
        return fragment_or_page(
            request,
            state.templates,
            "templates/block_form.html",
            {"block": {"key": key} if key else None, "values": fields, "problem": refused.problem},
            title=f"Block {key}" if key else "New block",
            back=f"{HERE}/blocks/{key}" if key else HERE,
            viewer=viewer,
            status_code=refused.problem.status,
        )
    return done(request, f"{HERE}?saved=block")


@router.post("/blocks")
async def create_block(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    return await _save_block(None, request, viewer, state)


@router.post("/blocks/{key}")
async def change_block(
    key: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    return await _save_block(key, request, viewer, state)


@router.post("/blocks/{key}/delete")
async def delete_block(
    key: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Deletes a block; the API refuses (409) while a template includes it."""
    form = await form_of(request)
    back = f"{HERE}/blocks/{key}"
    if asked := asked_first(
        request, state.templates, viewer, form, delete_block_question(key), back=back
    ):
        return asked
    await TemplateStudio(state.gateway).delete_block(viewer.caller, key)
    return done(request, HERE)


@router.get("/{template_id}")
async def edit_template(
    template_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The editor of one template."""
    template = await TemplateStudio(state.gateway).template(viewer.caller, template_id)
    return await _editor_page(request, viewer, state, template)


# What the template's report counts, above its table.
REPORT_INTRO = (
    "Every message made from the template, per broadcast, sequence step or direct mail "
    "(transactional and event mail) that sent it."
)


@router.get("/{template_id}/report")
async def report(
    template_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The template's message report (analytics): its mail in total, per broadcast, sequence
    step or direct mail, named, and per day; loaded after the page."""
    found = await MessageReports(state.gateway).named_template_report(viewer.caller, template_id)
    return report_panel(
        request,
        viewer,
        state,
        found.report,
        panel_url=f"{HERE}/{quote(template_id, safe='')}/report",
        intro=REPORT_INTRO,
        group_label=found.names.label,
        groups_caption="per broadcast, sequence step or direct mail",
        names_unavailable=found.names_unavailable,
    )


@router.get("/{template_id}/report.csv")
async def report_csv(
    template_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """The message report as the analytics API's CSV file, comma or semicolon separated."""
    return csv_answer(
        await MessageReports(state.gateway).csv(
            viewer.caller, "template", template_id, csv_params(request.query_params)
        )
    )


async def _save(
    template_id: str | None, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    form = await form_values(request)
    draft = TemplateDraft.from_form(form)
    try:
        saved = await TemplateStudio(state.gateway).save(
            viewer.caller, template_id, draft, first(form, "version")
        )
    except SignedOut:
        raise
    except ApiProblem as refused:
        return fragment_or_page(
            request,
            state.templates,
            "templates/form.html",
            {
                "template": {"id": template_id, "version": first(form, "version")}
                if template_id
                else None,
                "draft": draft,
                "parts": PART_LABELS,
                "problem": refused.problem,
                "problems": part_problems(refused.problem, draft),
            },
            title=draft.name or "Template not saved",
            back=f"{HERE}/{template_id}" if template_id else f"{HERE}/new",
            viewer=viewer,
            status_code=refused.problem.status,
        )
    return done(request, f"{HERE}/{saved['id']}?saved=1")


@router.post("")
async def create_template(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    return await _save(None, request, viewer, state)


@router.post("/{template_id}")
async def replace_template(
    template_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    return await _save(template_id, request, viewer, state)


@router.post("/{template_id}/archive")
async def archive_template(
    template_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Archives a template; the API refuses (409) while a sequence or broadcast uses it."""
    form = await form_of(request)
    back = f"{HERE}/{template_id}"
    if asked := asked_first(request, state.templates, viewer, form, ARCHIVE_QUESTION, back=back):
        return asked
    await TemplateStudio(state.gateway).archive(viewer.caller, template_id)
    return done(request, HERE)

"""Import pages: upload a CSV file, map its columns, watch the progress, get the report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from crm_console.adapters.gateway_api import ApiProblem, SignedOut
from crm_console.api.deps import (
    Container,
    CurrentViewer,
    PagePeople,
    Viewer,
    is_htmx,
    page_people,
    render,
)
from crm_console.application.imports import ImportDesk, NewImport
from crm_console.application.parts import Part, part
from crm_console.container import ConsoleContainer
from crm_console.domain.candidates import SOURCES
from crm_console.domain.csv_files import csv_params
from crm_console.domain.imports import (
    PREVIEW_BYTES,
    ImportProgress,
    choices_from_form,
    column_errors,
    field_choices,
    mapping_of,
    mapping_problems,
    tags_of,
)
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.people import People
from crm_console.domain.problems import Problem

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/imports", include_in_schema=False)
UPLOAD_PIECE = 1 << 20


@router.get("")
async def import_list(
    request: Request, viewer: CurrentViewer, state: Container, people: PagePeople
) -> HTMLResponse:
    """The upload form and the newest imports, each with who started it."""
    return await _list_page(request, viewer, state, people)


async def _list_page(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    people: People,
    mapped: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The imports page; `mapped`: a file's mapping table in its form (without script)."""
    imports = await ImportDesk(state.gateway).recent(viewer.caller)
    rows = [(job, ImportProgress.of(job)) for job in imports]
    page = {"imports": rows, "sources": SOURCES, "people": people}
    return render(
        request,
        state.templates,
        "imports/list.html",
        {**(mapped or {}), **page, "mapped": mapped is not None},
        viewer=viewer,
        status_code=status_code,
    )


async def _uploaded(request: Request) -> tuple[UploadFile | None, dict[str, str]]:
    form = await request.form()
    file = form.get("file")
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    return (file if isinstance(file, UploadFile) and file.filename else None), fields


async def _mapping(
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    file: UploadFile | None,
    *,
    form: dict[str, str] | None = None,
    problem: Problem | None = None,
    table_error: str | None = None,
    errors: dict[int, str] | None = None,
) -> HTMLResponse:
    """The mapping table for the file's columns (suggested fields, or what the form chose)."""
    if file is None:
        return await _mapping_answer(
            request, viewer, state, {"file_error": "Choose a CSV file to import."}, 422
        )
    await file.seek(0)
    head = await file.read(PREVIEW_BYTES + 1)
    try:
        found = await ImportDesk(state.gateway).preview(
            viewer.caller, head[:PREVIEW_BYTES], truncated=len(head) > PREVIEW_BYTES
        )
    except SignedOut:
        raise
    except ApiProblem as refused:
        message = refused.problem.paths.get("file") or refused.problem.message
        return await _mapping_answer(
            request, viewer, state, {"file_error": message}, refused.problem.status
        )
    chosen = {choice.index: choice.field for choice in choices_from_form(form)} if form else None
    failed = problem is not None or table_error is not None or bool(errors)
    return await _mapping_answer(
        request,
        viewer,
        state,
        {
            "preview": found.preview,
            "choices": field_choices(found.custom_fields),
            "chosen": chosen,
            # The encoding the person chose where the file reads as plausibly in two.
            "chosen_encoding": (form or {}).get("encoding") or found.preview.get("encoding"),
            "problem": problem,
            "table_error": table_error,
            "errors": errors or {},
            "file_name": file.filename,
            "file_error": problem.paths.get("file") if problem else None,
        },
        422 if failed else 200,
    )


async def _mapping_answer(
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    context: dict[str, Any],
    status_code: int,
) -> HTMLResponse:
    """The mapping table htmx swaps in; without script, the imports page with the table in
    its form, which the file must be chosen in again (a browser sends it with each post)."""
    if is_htmx(request):
        return render(
            request,
            state.templates,
            "imports/mapping.html",
            context,
            viewer=viewer,
            status_code=status_code,
        )
    people = await page_people(viewer, state)
    return await _list_page(request, viewer, state, people, context, status_code)


@router.post("/preview")
async def preview(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The file's columns with a field select each, suggested by the API."""
    file, _ = await _uploaded(request)
    return await _mapping(request, viewer, state, file)


async def _pieces(file: UploadFile) -> AsyncIterator[bytes]:
    await file.seek(0)
    while piece := await file.read(UPLOAD_PIECE):
        yield piece


@router.post("")
async def start_import(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """Creates the import with the chosen mapping and streams the file to it, then opens its
    progress page; a mapping or a file the API refuses is shown at the column or the file."""
    file, form = await _uploaded(request)
    choices = choices_from_form(form)
    if file is None or not choices:
        return await _mapping(request, viewer, state, file)
    per_column, table_error = mapping_problems(choices)
    if per_column or table_error:
        return await _mapping(
            request, viewer, state, file, form=form, table_error=table_error, errors=per_column
        )
    new = NewImport(
        mapping=mapping_of(choices),
        source=form["source"] if form.get("source", "") in SOURCES else "sourced",
        tags=tags_of(form.get("tags", "")),
        delimiter=form.get("delimiter") or None,
        encoding=form.get("encoding") or None,
        default_region=form.get("default_region", "").strip().upper() or None,
    )
    try:
        job = await ImportDesk(state.gateway).start(viewer.caller, new, _pieces(file))
    except SignedOut:
        raise
    except ApiProblem as refused:
        return await _mapping(
            request,
            viewer,
            state,
            file,
            form=form,
            problem=refused.problem,
            errors=column_errors(refused.problem.paths, choices),
        )
    target = f"{CONSOLE_PREFIX}/imports/{job['id']}"
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return Response(status_code=303, headers={"Location": target})


async def _progress_context(
    state: Container, viewer: CurrentViewer, import_id: str
) -> dict[str, Any]:
    desk = ImportDesk(state.gateway)
    job = await desk.job(viewer.caller, import_id)
    progress = ImportProgress.of(job)
    report = (
        await desk.first_errors(viewer.caller, import_id)
        if progress.finished and progress.has_report
        else []
    )
    # A panel of its own: if the list cannot be read, the rest of the progress still shows.
    merged = (
        await part(desk.first_merged_rows(viewer.caller, import_id))
        if progress.finished and progress.counts.get("merged")
        else Part(data={"items": [], "next_cursor": None})
    )
    return {"job": job, "progress": progress, "report": report, "merged": merged}


@router.get("/{import_id}")
async def import_page(
    import_id: str, request: Request, viewer: CurrentViewer, state: Container, people: PagePeople
) -> HTMLResponse:
    """One import: who started it, its progress bar (updated every second until it has
    finished), its counts, the first rows of its error report and of its merged rows."""
    context = {**await _progress_context(state, viewer, import_id), "people": people}
    return render(request, state.templates, "imports/detail.html", context, viewer=viewer)


@router.get("/{import_id}/progress")
async def import_progress(
    import_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The progress panel alone, which htmx asks for every second while the import runs."""
    context = await _progress_context(state, viewer, import_id)
    return render(request, state.templates, "imports/progress.html", context, viewer=viewer)


@router.get("/{import_id}/errors.csv")
async def import_report(
    import_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """The API's error report (CSV, comma or semicolon separated), passed through with its
    file name."""
    report = await ImportDesk(state.gateway).report(
        viewer.caller, import_id, csv_params(request.query_params)
    )
    return Response(report.content, media_type=report.media_type, headers=report.headers)

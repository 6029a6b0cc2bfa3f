"""Segment pages: the list, and the rule builder with the live member count and a sample of
members while editing; save, edit, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem, Caller, SignedOut
from crm_console.api.deps import (
    Container,
    CurrentViewer,
    asked_first_about,
    done,
    form_of,
    is_htmx,
    refused,
    render,
    require,
)
from crm_console.application.segments import BuilderChoices, Preview, SegmentDesk
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.problems import Problem
from crm_console.domain.questions import Question
from crm_console.domain.segments import (
    GROUP_KINDS,
    MAX_DEPTH,
    OPERATOR_LABELS,
    RELATIVE_UNITS,
    Condition,
    Group,
    apply_action,
    delete_question,
    draft_from_form,
    draft_from_rule,
    errors_by_node,
    fit_to_fields,
    html_id,
    incomplete,
    node_path,
    path_label,
    rule_of,
)

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/segments", include_in_schema=False)


@router.get("")
async def segment_list(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """Every segment with its member count."""
    segments = await SegmentDesk(state.gateway).segments(viewer.caller)
    return render(
        request, state.templates, "segments/list.html", {"segments": segments}, viewer=viewer
    )


async def _preview(
    desk: SegmentDesk,
    caller: Caller,
    draft: Group,
    choices: BuilderChoices,
    segment_id: str | None,
) -> tuple[Preview, dict[str, str]]:
    """The draft's count and sample, and the errors by node (the console's or the API's); a
    draft with a part still to fill in waits for it, saying nothing is wrong."""
    rule, errors = rule_of(fit_to_fields(draft, choices.catalogue), choices.catalogue)
    if errors:
        return Preview(), errors
    if incomplete(draft):
        return Preview(), {}
    preview = await desk.preview(caller, rule, segment_id)
    return preview, errors_by_node(preview.problem.paths) if preview.problem else {}


def _context(
    draft: Group,
    choices: BuilderChoices,
    preview: Preview,
    errors: dict[str, str],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "draft": draft,
        "choices": choices,
        "preview": preview,
        "errors": errors,
        "group_kinds": GROUP_KINDS,
        "operator_labels": OPERATOR_LABELS,
        "relative_units": RELATIVE_UNITS,
        "max_depth": MAX_DEPTH,
        "html_id": html_id,
        "path_label": path_label,
        "focus": None,
        "name_error": None,
        "problem": None,
        "announce_errors": False,
        **extra,
    }


async def _editor(
    request: Request,
    viewer: CurrentViewer,
    state: Container,
    segment: dict[str, Any] | None,
) -> HTMLResponse:
    desk = SegmentDesk(state.gateway)
    segment_id = segment["id"] if segment else None
    choices = await desk.choices(viewer.caller, segment_id)
    draft = draft_from_rule(segment["rule"]) if segment else Group(members=[Condition()])
    preview, errors = (
        await _preview(desk, viewer.caller, draft, choices, segment_id)
        if segment
        else (Preview(), {})
    )
    return render(
        request,
        state.templates,
        "segments/editor.html",
        _context(
            draft,
            choices,
            preview,
            errors,
            segment=segment,
            segment_id=segment_id,
            name=segment["name"] if segment else "",
            saved=request.query_params.get("saved") == "1",
        ),
        viewer=viewer,
    )


@router.get("/new")
async def new_segment(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The builder with one empty condition."""
    require(viewer, "segments:write")
    return await _editor(request, viewer, state, None)


async def _form(request: Request) -> dict[str, str]:
    """The builder's form, a value chosen several times (a choice list's "is one of") one
    a line: a choice may hold a comma, never a line break."""
    form = await request.form()
    return {
        key: "\n".join(str(value) for value in form.getlist(key))
        if key.endswith(".value")
        else str(form[key])
        for key in form
    }


@router.post("/builder")
async def builder(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The builder after a change of its shape (a condition or group added or removed, a field
    or operator changed, which changes the inputs), with the count and sample of the result."""
    form = await _form(request)
    desk = SegmentDesk(state.gateway)
    segment_id = form.get("segment_id") or None
    draft, focus = apply_action(draft_from_form(form), form.get("action", ""))
    choices = await desk.choices(viewer.caller, segment_id)
    preview, errors = await _preview(desk, viewer.caller, draft, choices, segment_id)
    return render(
        request,
        state.templates,
        "segments/builder.html",
        _context(
            draft,
            choices,
            preview,
            errors,
            segment_id=segment_id,
            name=form.get("name", ""),
            focus=focus or form.get("focus"),
            preview_out_of_band=True,
        ),
        viewer=viewer,
    )


@router.post("/preview")
async def preview(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The count and sample of the rule as typed, with each error at its condition."""
    form = await _form(request)
    desk = SegmentDesk(state.gateway)
    draft = draft_from_form(form)
    segment_id = form.get("segment_id") or None
    choices = await desk.choices(viewer.caller, segment_id)
    found, errors = await _preview(desk, viewer.caller, draft, choices, segment_id)
    paths = _node_paths(draft)
    return render(
        request,
        state.templates,
        "segments/preview.html",
        {"preview": found, "errors": errors, "paths": paths, "html_id": html_id},
        viewer=viewer,
    )


def _node_paths(group: Group, path: str = "r") -> list[str]:
    paths = [path]
    for index, member in enumerate(group.members):
        child = f"{path}.{index}"
        paths.extend(_node_paths(member, child) if isinstance(member, Group) else [child])
    return paths


async def _save(
    request: Request, viewer: CurrentViewer, state: Container, segment_id: str | None
) -> Response:
    form = await _form(request)
    desk = SegmentDesk(state.gateway)
    draft = draft_from_form(form)
    name = " ".join(form.get("name", "").split())
    choices = await desk.choices(viewer.caller, segment_id)
    rule, errors = rule_of(fit_to_fields(draft, choices.catalogue), choices.catalogue)
    errors = incomplete(draft) | errors
    name_error = None if name else "Give the segment a name"
    problem: Problem | None = None
    if not errors and name_error is None:
        try:
            saved = await desk.save(viewer.caller, segment_id, name, rule)
        except SignedOut:
            raise
        except ApiProblem as refused:
            problem = refused.problem
            errors = errors_by_node(problem.paths)
            name_error = problem.field_errors.get("name")
            # A problem placed at a condition or the name needs no repeating at the top.
            if errors or name_error:
                problem = None if _all_placed(refused.problem) else refused.problem
        else:
            target = f"{CONSOLE_PREFIX}/segments/{saved['id']}?saved=1"
            if is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return Response(status_code=303, headers={"Location": target})
    preview, preview_errors = await _preview(desk, viewer.caller, draft, choices, segment_id)
    return render(
        request,
        state.templates,
        "segments/builder.html",
        _context(
            draft,
            choices,
            preview,
            {**preview_errors, **errors},
            segment_id=segment_id,
            name=form.get("name", ""),
            name_error=name_error,
            problem=problem,
            preview_out_of_band=True,
            announce_errors=True,
        ),
        viewer=viewer,
        status_code=problem.status if problem else 422,
    )


def _all_placed(problem: Problem) -> bool:
    return all(node_path(path) is not None or path == "name" for path in problem.paths)


@router.post("")
async def create_segment(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """Saves a new segment and opens it; an invalid rule is shown at its conditions."""
    return await _save(request, viewer, state, None)


@router.get("/{segment_id}")
async def segment_page(
    segment_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """A segment in the builder, with its count and sample now."""
    segment = await SegmentDesk(state.gateway).segment(viewer.caller, segment_id)
    return await _editor(request, viewer, state, segment)


@router.post("/{segment_id}")
async def update_segment(
    segment_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Saves a segment's new name and rule (its membership is recomputed by the API)."""
    return await _save(request, viewer, state, segment_id)


@router.post("/{segment_id}/delete")
async def delete_segment(
    segment_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Deletes a segment nothing uses; one in use stays, with the reason next to the button."""
    desk = SegmentDesk(state.gateway)
    form = await form_of(request)
    back = f"{CONSOLE_PREFIX}/segments/{segment_id}"

    async def question() -> Question:
        return delete_question(await desk.segment(viewer.caller, segment_id))

    if asked := await asked_first_about(
        request, state.templates, viewer, form, question, back=back
    ):
        return asked
    try:
        await desk.delete(viewer.caller, segment_id)
    except SignedOut:
        raise
    except ApiProblem as refused_by_api:
        return refused(request, state.templates, viewer, refused_by_api.problem, back=back)
    return done(request, f"{CONSOLE_PREFIX}/segments")

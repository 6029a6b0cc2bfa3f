"""Talent pool pages: the list with a form for a new pool, a board per pool by stage, moves
between stages and actions on a selection of members, and a pool's editor (its name, adding,
renaming and deleting stages)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem, SignedOut
from crm_console.api.deps import (
    Container,
    CurrentViewer,
    Viewer,
    form_of,
    fragment_or_page,
    is_htmx,
    render,
)
from crm_console.api.selection import bulk_form_answer
from crm_console.application.pools import TalentPools
from crm_console.container import ConsoleContainer
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.pools import (
    BULK_ACTIONS,
    stage_rows,
    stages_from_text,
    stages_with,
)
from crm_console.domain.problems import Problem

router = APIRouter(prefix=f"{CONSOLE_PREFIX}/pools", include_in_schema=False)


@router.get("")
async def pool_list(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """Every pool with its members per stage, and the form for a new one."""
    pools = await TalentPools(state.gateway).pools(viewer.caller)
    return render(
        request,
        state.templates,
        "pools/list.html",
        {"pools": pools, "form": {}, "errors": {}},
        viewer=viewer,
    )


@router.post("")
async def create_pool(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """Creates a pool and opens its board; what the API refuses is shown at the field."""
    form = {key: str(value) for key, value in (await request.form()).items()}
    name = form.get("name", "").strip()
    stages = stages_from_text(form.get("stages", ""))
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the pool a name"
    if not stages:
        errors["stages"] = "Name at least one stage"
    problem = None
    if not errors:
        try:
            created = await TalentPools(state.gateway).create(
                viewer.caller, name, stages, form.get("description", "").strip() or None
            )
        except SignedOut:
            raise
        except ApiProblem as refused:
            problem = refused.problem
            errors = dict(refused.problem.field_errors)
        else:
            target = f"{CONSOLE_PREFIX}/pools/{created['id']}"
            if is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": target})
            return Response(status_code=303, headers={"Location": target})
    # A name taken is a 409 without a field: it belongs to the name all the same.
    if problem is not None and problem.status == 409 and "name" not in errors:
        errors["name"] = problem.message
        problem = None
    return render(
        request,
        state.templates,
        "pools/create_form.html",
        {"form": form, "errors": errors, "problem": problem},
        viewer=viewer,
        status_code=problem.status if problem else 422,
    )


@router.get("/{pool_id}")
async def pool_board(
    pool_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The pool's board: a column per stage, a card per member with a stage select."""
    board = await TalentPools(state.gateway).board(
        viewer.caller, pool_id, request.query_params.get("cursor") or None
    )
    return render(
        request,
        state.templates,
        "pools/board.html",
        {"board": board, "actions": BULK_ACTIONS, "bulk": {}, "errors": {}, "summary": []},
        viewer=viewer,
    )


@router.post("/{pool_id}/members/{candidate_id}/stage")
async def move_member(
    pool_id: str, candidate_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """Moves a member to the stage chosen on its card; the board comes back with the move
    announced, or with the API's refusal at the card."""
    form = await request.form()
    stage = str(form.get("stage", ""))
    pools = TalentPools(state.gateway)
    moved, refusal = "", None
    try:
        await pools.move(viewer.caller, pool_id, candidate_id, stage)
        moved = stage
    except SignedOut:
        raise
    except ApiProblem as refused:
        refusal = refused.problem.message
    if refusal is None and not is_htmx(request):
        # A browser without script: the board again (303, so a reload does not move again).
        return Response(status_code=303, headers={"Location": f"{CONSOLE_PREFIX}/pools/{pool_id}"})
    board = await pools.board(viewer.caller, pool_id)
    return fragment_or_page(
        request,
        state.templates,
        "pools/columns.html",
        {
            "board": board,
            "moved": {"candidate_id": candidate_id, "stage": moved, "refusal": refusal},
        },
        title="Move",
        back=f"{CONSOLE_PREFIX}/pools/{pool_id}",
        viewer=viewer,
        status_code=200 if refusal is None else 409,
    )


@router.post("/{pool_id}/bulk")
async def bulk_action(
    pool_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Adds the selected members to another pool, tags them or enrols them in a sequence
    (one API call); the form comes back saying what became of each."""
    return await bulk_form_answer(
        request,
        viewer,
        state,
        bulk_url=f"{CONSOLE_PREFIX}/pools/{pool_id}/bulk",
        where="on the board",
        pool_id=pool_id,
    )


async def _editor(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    pool_id: str,
    *,
    notice: str = "",
    problem: Problem | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """The pool's editor as it stands now (read again after every change), with what the last
    change did or why the API refused it, next to the part it concerned."""
    pool = await TalentPools(state.gateway).pool(viewer.caller, pool_id)
    context: dict[str, Any] = {
        "pool": pool,
        "rows": stage_rows(pool),
        "notice": notice,
        "problem": problem,
        "errors": errors or {},
        "values": values or {},
    }
    return render(
        request,
        state.templates,
        "pools/editor_panel.html" if is_htmx(request) else "pools/editor.html",
        context,
        viewer=viewer,
        status_code=problem.status if problem else (422 if errors else 200),
    )


@router.get("/{pool_id}/edit")
async def pool_editor(
    pool_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """A pool's name and description, and its stages: add, rename, delete."""
    return await _editor(request, viewer, state, pool_id)


@router.post("/{pool_id}/edit")
async def rename_pool(
    pool_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Renames the pool (and sets its description); a name in use is shown at the name."""
    form = await form_of(request)
    name, description = form.get("name", "").strip(), form.get("description", "").strip()
    values = {"name": name, "description": description}
    if not name:
        return await _editor(
            request, viewer, state, pool_id, errors={"name": "Give the pool a name"}, values=values
        )
    try:
        await TalentPools(state.gateway).rename(viewer.caller, pool_id, name, description or None)
    except SignedOut:
        raise
    except ApiProblem as refused:
        # A name in use is a 409 without a field: it belongs to the name all the same.
        errors = dict(refused.problem.field_errors) or {"name": refused.problem.message}
        return await _editor(
            request, viewer, state, pool_id, problem=refused.problem, errors=errors, values=values
        )
    return await _editor(request, viewer, state, pool_id, notice=f"Renamed to “{name}”.")


@router.post("/{pool_id}/stages")
async def add_stage(
    pool_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Adds a stage at the end of the pipeline."""
    typed = (await form_of(request)).get("new_stage", "")
    pools = TalentPools(state.gateway)
    stages, wrong = stages_with(await pools.pool(viewer.caller, pool_id), typed)
    values = {"new_stage": typed.strip()}
    if wrong:
        return await _editor(
            request, viewer, state, pool_id, errors={"new_stage": wrong}, values=values
        )
    try:
        await pools.set_stages(viewer.caller, pool_id, stages)
    except SignedOut:
        raise
    except ApiProblem as refused:
        # The API names the stage by its place (`stages.3`): here it is the one being added.
        said = next(iter(refused.problem.paths.values()), refused.problem.message)
        return await _editor(
            request,
            viewer,
            state,
            pool_id,
            problem=refused.problem,
            errors={"new_stage": said},
            values=values,
        )
    return await _editor(request, viewer, state, pool_id, notice=f"Stage “{stages[-1]}” added.")


@router.post("/{pool_id}/stages/rename")
async def rename_stage(
    pool_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Renames a stage from the version the editor showed; its members stay where they are."""
    form = await form_of(request)
    stage, name = form.get("stage", ""), " ".join(form.get("name", "").split())
    if not name:
        return await _editor(
            request, viewer, state, pool_id, errors={f"stage:{stage}": "Type the stage's new name"}
        )
    try:
        await TalentPools(state.gateway).rename_stage(
            viewer.caller, pool_id, stage, name, form.get("version", "")
        )
    except SignedOut:
        raise
    except ApiProblem as refused:
        return await _editor(
            request,
            viewer,
            state,
            pool_id,
            problem=refused.problem,
            errors={f"stage:{stage}": _stage_refusal(refused.problem)},
            values={f"stage:{stage}": name},
        )
    return await _editor(
        request, viewer, state, pool_id, notice=f"Stage “{stage}” renamed to “{name}”."
    )


@router.post("/{pool_id}/stages/delete")
async def delete_stage(
    pool_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Deletes a stage; the API's refusal (members at it, the only stage, a segment naming it)
    is shown in its row."""
    stage = (await form_of(request)).get("stage", "")
    try:
        await TalentPools(state.gateway).delete_stage(viewer.caller, pool_id, stage)
    except SignedOut:
        raise
    except ApiProblem as refused:
        return await _editor(
            request,
            viewer,
            state,
            pool_id,
            problem=refused.problem,
            errors={f"stage:{stage}": _stage_refusal(refused.problem)},
        )
    return await _editor(request, viewer, state, pool_id, notice=f"Stage “{stage}” deleted.")


def _stage_refusal(problem: Problem) -> str:
    if problem.status == 412:
        return "Someone changed the pool meanwhile: the stages below are as it is now; try again."
    return next(iter(problem.field_errors.values()), problem.message)

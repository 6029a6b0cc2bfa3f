"""The bulk actions on a selection of candidates, wherever a page lets people tick them (a
pool's board, the candidate list): one form, one route body, one API call per action."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from crm_console.adapters.gateway_api import ApiProblem, SignedOut
from crm_console.api.deps import Viewer, fragment_or_page
from crm_console.application.pools import TalentPools
from crm_console.container import ConsoleContainer
from crm_console.domain.pools import BULK_ACTIONS, BulkDone, BulkRequest


async def bulk_form_answer(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    *,
    bulk_url: str,
    where: str,
    pool_id: str | None = None,
    select_all: bool = False,
) -> HTMLResponse:
    """Adds the selection to a pool (at a stage), tags it or enrols it in a sequence (one API
    call) and answers with the form saying what became of each, naming who was not acted on;
    on a pool's board (`pool_id`) the other pools are offered."""
    form = await request.form()
    selected = [str(value) for value in form.getlist("candidate_ids")]
    bulk = BulkRequest.from_form({key: str(value) for key, value in form.items()}, selected)
    pools = TalentPools(state.gateway)
    choices = await pools.choices(viewer.caller, pool_id)
    errors = bulk.errors(where)
    done: BulkDone | None = None
    problem = None
    if not errors:
        try:
            done = await pools.act(viewer.caller, bulk, choices)
        except SignedOut:
            raise
        except ApiProblem as refused:
            problem = refused.problem
    return fragment_or_page(
        request,
        state.templates,
        "fragments/bulk_form.html",
        {
            "bulk_url": bulk_url,
            "where": where,
            "select_all": select_all,
            "choices": choices,
            "actions": BULK_ACTIONS,
            "bulk": bulk,
            "errors": errors,
            "problem": problem,
            "done": done,
            # Done: untick them on the page (out of band).
            "acted_on": bulk.candidate_ids if done else [],
        },
        title="With the selected candidates",
        back=bulk_url.removesuffix("/bulk"),
        viewer=viewer,
        status_code=422 if errors else (problem.status if problem else 200),
    )

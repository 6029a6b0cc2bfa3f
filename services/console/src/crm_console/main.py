"""Composition root of the console: `uvicorn --factory crm_console.main:create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from http import HTTPStatus
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.templating import Jinja2Templates

from crm_console.adapters.gateway_api import ApiProblem, GatewayApi, SignedOut
from crm_console.api import (
    analytics,
    broadcasts,
    candidates,
    events,
    imports,
    notifications,
    pages,
    pools,
    profile_settings,
    segments,
    sequences,
)
from crm_console.api import settings as settings_pages
from crm_console.api import templates as template_pages
from crm_console.api.assets import VersionedStaticFiles
from crm_console.api.deps import is_htmx, render, viewer_if_any
from crm_console.api.pages import sign_in_location
from crm_console.config import ConsoleSettings
from crm_console.container import ConsoleContainer
from crm_console.domain.events import in_zone, status_question
from crm_console.domain.merging import UNDO_MERGE
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.pools import target_value
from crm_console.domain.problems import CHECK_THE_FIELDS, Problem, field_label, page_refusal
from crm_console.domain.segments import delete_question as segment_delete_question
from crm_console.domain.sequences import REMOVE_QUESTION
from crm_console.domain.settings import settings_question
from crm_console.domain.signing_out import page_left
from crm_console.domain.templates import ARCHIVE_QUESTION, delete_block_question
from crm_shared import build_platform, create_service_app, problem_response

PACKAGE = Path(__file__).resolve().parent


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    """Builds the console: its pages, static files and the client of the gateway's API."""
    settings = settings or ConsoleSettings()
    platform = build_platform(
        settings, uses_mongo=False, uses_kafka=False, ready_needs_database=False
    )
    client = httpx.AsyncClient(
        base_url=settings.gateway_url.rstrip("/"),
        timeout=settings.gateway_timeout_seconds,
        follow_redirects=False,
    )
    static_files = VersionedStaticFiles(PACKAGE / "static")
    templates = Jinja2Templates(directory=PACKAGE / "templates")
    templates.env.globals["console"] = CONSOLE_PREFIX
    templates.env.globals["asset"] = static_files.url
    # The top line of a form refused field by field, for forms that place every error.
    templates.env.globals["check_the_fields"] = CHECK_THE_FIELDS
    # An API field path in words, where a refusal lists the fields it names.
    templates.env.filters["field_label"] = field_label
    # An instant in an event's time zone (the page labels it with the zone).
    templates.env.filters["in_zone"] = in_zone
    # A pool (and stage) as the bulk actions' pool select names it.
    templates.env.globals["target_value"] = target_value
    # What an event's status buttons ask first, with script and without.
    templates.env.globals["event_question"] = status_question
    templates.env.globals["delete_segment"] = segment_delete_question
    templates.env.globals["archive_template"] = ARCHIVE_QUESTION
    templates.env.globals["delete_block"] = delete_block_question
    templates.env.globals["undo_merge"] = UNDO_MERGE
    templates.env.globals["remove_from_sequence"] = REMOVE_QUESTION
    # What the settings pages' buttons ask first, with script and without.
    templates.env.globals["settings_question"] = settings_question
    container = ConsoleContainer(settings=settings, gateway=GatewayApi(client), templates=templates)

    async def close_client() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.aclose()

    app = create_service_app(
        platform,
        title="Console",
        description="The talent team's web application.",
        routers=[
            pages.router,
            analytics.router,
            analytics.settings_router,
            analytics.pools_router,
            candidates.router,
            imports.router,
            pools.router,
            segments.router,
            template_pages.router,
            sequences.router,
            broadcasts.router,
            notifications.router,
            events.router,
            events.public_router,
            events.registrant_router,
            events.embed_script_router,
            settings_pages.router,
            profile_settings.router,
        ],
        extra_lifespan=close_client,
        serve_openapi=False,
    )
    app.state.container = container
    app.mount(f"{CONSOLE_PREFIX}/static", static_files, name="static")

    @app.exception_handler(SignedOut)
    async def signed_out(request: Request, _: Exception) -> Response:
        target = sign_in_location(_path_with_query(request), expired=True)
        if is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return Response(status_code=303, headers={"Location": target})

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, ApiProblem)
        return _problem_page(request, templates, error.problem)

    @app.exception_handler(StarletteHTTPException)
    async def http_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        if not request.url.path.startswith(f"{CONSOLE_PREFIX}/"):
            # The platform's own routes (health, metrics) answer as every service's do.
            return problem_response(
                error.status_code,
                str(error.detail),
                instance=request.url.path,
                headers=error.headers,
            )
        problem = Problem(
            status=error.status_code,
            title=HTTPStatus(error.status_code).phrase,
            detail=page_refusal(error.status_code, str(error.detail)),
        )
        return _problem_page(request, templates, problem, headers=error.headers)

    return app


def _problem_page(
    request: Request,
    templates: Jinja2Templates,
    problem: Problem,
    *,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A refusal as the console shows it: the fragment htmx puts in place, or a page of its
    own leading back to the page the browser came from (the home page when none)."""
    context: dict[str, object] = {"problem": problem}
    template = "fragments/problem.html"
    if not is_htmx(request):
        template = "problem.html"
        referer = request.headers.get("referer")
        came_from = page_left(referer) if referer else None
        if came_from and came_from.split("?")[0] != request.url.path:
            context["back"] = came_from
    return render(
        request,
        templates,
        template,
        context,
        viewer=viewer_if_any(request),
        status_code=problem.status,
        headers=dict(headers or {}),
    )


def _path_with_query(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")

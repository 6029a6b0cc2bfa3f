"""The console's own pages: sign-in, home, sign-out."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem
from crm_console.api.deps import SIGN_IN_CSP, Api, Container, CurrentViewer, is_htmx, render
from crm_console.application.home import HomeDashboard
from crm_console.domain.csv_files import csv_params
from crm_console.domain.home import PRESETS, DateRange
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.signing_out import after_sign_out, page_left, safe_return_path
from crm_shared import public_operation

router = APIRouter(prefix=CONSOLE_PREFIX, include_in_schema=False)


@router.get("/sign-in", dependencies=[public_operation()])
async def sign_in_page(
    request: Request,
    state: Container,
    return_to: Annotated[str | None, Query(max_length=2048)] = None,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    reason: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Asks for the organisation, then hands over to its identity provider (`/auth/login`);
    after signing out, says so and offers to sign in again where the person was."""
    return render(
        request,
        state.templates,
        "sign_in.html",
        {
            "tenant": tenant or state.settings.default_tenant,
            "return_to": safe_return_path(return_to),
            "expired": reason == "expired",
            "signed_out": reason == "signed_out",
        },
        headers={"Content-Security-Policy": SIGN_IN_CSP},
    )


@router.post("/sign-out")
async def sign_out(request: Request, viewer: CurrentViewer, api: Api, state: Container) -> Response:
    """Ends the session at the gateway, then at the identity provider when it offers that; the
    browser lands on the signed-out page, whose "Sign in again" returns to the page left."""
    # htmx names the page the button was on; a plain form post has its `Referer`.
    left = page_left(request.headers.get("hx-current-url") or request.headers.get("referer"))
    tenant = viewer.principal.tenant_id
    try:
        answer = await api.send(viewer.caller, "POST", "/auth/logout")
        # The provider returns the browser to the console's signed-out page, not the
        # gateway's `/` (which has no page).
        target = after_sign_out((answer or {}).get("end_session_url"), left, tenant)
    except ApiProblem:
        # A session that already ended is signed out all the same.
        target = after_sign_out(None, left, tenant)
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    if target.startswith("/"):
        return Response(status_code=303, headers={"Location": target})
    return render(request, state.templates, "signing_out.html", {"target": target})


@router.get("/")
async def home(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The talent team's overview: totals, the pipeline by pool and stage, upcoming events,
    and campaign engagement and new candidates by source over a date range; the range picker
    asks (htmx) for those two charts alone."""
    span = DateRange.from_query(dict(request.query_params), datetime.now(UTC).date())
    dashboard = HomeDashboard(state.gateway)
    context: dict[str, object] = {
        "span": span,
        "presets": PRESETS,
        "render_id": secrets.token_hex(4),
    }
    if is_htmx(request):
        context["charts"] = await dashboard.range_charts(viewer.caller, span)
        return render(request, state.templates, "home_charts.html", context, viewer=viewer)
    figures = await dashboard.figures(viewer.caller, span)
    context.update(figures=figures, charts=figures)
    return render(request, state.templates, "home.html", context, viewer=viewer)


@router.get("/timeseries.csv")
async def home_charts_csv(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """Home's charts over the range the query asks for, as the analytics API's CSV file."""
    span = DateRange.from_query(dict(request.query_params), datetime.now(UTC).date())
    download = await HomeDashboard(state.gateway).range_csv(
        viewer.caller, span, csv_params(request.query_params)
    )
    return Response(
        download.content,
        media_type=download.media_type,
        headers={**download.headers, "Cache-Control": "no-store"},
    )


def sign_in_location(path_with_query: str, *, expired: bool) -> str:
    """The sign-in page that brings the person back to `path_with_query`."""
    query = {"return_to": path_with_query}
    if expired:
        query["reason"] = "expired"
    return f"{CONSOLE_PREFIX}/sign-in?{urlencode(query)}"

"""The analytics page (the funnel to hire and the attribution of applications and hires over
a period, docs/console.md "Analytics"), the weekly reports compiled, and the analytics
settings page (the time zone and who gets the weekly report when)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import ApiProblem, Download
from crm_console.api.deps import (
    Container,
    CurrentViewer,
    Viewer,
    form_of,
    fragment_or_page,
    is_htmx,
    render,
)
from crm_console.application.analytics import AnalyticsDesk, Report
from crm_console.application.weekly_reports import WeeklyReports
from crm_console.container import ConsoleContainer
from crm_console.domain.analytics import (
    CREDIT_KINDS,
    FUNNEL_BY,
    MODELS,
    OUTCOMES,
    AnalyticsQuery,
    credit,
    local_today,
    time_zone_error,
    time_zone_names,
)
from crm_console.domain.csv_files import csv_params
from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.problems import Problem
from crm_console.domain.settings import SETTINGS
from crm_console.domain.weekly_report import (
    HOURS,
    WEEKDAYS,
    ScheduleForm,
    days,
    figure_rows,
    funnel_lines,
    in_zone,
    mail_lines,
    signed,
    source_rows,
    week_of,
)

PAGE = f"{CONSOLE_PREFIX}/analytics"
router = APIRouter(prefix=PAGE, include_in_schema=False)
settings_router = APIRouter(prefix=SETTINGS, include_in_schema=False)
pools_router = APIRouter(prefix=f"{CONSOLE_PREFIX}/pools", include_in_schema=False)

# What every analytics template is given besides the reports.
CHOICES = {
    "funnel_by": FUNNEL_BY,
    "outcomes": OUTCOMES,
    "models": MODELS,
    "credit_kinds": CREDIT_KINDS,
    "credit": credit,
}


async def _question(
    request: Request, viewer: Viewer, desk: AnalyticsDesk
) -> tuple[AnalyticsQuery, str | None, str | None]:
    """The page's question, its days read in the tenant's analytics zone (UTC when the zone
    cannot be read, and why)."""
    zone, why = await desk.time_zone(viewer.caller)
    today = local_today(zone, datetime.now(UTC))
    return AnalyticsQuery.from_query(dict(request.query_params), today), zone, why


def _not_asked(query: AnalyticsQuery) -> Report:
    """Attribution with a lookback that is no number: not asked, the field says why."""
    reason = query.errors["lookback_days"]
    return Report(
        problem=Problem(
            status=422, title="Not asked", detail=reason, field_errors={"lookback_days": reason}
        )
    )


async def _attribution(desk: AnalyticsDesk, viewer: Viewer, query: AnalyticsQuery) -> Report:
    if "lookback_days" in query.errors:
        return _not_asked(query)
    return await desk.attribution(viewer.caller, query)


def _field_errors(query: AnalyticsQuery, *reports: Report) -> dict[str, str]:
    """What the form shows at each field: the console's own reading, then each report's
    refusal of a field (the period too long, too many people in it)."""
    errors: dict[str, list[str]] = {name: [text] for name, text in query.errors.items()}
    for report in reports:
        for name, text in (report.problem.field_errors if report.problem else {}).items():
            if text not in errors.setdefault(name, []):
                errors[name].append(text)
    return {name: " ".join(texts) for name, texts in errors.items()}


def _context(query: AnalyticsQuery, **more: object) -> dict[str, object]:
    return {
        **CHOICES,
        "query": query,
        "page_query": urlencode(query.page_params()),
        "render_id": secrets.token_hex(4),
        **more,
    }


def _pushed(query: AnalyticsQuery) -> dict[str, str]:
    """The page's address for a fragment's question, for the browser's history."""
    return {"HX-Push-Url": f"{PAGE}?{urlencode(query.page_params())}"}


@router.get("")
async def analytics_page(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The funnel and attribution over a period (the last 90 days unless asked); the form's
    Show asks (htmx) for both panels again with the form."""
    desk = AnalyticsDesk(state.gateway)
    query, zone, zone_problem = await _question(request, viewer, desk)
    funnel, attribution = await asyncio.gather(
        desk.funnel(viewer.caller, query), _attribution(desk, viewer, query)
    )
    # The zone the reports used (the settings' when neither could be read).
    for report in (funnel, attribution):
        if report.data is not None:
            zone = report.data.time_zone
            break
    context = _context(
        query,
        funnel=funnel,
        attribution=attribution,
        zone=zone,
        zone_problem=zone_problem,
        errors=_field_errors(query, funnel, attribution),
    )
    template = "analytics/panel.html" if is_htmx(request) else "analytics/page.html"
    return render(request, state.templates, template, context, viewer=viewer)


@router.get("/funnel")
async def funnel_panel(request: Request, viewer: CurrentViewer, state: Container) -> HTMLResponse:
    """The funnel panel alone (the `by` select swaps it)."""
    desk = AnalyticsDesk(state.gateway)
    query, _, _ = await _question(request, viewer, desk)
    funnel = await desk.funnel(viewer.caller, query)
    return render(
        request,
        state.templates,
        "analytics/funnel.html",
        _context(query, funnel=funnel),
        viewer=viewer,
        headers=_pushed(query),
    )


@router.get("/attribution")
async def attribution_panel(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The attribution panel alone (its outcome, model and lookback swap it)."""
    desk = AnalyticsDesk(state.gateway)
    query, _, _ = await _question(request, viewer, desk)
    attribution = await _attribution(desk, viewer, query)
    return render(
        request,
        state.templates,
        "analytics/attribution.html",
        _context(query, attribution=attribution),
        viewer=viewer,
        headers=_pushed(query),
    )


def _file(download: Download) -> Response:
    return Response(
        download.content,
        media_type=download.media_type,
        headers={**download.headers, "Cache-Control": "no-store"},
    )


@router.get("/funnel.csv")
async def funnel_csv(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """The funnel the query asks for, as the analytics API's CSV file."""
    desk = AnalyticsDesk(state.gateway)
    query, _, _ = await _question(request, viewer, desk)
    return _file(await desk.funnel_csv(viewer.caller, query, csv_params(request.query_params)))


@router.get("/attribution.csv")
async def attribution_csv(request: Request, viewer: CurrentViewer, state: Container) -> Response:
    """The attribution the query asks for, as the analytics API's CSV file."""
    desk = AnalyticsDesk(state.gateway)
    query, _, _ = await _question(request, viewer, desk)
    if "lookback_days" in query.errors:
        raise ApiProblem(_not_asked(query).problem or Problem(422, "Not asked", ""))
    return _file(await desk.attribution_csv(viewer.caller, query, csv_params(request.query_params)))


# The weekly reports compiled (docs/analytics.md "Weekly report")

# What the weekly report templates are given to say figures, days and instants.
WEEKLY = {
    "weekdays": WEEKDAYS,
    "hours": HOURS,
    "in_zone": in_zone,
    "week_of": week_of,
    "days": days,
    "signed": signed,
}


@router.get("/weekly-reports")
async def weekly_reports_page(
    request: Request, viewer: CurrentViewer, state: Container, cursor: str | None = None
) -> HTMLResponse:
    """The reports compiled, newest week first, a page at a time (the API's cursor)."""
    page = await WeeklyReports(state.gateway).page(viewer.caller, cursor or None)
    return render(
        request,
        state.templates,
        "analytics/weekly_reports.html",
        {**WEEKLY, "page": page, "cursor": cursor},
        viewer=viewer,
    )


@router.get("/weekly-reports/{week}.csv")
async def weekly_report_csv(
    week: str, request: Request, viewer: CurrentViewer, state: Container
) -> Response:
    """One report as the analytics API's CSV file, comma or semicolon separated."""
    return _file(
        await WeeklyReports(state.gateway).csv(
            viewer.caller, week, csv_params(request.query_params)
        )
    )


@router.get("/weekly-reports/{week}")
async def weekly_report_page(
    week: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """One report: its figures against the week before, its sources and funnel, and what
    became of each mail (a panel that says why when that cannot be read). A week not
    compiled is the API's 404, shown as the console's problem page."""
    found = await WeeklyReports(state.gateway).report(viewer.caller, week)
    report = found.report
    return render(
        request,
        state.templates,
        "analytics/weekly_report.html",
        {
            **WEEKLY,
            "report": report,
            "figures": figure_rows(report),
            "sources": source_rows(report),
            "funnel": funnel_lines(report),
            "mails": found.mails,
            "mail_lines": (
                mail_lines([str(r) for r in report.get("recipients") or []], found.mails.data)
                if found.mails.data is not None
                else []
            ),
        },
        viewer=viewer,
    )


# A talent pool's health, the panel its board loads after itself


@pools_router.get("/{pool_id}/health")
async def pool_health_panel(
    pool_id: str, request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The pool's health (htmx, once the board is shown): a report that cannot be read says
    why in the panel, and the board stays as it is."""
    health = await AnalyticsDesk(state.gateway).pool_health(viewer.caller, pool_id)
    # Without script the board links here (`<noscript>`): the panel as a page of its own.
    return fragment_or_page(
        request,
        state.templates,
        "analytics/pool_health.html",
        {"health": health, "pool_id": pool_id, "render_id": secrets.token_hex(4)},
        title="Pool health",
        back=f"{CONSOLE_PREFIX}/pools/{quote(pool_id, safe='')}",
        viewer=viewer,
    )


# Settings: the analytics time zone, and who gets the weekly report when


@dataclass(frozen=True)
class WeeklyPanel:
    """The weekly report's part of the settings page: the settings as saved (or why they
    could not be read), the form as typed, and the API's verdict on it."""

    status: dict[str, Any] | None = None
    unavailable: str | None = None
    form: ScheduleForm = field(default_factory=ScheduleForm)
    errors: dict[str, str] = field(default_factory=dict)
    problem: Problem | None = None
    saved: bool = False


async def _weekly_panel(state: ConsoleContainer, viewer: Viewer) -> WeeklyPanel:
    found = await WeeklyReports(state.gateway).settings(viewer.caller)
    return WeeklyPanel(
        status=found.data,
        unavailable=found.unavailable,
        form=ScheduleForm.from_settings(found.data or {}),
    )


def _weekly_context(weekly: WeeklyPanel, *, oob: bool = False) -> dict[str, object]:
    return {**WEEKLY, "weekly": weekly, "oob": oob}


def _settings_page(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    problem: Problem | None = None,
    saved: bool = False,
    status_code: int = 200,
    weekly: WeeklyPanel | None = None,
) -> HTMLResponse:
    """The whole page, or (htmx) the time zone's form, with the weekly report's part swapped
    out of band when given (a new zone moves its next report)."""
    fragment = is_htmx(request)
    template = "settings/analytics_form.html" if fragment else "settings/analytics.html"
    return render(
        request,
        state.templates,
        template,
        {
            "values": values,
            "errors": errors or {},
            "problem": problem,
            "saved": saved,
            "zones": time_zone_names(),
            **_weekly_context(weekly or WeeklyPanel(), oob=fragment),
            "with_weekly": weekly is not None,
        },
        viewer=viewer,
        status_code=status_code,
    )


@settings_router.get("/analytics")
async def analytics_settings_page(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """The time zone whose days the funnel, attribution and weekly report are, and who gets
    the weekly report when."""
    found, weekly = await asyncio.gather(
        AnalyticsDesk(state.gateway).settings(viewer.caller), _weekly_panel(state, viewer)
    )
    values = {"time_zone": str(found.get("time_zone") or "UTC")}
    return _settings_page(request, viewer, state, values, weekly=weekly)


@settings_router.post("/analytics")
async def save_analytics_settings(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Saves the time zone (admins); a name that is none, ours or the API's verdict, is shown
    at the field with what was typed. Once saved, the weekly report's part is read again:
    its next report moved to its hour in the new zone."""
    typed = (await form_of(request)).get("time_zone", "").strip()
    values = {"time_zone": typed}
    # The whole page (a form posted without htmx) shows the weekly report's part too.
    weekly = None if is_htmx(request) else await _weekly_panel(state, viewer)
    error = time_zone_error(typed)
    if error:
        return _settings_page(
            request,
            viewer,
            state,
            values,
            errors={"time_zone": error},
            status_code=422,
            weekly=weekly,
        )
    try:
        saved = await AnalyticsDesk(state.gateway).save_settings(viewer.caller, typed)
    except ApiProblem as refused:
        return _settings_page(
            request,
            viewer,
            state,
            values,
            errors=refused.problem.field_errors,
            problem=refused.problem,
            status_code=refused.problem.status,
            weekly=weekly,
        )
    values = {"time_zone": str(saved.get("time_zone") or typed)}
    weekly = await _weekly_panel(state, viewer)
    return _settings_page(request, viewer, state, values, saved=True, weekly=weekly)


async def _weekly_answer(
    request: Request,
    viewer: Viewer,
    state: ConsoleContainer,
    weekly: WeeklyPanel,
    status_code: int = 200,
) -> HTMLResponse:
    """The weekly report's part (htmx), or the whole page with the time zone as saved."""
    if is_htmx(request):
        return render(
            request,
            state.templates,
            "settings/weekly_report_form.html",
            _weekly_context(weekly),
            viewer=viewer,
            status_code=status_code,
        )
    found = await AnalyticsDesk(state.gateway).settings(viewer.caller)
    values = {"time_zone": str(found.get("time_zone") or "UTC")}
    return _settings_page(request, viewer, state, values, weekly=weekly, status_code=status_code)


@settings_router.post("/analytics/weekly-report")
async def save_weekly_report_settings(
    request: Request, viewer: CurrentViewer, state: Container
) -> HTMLResponse:
    """Saves who gets the weekly report and when (admins): the API's refusal is shown at the
    field it names, with what was typed kept."""
    form = ScheduleForm.from_form(await form_of(request))
    reports = WeeklyReports(state.gateway)
    if form.errors:
        status = await reports.settings(viewer.caller)
        weekly = WeeklyPanel(status.data, status.unavailable, form, form.errors)
        return await _weekly_answer(request, viewer, state, weekly, 422)
    try:
        saved = await reports.save_settings(viewer.caller, form)
    except ApiProblem as refused:
        status = await reports.settings(viewer.caller)
        weekly = WeeklyPanel(
            status.data,
            status.unavailable,
            form,
            refused.problem.field_errors,
            refused.problem,
        )
        return await _weekly_answer(request, viewer, state, weekly, refused.problem.status)
    weekly = WeeklyPanel(saved, None, ScheduleForm.from_settings(saved), saved=True)
    return await _weekly_answer(request, viewer, state, weekly)

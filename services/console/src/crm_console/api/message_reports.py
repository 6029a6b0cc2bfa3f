"""What the broadcast, sequence and template pages' message report panels share: the panel's
rendering and the CSV file passed through (docs/console.md "Message reports")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import Download
from crm_console.api.deps import Container, Viewer, render
from crm_console.application.parts import Part
from crm_console.domain import message_reports as rules


def report_panel(
    request: Request,
    viewer: Viewer,
    state: Container,
    report: Part,
    *,
    panel_url: str,
    intro: str,
    group_label: Callable[[Mapping[str, Any]], str],
    groups_caption: str,
    live: bool = False,
    names_unavailable: list[str] | None = None,
) -> HTMLResponse:
    """The report's card: totals and per group (machines' opens and clicks apart), the days
    anything happened, and the CSV links; or why it is not shown."""
    return render(
        request,
        state.templates,
        "fragments/message_report.html",
        {
            "report": report,
            "live": live,
            "panel_url": panel_url,
            "csv_href": f"{panel_url}.csv",
            "intro": intro,
            "group_label": group_label,
            "groups_caption": groups_caption,
            "names_unavailable": names_unavailable or [],
            "figures": rules.MESSAGE_FIGURES,
            "figure_cell": rules.figure_cell,
            "day_figures": rules.DAY_FIGURES,
            "active_days": rules.active_days,
        },
        viewer=viewer,
    )


def csv_answer(download: Download) -> Response:
    """The API's CSV file as it came, never cached (it holds the tenant's figures)."""
    return Response(
        download.content,
        media_type=download.media_type,
        headers={**download.headers, "Cache-Control": "no-store"},
    )

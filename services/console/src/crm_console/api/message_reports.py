"""What the broadcast, sequence and template pages' message report panels share: the panel's
rendering and the CSV file passed through (docs/console.md "Message reports")."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from crm_console.adapters.gateway_api import Download
from crm_console.api.deps import Container, Viewer, fragment_or_page
from crm_console.application.parts import Part
from crm_console.domain import message_reports as rules
from crm_console.domain.charts import daily_lines, daily_summary


def day_chart(
    report: Part, figures: Sequence[tuple[str, str]], *, title: str
) -> dict[str, Any] | None:
    """What a report panel's chart per day needs (its id, configuration and text), or None
    when there is no report or only one day."""
    series = (report.data or {}).get("series") or []
    config = daily_lines(series, figures, title=title)
    if config is None:
        return None
    return {
        "id": f"days-{secrets.token_hex(4)}",
        "config": config,
        "label": daily_summary(series, figures),
    }


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
    anything happened, and the CSV links; or why it is not shown. Without script the page
    links here (`<noscript>`): the card as a page of its own, linking back to that page."""
    return fragment_or_page(
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
            "day_chart": day_chart(report, rules.CHART_FIGURES, title="Mail per day"),
        },
        title="What became of the mail",
        back=panel_url.rsplit("/", 1)[0],
        viewer=viewer,
    )


def csv_answer(download: Download) -> Response:
    """The API's CSV file as it came, never cached (it holds the tenant's figures)."""
    return Response(
        download.content,
        media_type=download.media_type,
        headers={**download.headers, "Cache-Control": "no-store"},
    )

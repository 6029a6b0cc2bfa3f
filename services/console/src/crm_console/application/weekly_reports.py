"""The weekly report through the gateway's public API: its settings (who gets it, when), the
reports compiled (a page at a time, one report, its CSV file) and where each report's mails
went (campaigns' `GET /report-mails`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from crm_console.adapters.gateway_api import Caller, Download, GatewayApi
from crm_console.application.parts import Part, items, part
from crm_console.domain.weekly_report import ScheduleForm

API = "/api/v1"
SETTINGS = f"{API}/analytics/settings/weekly-report"
REPORTS = f"{API}/analytics/weekly-reports"
# Reports listed a page at a time.
REPORTS_PAGE = 20
# A report goes to at most 20 people: one page of mail outcomes holds them all.
MAILS_PAGE = 50


@dataclass(frozen=True)
class WeeklyReport:
    """One compiled report and what became of its mails (or why that could not be read)."""

    report: dict[str, Any]
    mails: Part


class WeeklyReports:
    """The weekly report's settings and reports, for one caller at a time."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def settings(self, caller: Caller) -> Part:
        """`{recipients, weekday, hour, time_zone, enabled, next_report_at, last_report_at,
        last_report_id, last_report_error, updated_at}`, or why it could not be read."""
        return await part(self._api.get(caller, SETTINGS))

    async def save_settings(self, caller: Caller, form: ScheduleForm) -> dict[str, Any]:
        """Replaces who gets it and when (admins); the API's refusal is raised."""
        saved: dict[str, Any] = await self._api.send(caller, "PUT", SETTINGS, form.body())
        return saved

    async def page(self, caller: Caller, cursor: str | None) -> dict[str, Any]:
        """`{items, next_cursor}`: reports newest week first."""
        found: dict[str, Any] = await self._api.get(
            caller, REPORTS, {"limit": REPORTS_PAGE, "cursor": cursor}
        )
        return found

    async def report(self, caller: Caller, week: str) -> WeeklyReport:
        """One report, then its mails by the id the report names. The report's refusal (404:
        not compiled) is raised; the mails' is the mail panel's reason."""
        report: dict[str, Any] = await self._api.get(caller, f"{REPORTS}/{quote(week, safe='')}")
        mails = await part(
            self._api.get(
                caller,
                f"{API}/report-mails",
                {"report_id": str(report.get("report_id") or ""), "limit": MAILS_PAGE},
            )
        )
        if mails.data is not None:
            mails = Part(data=items(mails.data))
        return WeeklyReport(report=report, mails=mails)

    async def csv(
        self, caller: Caller, week: str, params: dict[str, str] | None = None
    ) -> Download:
        """One report as the analytics API's CSV file (a row per figure, source and step;
        `params`: its separator)."""
        return await self._api.download(
            caller, f"{REPORTS}/{quote(week, safe='')}", {"format": "csv", **(params or {})}
        )

"""Every CSV the console links comes in two kinds: the API's default (comma) and "CSV for
Excel (;)" (`separator=semicolon`), which German or Swedish Excel opens into columns."""

from __future__ import annotations

import re

import httpx
import pytest

from crm_console.domain.csv_files import csv_params
from crm_console.main import PACKAGE
from crm_shared import Principal
from unit.console.test_pages import Api, gateway_headers
from unit.console.test_pages import console as console

pytestmark = pytest.mark.unit

Console = tuple[httpx.AsyncClient, Api]
ADMIN = Principal(tenant_id="acme", user_id="ada", roles=frozenset({"admin"}))
# CSV links of APIs that have no separator to choose (the import's error report is the
# candidates service's file, the audit export the gateway's).
WITHOUT_SEPARATOR = {"imports/progress.html", "settings/audit_results.html"}


def test_every_csv_link_of_an_analytics_report_offers_both_kinds() -> None:
    """A template linking a `.csv` download does it through `csv_links`, which adds the
    semicolon kind: a new link written by hand fails here."""
    checked = 0
    for path in sorted((PACKAGE / "templates").rglob("*.html")):
        name = path.relative_to(PACKAGE / "templates").as_posix()
        text = path.read_text(encoding="utf-8")
        if name in WITHOUT_SEPARATOR or name == "fragments/macros.html":
            continue
        by_hand = re.findall(r'<a [^>]*href="[^"]*\.csv[^"]*"', text)
        assert not by_hand, f"{name} links a CSV without csv_links: {by_hand}"
        checked += text.count("csv_links(")
    assert checked >= 7


def test_only_the_semicolon_kind_is_passed_on() -> None:
    assert csv_params({"separator": "semicolon"}) == {"separator": "semicolon"}
    assert csv_params({"separator": "tab"}) == {}
    assert csv_params({}) == {}


@pytest.mark.parametrize(
    ("page", "api_path"),
    [
        ("/console/timeseries.csv", "/api/v1/analytics/timeseries"),
        ("/console/events/ev1/report.csv", "/api/v1/analytics/events/ev1"),
        (
            "/console/analytics/weekly-reports/2026-W47.csv",
            "/api/v1/analytics/weekly-reports/2026-W47",
        ),
        ("/console/analytics/funnel.csv", "/api/v1/analytics/funnel"),
        ("/console/broadcasts/b1/report.csv", "/api/v1/analytics/broadcasts/b1"),
    ],
)
async def test_the_excel_kind_asks_the_api_for_semicolons(
    console: Console, page: str, api_path: str
) -> None:
    client, api = console
    api.routes[("GET", api_path)] = httpx.Response(
        200,
        content="\ufefffigure;value\r\nrate;0,25\r\n".encode(),
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": 'attachment; filename="report.csv"',
        },
    )
    api.answer("GET", "/api/v1/analytics/settings", body={"time_zone": "UTC"})
    for asked, sent in ((None, None), ("semicolon", "semicolon")):
        api.calls.clear()
        query = {"separator": asked} if asked else {}
        download = await client.get(page, params=query, headers=gateway_headers(ADMIN))
        assert download.status_code == 200, download.text
        [call] = [c for c in api.calls if c.url.path == api_path]
        assert call.url.params["format"] == "csv"
        assert call.url.params.get("separator") == sent

"""Home's date range and its charts: the range a query asks for, the charts built from the
analytics API's time series, and what the page and the range picker's fragment show."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

import httpx
import pytest

from crm_console.domain.charts import pipeline_by_pool_and_stage
from crm_console.domain.home import (
    DateRange,
    engagement_chart,
    engagement_totals,
    new_candidate_totals,
    new_candidates_chart,
)
from crm_shared import Principal
from unit.console.test_pages import Api, console, gateway_headers

pytestmark = pytest.mark.unit

__all__ = ["console"]

TODAY = date(2026, 12, 3)
Console = tuple[httpx.AsyncClient, Api]


def answer(periods: list[str], **series: list[int]) -> dict[str, Any]:
    """An analytics time series; `candidates_created__referral=` names a breakdown."""
    return {
        "from": periods[0],
        "to": periods[-1],
        "interval": "day",
        "periods": periods,
        "series": [
            {
                "metric": name.split("__")[0],
                "dimension": name.split("__")[1] if "__" in name else None,
                "values": values,
            }
            for name, values in series.items()
        ],
    }


@pytest.mark.parametrize(
    ("query", "preset", "start", "end", "interval"),
    [
        ({}, "30d", date(2026, 11, 4), TODAY, "day"),
        ({"range": "7d"}, "7d", date(2026, 11, 27), TODAY, "day"),
        ({"range": "90d"}, "90d", date(2026, 9, 5), TODAY, "day"),
        ({"range": "year"}, "year", date(2026, 1, 1), TODAY, "week"),
        ({"range": "bogus"}, "30d", date(2026, 11, 4), TODAY, "day"),
        (
            {"range": "custom", "from": "2026-02-01", "to": "2026-02-10"},
            "custom",
            date(2026, 2, 1),
            date(2026, 2, 10),
            "day",
        ),
        # Dates are only read for a custom range.
        (
            {"range": "7d", "from": "2020-01-01", "to": "2020-02-01"},
            "7d",
            date(2026, 11, 27),
            TODAY,
            "day",
        ),
    ],
)
def test_a_query_asks_for_a_range(
    query: dict[str, str], preset: str, start: date, end: date, interval: str
) -> None:
    span = DateRange.from_query(query, TODAY)
    assert (span.preset, span.start, span.end, span.interval, span.errors) == (
        preset,
        start,
        end,
        interval,
        {},
    )


def test_an_unreadable_custom_range_says_why_by_the_field_and_shows_the_default() -> None:
    backwards = DateRange.from_query(
        {"range": "custom", "from": "2026-03-01", "to": "2026-02-01"}, TODAY
    )
    assert backwards.errors == {"to": "The end is before the start."}
    assert backwards.typed == {"from": "2026-03-01", "to": "2026-02-01"}  # shown to be fixed
    assert (backwards.start, backwards.end) == (date(2026, 11, 4), TODAY)
    garbled = DateRange.from_query({"range": "custom", "from": "yesterday"}, TODAY)
    assert set(garbled.errors) == {"from", "to"}
    too_long = DateRange.from_query(
        {"range": "custom", "from": "2020-01-01", "to": "2026-01-01"}, TODAY
    )
    assert "three years" in too_long.errors["to"]
    assert DateRange.from_query({"range": "7d"}, TODAY).query_params() == {
        "from": "2026-11-27",
        "to": "2026-12-03",
        "interval": "day",
    }


def test_engagement_and_new_candidate_charts_follow_the_series() -> None:
    body = answer(
        ["2026-12-01", "2026-12-02"],
        messages_sent=[5, 3],
        messages_opened=[2, 1],
        candidates_created=[4, 1],
        candidates_created__referral=[3, 0],
        candidates_created__career_site=[1, 1],
        candidates_created__new_channel=[0, 0],
    )
    chart = engagement_chart(body)
    assert chart["type"] == "line"
    assert chart["data"]["labels"] == ["2026-12-01", "2026-12-02"]
    # A metric the answer lacks is a line of zeros, not a missing line.
    assert [(d["label"], d["data"]) for d in chart["data"]["datasets"]] == [
        ("Sent", [5, 3]),
        ("Opened", [2, 1]),
        ("Clicked", [0, 0]),
    ]
    assert engagement_totals(body) == {"Sent": 8, "Opened": 3, "Clicked": 0}
    sources = new_candidates_chart(body)
    assert sources["options"]["scales"]["y"]["stacked"] is True
    # Known sources in the list's order under their labels, then unknown ones by name.
    assert [(d["label"], d["data"]) for d in sources["data"]["datasets"]] == [
        ("Referral", [3, 0]),
        ("Career site", [1, 1]),
        ("new_channel", [0, 0]),
    ]
    assert new_candidate_totals(body) == [
        ("Referral", 3),
        ("Career site", 2),
        ("new_channel", 0),
        ("All", 5),
    ]


async def test_home_asks_for_the_range_once_and_the_picker_swaps_the_charts_alone(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/summary", body={"candidates": 9})
    api.answer("GET", "/api/v1/pools", body=[])
    api.answer("GET", "/api/v1/events", body=[])
    api.answer(
        "GET",
        "/api/v1/analytics/timeseries",
        body=answer(
            ["2026-12-01"],
            messages_sent=[7],
            messages_opened=[4],
            messages_clicked=[1],
            candidates_created=[2],
            candidates_created__event=[2],
        ),
    )
    page = await client.get("/console/", headers=gateway_headers())
    assert page.status_code == 200
    charts = {
        name: json.loads(config.replace("&#39;", "'"))
        for name, config in re.findall(
            r'id="([a-z0-9-]+)" role="img"[^>]*data-chart=\'([^\']*)\'', page.text
        )
    }
    assert {name.rsplit("-", 1)[0] for name in charts} == {"engagement-chart", "sources-chart"}
    assert "Sent 7, Opened 4, Clicked 1" in page.text
    assert '<option value="30d" selected>' in page.text
    [series_call] = [call for call in api.calls if call.url.path.endswith("/timeseries")]
    assert series_call.url.params.get_list("metric") == [
        "messages_sent",
        "messages_opened",
        "messages_clicked",
        "candidates_created",
    ]
    assert series_call.url.params["interval"] == "day"

    api.calls.clear()
    fragment = await client.get(
        "/console/",
        params={"range": "custom", "from": "2026-01-01", "to": "2026-06-30"},
        headers={**gateway_headers(), "hx-request": "true"},
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'id="range-panel"' in fragment.text
    assert "2026-01-01 to 2026-06-30, per week" in fragment.text
    [call] = api.calls
    assert (call.url.params["from"], call.url.params["to"], call.url.params["interval"]) == (
        "2026-01-01",
        "2026-06-30",
        "week",
    )


async def test_the_charts_figures_download_as_the_apis_csv_for_the_range_shown(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/timeseries", body=answer(["2026-01-05"]))
    fragment = await client.get(
        "/console/",
        params={"range": "custom", "from": "2026-01-01", "to": "2026-06-30"},
        headers={**gateway_headers(), "hx-request": "true"},
    )
    link = 'href="/console/timeseries.csv?range=custom&amp;from=2026-01-01&amp;to=2026-06-30"'
    assert f"{link} download" in fragment.text
    # A coordinator may not read analytics: no link to a file the API would refuse them.
    cole = Principal(tenant_id="acme", user_id="cole", roles=frozenset({"coordinator"}))
    theirs = await client.get(
        "/console/",
        params={"range": "custom", "from": "2026-01-01", "to": "2026-06-30"},
        headers={**gateway_headers(cole), "hx-request": "true"},
    )
    assert theirs.status_code == 200, theirs.text
    assert "timeseries.csv" not in theirs.text

    exported = "\ufeffperiod,messages_sent\r\n2026-01-05,3\r\n".encode()
    api.routes[("GET", "/api/v1/analytics/timeseries")] = httpx.Response(
        200,
        content=exported,
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": 'attachment; filename="timeseries-2026-01-01-to-2026-06-30.csv"',
        },
    )
    api.calls.clear()
    download = await client.get(
        "/console/timeseries.csv",
        params={"range": "custom", "from": "2026-01-01", "to": "2026-06-30"},
        headers=gateway_headers(),
    )
    assert download.status_code == 200
    assert download.content == exported
    assert download.headers["content-disposition"] == (
        'attachment; filename="timeseries-2026-01-01-to-2026-06-30.csv"'
    )
    [call] = api.calls
    assert call.url.path == "/api/v1/analytics/timeseries"
    assert call.url.params.get_list("metric") == [
        "messages_sent",
        "messages_opened",
        "messages_clicked",
        "candidates_created",
    ]
    assert (
        call.url.params["from"],
        call.url.params["to"],
        call.url.params["interval"],
        call.url.params["format"],
    ) == ("2026-01-01", "2026-06-30", "week", "csv")


async def test_a_range_the_api_refuses_is_said_and_the_rest_of_home_renders(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/summary", body={"candidates": 9})
    api.answer(
        "GET",
        "/api/v1/analytics/timeseries",
        403,
        {"title": "Forbidden", "status": 403, "detail": "needs analytics:read"},
    )
    page = await client.get(
        "/console/", params={"range": "custom", "from": "x"}, headers=gateway_headers()
    )
    assert page.status_code == 200
    assert page.text.count("Not available: needs analytics:read") == 2
    assert 'data-figure="candidates">9<' in page.text
    assert 'id="range-from"' in page.text
    assert 'aria-invalid="true"' in page.text
    assert "The period could not be read" in page.text


def test_each_pools_bar_stacks_its_stages_in_the_pools_own_order() -> None:
    chart = pipeline_by_pool_and_stage(
        [
            {"name": "Backend", "stages": ["New", "Screen", "Offer"], "member_counts": {"New": 2}},
            {"name": "Design", "stages": ["Lead", "New", "Applied"], "member_counts": {"Lead": 1}},
        ]
    )
    assert chart["data"]["labels"] == ["Backend", "Design"]
    datasets = chart["data"]["datasets"]
    assert [d["label"] for d in datasets] == [
        "Backend: New",
        "Backend: Screen",
        "Backend: Offer",
        "Design: Lead",
        "Design: New",
        "Design: Applied",
    ]
    # A dataset is one pool's: its value on that pool's bar, none on the others.
    assert datasets[0]["data"] == [2, None]
    assert datasets[3]["data"] == [None, 1]
    # Coloured by the place in the pool's own pipeline.
    assert datasets[0]["backgroundColor"] == datasets[3]["backgroundColor"]

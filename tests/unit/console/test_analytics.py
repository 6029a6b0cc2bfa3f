"""The analytics page (funnel and attribution) and the analytics time zone's settings page
with the stand-in API: what is asked of the API, what is shown, names resolved, refusals
shown by the form, the API's CSV passed through."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from crm_console.domain.analytics import (
    AnalyticsQuery,
    credit_rows,
    duration,
    funnel_chart,
    funnel_groups,
    local_today,
    percent,
    time_zone_error,
)
from crm_console.domain.navigation import navigation
from crm_shared import Principal
from crm_shared.permissions import permissions_of
from unit.console.test_pages import RITA, Api, console, gateway_headers, htmx_headers

pytestmark = pytest.mark.unit

__all__ = ["console"]

Console = tuple[httpx.AsyncClient, Api]
ALICE = Principal(tenant_id="acme", user_id="alice", roles=frozenset({"admin"}))
TODAY = date(2026, 12, 3)
STEP_NAMES = ("sourced", "engaged", "responded", "applied", "interviewed", "hired")


def steps(*counts: int) -> list[dict[str, Any]]:
    """A funnel's steps with these counts (conversions computed, one median of 30 hours)."""
    found = []
    for i, (name, count) in enumerate(zip(STEP_NAMES, counts, strict=True)):
        previous = counts[i - 1] if i else None
        found.append(
            {
                "step": name,
                "count": count,
                "conversion_from_previous": round(count / previous, 4) if previous else None,
                "conversion_from_first": round(count / counts[0], 4) if counts[0] else None,
                "median_hours_from_previous": 30.0 if i == 1 else (72.0 if i == 3 else None),
                "timed": 2 if i in (1, 3) else 0,
            }
        )
    return found


def funnel_answer(by: str, groups: list[tuple[str | None, list[int]]]) -> dict[str, Any]:
    return {
        "from": "2026-09-05",
        "to": "2026-12-03",
        "time_zone": "Europe/Berlin",
        "by": by,
        "cohort": 10,
        "funnels": [{"key": key, "steps": steps(*counts)} for key, counts in groups],
    }


ATTRIBUTION = {
    "from": "2026-09-05",
    "to": "2026-12-03",
    "time_zone": "Europe/Berlin",
    "outcome": "application",
    "model": "linear",
    "lookback_days": 30,
    "outcomes": 4,
    "no_touch": 1,
    "by_kind": {"broadcast": 1.5, "source": 1.5, "no touch": 1.0},
    "credits": [
        {"kind": "broadcast", "ref": "b1", "credit": 1.0, "outcomes": 2},
        {"kind": "source", "ref": "referral", "credit": 1.5, "outcomes": 3},
        {"kind": "no touch", "ref": "no touch", "credit": 1.0, "outcomes": 1},
        {"kind": "broadcast", "ref": "b-gone", "credit": 0.5, "outcomes": 1},
    ],
}


def charts_of(html: str) -> dict[str, dict[str, Any]]:
    return {
        name.rsplit("-", 1)[0]: json.loads(config.replace("&#39;", "'"))
        for name, config in re.findall(
            r'id="([a-z0-9-]+)" role="img"[^>]*data-chart=\'([^\']*)\'', html
        )
    }


def standard_answers(api: Api, zone: str = "Europe/Berlin") -> None:
    api.answer("GET", "/api/v1/analytics/settings", body={"time_zone": zone, "updated_at": None})
    api.answer("GET", "/api/v1/analytics/attribution", body=ATTRIBUTION)
    api.answer("GET", "/api/v1/broadcasts", body={"items": [{"id": "b1", "name": "Autumn news"}]})


# Pure rules


def test_the_question_defaults_to_the_last_90_days_and_reads_each_choice() -> None:
    default = AnalyticsQuery.from_query({}, TODAY)
    assert (default.start, default.end, default.by, default.outcome, default.model) == (
        date(2026, 9, 5),
        TODAY,
        "none",
        "application",
        "last",
    )
    assert default.attribution_params() == {
        "from": "2026-09-05",
        "to": "2026-12-03",
        "outcome": "application",
        "model": "last",
        "lookback_days": "90",
    }
    asked = AnalyticsQuery.from_query(
        {
            "from": "2026-01-01",
            "to": "2026-01-31",
            "by": "pool",
            "model": "first",
            "outcome": "hire",
        },
        TODAY,
    )
    assert asked.funnel_params() == {"from": "2026-01-01", "to": "2026-01-31", "by": "pool"}
    assert (asked.model, asked.outcome, asked.errors) == ("first", "hire", {})
    # An unknown choice is the default; an unreadable or reversed period says why at its field.
    assert AnalyticsQuery.from_query({"by": "planet"}, TODAY).by == "none"
    garbled = AnalyticsQuery.from_query({"from": "yesterday", "lookback_days": "ten"}, TODAY)
    assert garbled.errors == {
        "from": "Enter a date (YYYY-MM-DD).",
        "lookback_days": "Enter a whole number of days.",
    }
    assert (garbled.start, garbled.end) == (date(2026, 9, 5), TODAY)
    reversed_ = AnalyticsQuery.from_query({"from": "2026-03-01", "to": "2026-02-01"}, TODAY)
    assert reversed_.errors == {"to": "The end is before the start."}
    # The form shows the period as typed, to be corrected; the report the default one.
    assert reversed_.typed == {"from": "2026-03-01", "to": "2026-02-01"}
    assert (reversed_.start, reversed_.end) == (date(2026, 9, 5), TODAY)
    assert asked.typed == {}


def test_today_is_the_tenants_day() -> None:
    late_evening_utc = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)
    assert local_today("Europe/Berlin", late_evening_utc) == date(2026, 12, 4)
    assert local_today("America/New_York", late_evening_utc) == date(2026, 12, 3)
    assert local_today(None, late_evening_utc) == date(2026, 12, 3)
    assert local_today("Mars/Base", late_evening_utc) == date(2026, 12, 3)


def test_funnel_figures_are_said_as_people_read_them() -> None:
    assert percent(0.4567) == "45.7\u00a0%"
    assert percent(None) == "\u2013"
    assert duration(30.0) == "30.0\u00a0h"
    assert duration(72.0) == "3.0\u00a0days"
    assert duration(None) == "\u2013"
    body = funnel_answer("pool", [("p1", [4, 3, 2, 2, 1, 1]), ("p-gone", [2, 1, 0, 0, 0, 0])])
    body["funnels"].append({"key": None, "steps": steps(5, 1, 0, 0, 0, 0)})
    groups = funnel_groups(body, {"p1": "Backend"})
    assert [(g.name, g.named) for g in groups] == [
        ("Backend", True),
        ("p-gone", False),
        ("In no talent pool", True),
    ]
    assert [(r.label, r.count, r.from_previous, r.median) for r in groups[0].rows[:2]] == [
        ("Sourced", 4, "\u2013", "\u2013"),
        ("Engaged", 3, "75.0\u00a0%", "30.0\u00a0h"),
    ]
    sources = funnel_groups(funnel_answer("source", [("referral", [1] * 6)]), {})
    assert sources[0].name == "Referral"
    chart = funnel_chart(steps(4, 3, 2, 2, 1, 1))
    assert chart["options"]["indexAxis"] == "y"
    assert chart["data"]["labels"][0] == "Sourced"
    assert chart["data"]["datasets"][0]["data"] == [4, 3, 2, 2, 1, 1]


def test_credits_are_named_highest_first() -> None:
    rows = credit_rows(ATTRIBUTION, {"broadcast": {"b1": "Autumn news"}})
    assert [(r.kind_label, r.name, r.named, r.credit) for r in rows] == [
        ("Source", "Referral", True, 1.5),
        ("Broadcast", "Autumn news", True, 1.0),
        ("No touch", "No touch in the window", True, 1.0),
        ("Broadcast", "b-gone", False, 0.5),
    ]


def test_a_time_zone_is_checked_before_the_api_is_asked() -> None:
    assert time_zone_error("Europe/Berlin") is None
    assert time_zone_error("") == "This is required."
    assert time_zone_error("Mars/Base") is not None
    assert time_zone_error("../etc/passwd") is not None


def test_the_analytics_section_is_for_those_who_read_analytics() -> None:
    def labels(role: str) -> list[str]:
        return [item.label for item in navigation(permissions_of({role}))]  # type: ignore[arg-type]

    assert "Analytics" in labels("recruiter")
    assert "Analytics" in labels("marketer")
    assert "Analytics" not in labels("coordinator")


# The page


async def test_a_funnel_the_api_does_not_answer_in_time_is_said_so_and_the_rest_renders(
    console: Console,
) -> None:
    client, api = console
    standard_answers(api)
    api.failures[("GET", "/api/v1/analytics/funnel")] = httpx.ReadTimeout("slow")
    page = await client.get("/console/analytics", headers=gateway_headers())
    assert page.status_code == 200
    assert "the API did not answer in time (ReadTimeout)" in page.text
    assert 'data-testid="credits-table"' in page.text


async def test_a_reversed_period_is_shown_as_typed_beside_its_error(console: Console) -> None:
    client, api = console
    standard_answers(api)
    page = await client.get(
        "/console/analytics?from=2026-12-31&to=2026-12-01", headers=gateway_headers()
    )
    assert page.status_code == 200
    assert 'id="analytics-from" name="from" type="date" value="2026-12-31"' in page.text
    assert 'id="analytics-to" name="to" type="date" value="2026-12-01"' in page.text
    assert "The end is before the start." in page.text
    assert "The period could not be read; showing" in page.text


async def test_the_page_asks_for_the_funnel_and_attribution_of_the_last_90_days_in_the_zone(
    console: Console,
) -> None:
    client, api = console
    standard_answers(api)
    api.answer(
        "GET", "/api/v1/analytics/funnel", body=funnel_answer("none", [(None, [10, 6, 4, 3, 2, 1])])
    )
    page = await client.get("/console/analytics", headers=gateway_headers())
    assert page.status_code == 200
    assert 'aria-current="page">Analytics</a>' in page.text
    calls = {call.url.path: call for call in api.calls}
    funnel = calls["/api/v1/analytics/funnel"]
    # The days are the tenant's: the last 90 up to today there.
    to = date.fromisoformat(funnel.url.params["to"])
    assert (to - date.fromisoformat(funnel.url.params["from"])).days == 89
    assert funnel.url.params["by"] == "none"
    assert [c.url.params["by"] for c in api.calls if c.url.path.endswith("/funnel")] == ["none"]
    attribution = calls["/api/v1/analytics/attribution"]
    assert dict(attribution.url.params) == {
        "from": funnel.url.params["from"],
        "to": funnel.url.params["to"],
        "outcome": "application",
        "model": "last",
        "lookback_days": "90",
    }
    assert "Days in <strong>Europe/Berlin</strong>" in page.text
    assert "<strong>10</strong> people first sourced" in page.text
    # One table (everyone) with the step figures, and the whole cohort's chart.
    assert page.text.count('data-testid="funnel-table"') == 1
    assert (
        '<tr data-step="engaged"><th scope="row">Engaged</th><td>6</td><td>60.0\u00a0%</td>'
        in page.text
    )
    charts = charts_of(page.text)
    assert charts["funnel-chart"]["data"]["datasets"][0]["data"] == [10, 6, 4, 3, 2, 1]
    assert charts["credit-chart"]["data"]["labels"] == ["Broadcast", "Source", "No touch"]
    # Credits named (a broadcast the list does not hold keeps its id), highest first.
    credits = page.text[page.text.index('data-testid="credits-table"') :]
    assert credits.index("Referral") < credits.index("Autumn news") < credits.index("b-gone")
    assert '<code title="Not found among the names this page could read">b-gone</code>' in credits
    assert "No touch in the window" in credits
    assert "with no touch in the 30 days before" in page.text


async def test_a_split_is_named_from_its_list_and_the_chart_is_the_whole_cohorts(
    console: Console,
) -> None:
    client, api = console
    standard_answers(api)
    api.answer("GET", "/api/v1/pools", body=[{"id": "p1", "name": "Backend"}])

    def funnel(request: httpx.Request) -> httpx.Response:
        by = request.url.params["by"]
        if by == "pool":
            body = funnel_answer("pool", [("p1", [4, 3, 2, 1, 1, 0]), ("p-gone", [1] * 6)])
            body["funnels"].append({"key": None, "steps": steps(5, 1, 0, 0, 0, 0)})
        else:
            body = funnel_answer("none", [(None, [10, 6, 4, 3, 2, 1])])
        return httpx.Response(200, json=body)

    api.routes = _Dynamic(api, api.routes, {"/api/v1/analytics/funnel": funnel})
    fragment = await client.get(
        "/console/analytics/funnel",
        params={"from": "2026-09-05", "to": "2026-12-03", "by": "pool", "outcome": "hire"},
        headers=htmx_headers(),
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert 'id="funnel-panel"' in fragment.text
    assert "attribution-panel" not in fragment.text
    # The address keeps every choice, so the back button and a shared link show the same.
    assert fragment.headers["hx-push-url"] == (
        "/console/analytics?from=2026-09-05&to=2026-12-03&by=pool&outcome=hire&model=last"
        "&lookback_days=90"
    )
    asked = sorted(c.url.params["by"] for c in api.calls if c.url.path.endswith("/funnel"))
    assert asked == ["none", "pool"]
    assert [c.url.path for c in api.calls if c.url.path.endswith("/attribution")] == []
    assert "Talent pool: Backend" in fragment.text
    assert "Talent pool: <code" in fragment.text
    assert ">p-gone</code>" in fragment.text
    assert "Talent pool: In no talent pool" in fragment.text
    assert fragment.text.count('data-testid="funnel-table"') == 3
    chart = charts_of(fragment.text)["funnel-chart"]
    assert chart["data"]["datasets"][0]["data"] == [10, 6, 4, 3, 2, 1]
    assert "by=pool" in re.search(r'href="([^"]*funnel\.csv[^"]*)"', fragment.text)[1]  # type: ignore[index]


async def test_a_list_that_cannot_be_read_leaves_the_ids_and_says_why(console: Console) -> None:
    client, api = console
    standard_answers(api)
    api.answer(
        "GET",
        "/api/v1/analytics/funnel",
        body=funnel_answer("segment", [("s1", [1] * 6)]),
    )
    api.answer(
        "GET",
        "/api/v1/segments",
        403,
        {"title": "Forbidden", "status": 403, "detail": "needs segments:read"},
    )
    page = await client.get(
        "/console/analytics/funnel", params={"by": "segment"}, headers=htmx_headers()
    )
    assert page.status_code == 200
    assert "their names could not be read (needs segments:read)" in page.text
    assert ">s1</code>" in page.text


async def test_refusals_are_shown_by_the_form_not_as_an_error_page(console: Console) -> None:
    client, api = console
    standard_answers(api)
    refusal = {
        "type": "urn:recruitcrm:problem:validation-error",
        "title": "Request validation failed",
        "status": 422,
        "detail": "more than 100000 candidates were sourced in the period: shorten it",
        "errors": [
            {
                "field": "query.from",
                "detail": "more than 100000 candidates were sourced in the period: shorten it",
            }
        ],
    }
    api.answer("GET", "/api/v1/analytics/funnel", 422, refusal)
    api.answer(
        "GET",
        "/api/v1/analytics/attribution",
        422,
        {
            "type": "urn:recruitcrm:problem:validation-error",
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: query.lookback_days",
            "errors": [
                {
                    "field": "query.lookback_days",
                    "detail": "Input should be less than or equal to 730",
                }
            ],
        },
    )
    page = await client.get(
        "/console/analytics",
        params={"from": "2020-01-01", "to": "2020-12-31", "lookback_days": "900"},
        headers=gateway_headers(),
    )
    assert page.status_code == 200
    assert 'data-testid="funnel-refused">Not shown: more than 100000 candidates' in page.text
    assert 'data-testid="attribution-refused">Not shown: Enter 730 or less.' in page.text
    # Each refusal also at its field, with what was typed kept.
    assert re.search(
        r'id="analytics-from" name="from" type="date" value="2020-01-01"[^>]*aria-invalid="true"',
        page.text,
    )
    assert (
        '<p class="field-error" id="analytics-from-error">more than 100000 candidates were '
        "sourced in the period: shorten it</p>"
    ) in page.text
    assert (
        '<p class="field-error" id="analytics-lookback-error">Enter 730 or less.</p>' in page.text
    )
    assert 'value="900"' in page.text


async def test_a_lookback_that_is_no_number_is_not_sent(console: Console) -> None:
    client, api = console
    standard_answers(api)
    fragment = await client.get(
        "/console/analytics/attribution",
        params={"from": "2026-11-01", "to": "2026-11-30", "lookback_days": "ninety"},
        headers=htmx_headers(),
    )
    assert fragment.status_code == 200
    assert "Not shown: Enter a whole number of days." in fragment.text
    assert [c.url.path for c in api.calls if "attribution" in c.url.path] == []


async def test_the_zone_that_cannot_be_read_is_said_and_utc_days_are_asked(
    console: Console,
) -> None:
    client, api = console
    api.answer(
        "GET",
        "/api/v1/analytics/settings",
        403,
        {"title": "Forbidden", "status": 403, "detail": "needs settings:read"},
    )
    api.answer("GET", "/api/v1/analytics/funnel", body=funnel_answer("none", [(None, [0] * 6)]))
    api.answer("GET", "/api/v1/analytics/attribution", body={**ATTRIBUTION, "credits": []})
    page = await client.get("/console/analytics", headers=gateway_headers())
    assert page.status_code == 200
    assert "It could not be read (needs settings:read), so today is taken in UTC." in page.text
    # The zone the reports were computed in is the one shown.
    assert "Days in <strong>Europe/Berlin</strong>" in page.text
    assert "No applications in this period." in page.text


@pytest.mark.parametrize(
    ("path", "api_path", "file_name", "params"),
    [
        (
            "/console/analytics/funnel.csv",
            "/api/v1/analytics/funnel",
            "funnel-2026-11-01-to-2026-11-30-by-source.csv",
            {"from": "2026-11-01", "to": "2026-11-30", "by": "source", "format": "csv"},
        ),
        (
            "/console/analytics/attribution.csv",
            "/api/v1/analytics/attribution",
            "attribution-hire-first-2026-11-01-to-2026-11-30.csv",
            {
                "from": "2026-11-01",
                "to": "2026-11-30",
                "outcome": "hire",
                "model": "first",
                "lookback_days": "30",
                "format": "csv",
            },
        ),
    ],
)
async def test_the_reports_download_as_the_apis_csv(
    console: Console, path: str, api_path: str, file_name: str, params: dict[str, str]
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/settings", body={"time_zone": "UTC", "updated_at": None})
    exported = "\ufeffkind,ref,credit,outcomes\r\n=cmd,'=cmd,1,1\r\n".encode()
    api.routes[("GET", api_path)] = httpx.Response(
        200,
        content=exported,
        headers={
            "content-type": "text/csv; charset=utf-8",
            "content-disposition": f'attachment; filename="{file_name}"',
        },
    )
    download = await client.get(
        path,
        params={
            "from": "2026-11-01",
            "to": "2026-11-30",
            "by": "source",
            "outcome": "hire",
            "model": "first",
            "lookback_days": "30",
        },
        headers=gateway_headers(),
    )
    assert download.status_code == 200
    if "attribution" in path:
        # The console's name column (a source names nothing); the API's cells as they came.
        assert (
            download.content
            == "\ufeffkind,ref,name,credit,outcomes\r\n=cmd,'=cmd,,1,1\r\n".encode()
        )
    else:  # a file without the `key` column the name follows comes as it is
        assert download.content == exported
    assert download.headers["content-disposition"] == f'attachment; filename="{file_name}"'
    assert download.headers["cache-control"] == "no-store"
    [call] = [c for c in api.calls if c.url.path == api_path]
    assert dict(call.url.params) == params


# Pool health


HEALTH = {
    "pool_id": "p1",
    "pool_name": "Backend",
    "as_of": "2026-12-03T10:00:00Z",
    "size": 14,
    "by_stage": {"Contacted": 4, "New": 10},
    "growth": [
        {"days": 7, "added": 2, "removed": 1},
        {"days": 30, "added": 5, "removed": 1},
        {"days": 90, "added": 14, "removed": 3},
    ],
    "engagement": {"buckets": {"0": 6, "1-9": 5, "10-24": 3, "25-49": 0, "50+": 0}, "median": 1.5},
    "freshness": {
        "buckets": {"<30d": 7, "30-90d": 2, "90-180d": 0, ">180d": 0, "never": 5},
        "median_days": 12.5,
    },
    "going_cold": {
        "count": 12,
        "candidate_ids": [f"c{i}" for i in range(1, 13)],
        "truncated": False,
        "cold_after_days": 60,
        "engaged_score": 10.0,
    },
    "silver_medallists": {"count": 1, "candidate_ids": ["c-far"], "truncated": False},
}


async def test_the_board_loads_its_health_after_itself(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools/p1", body={"id": "p1", "name": "Backend", "stages": ["New"]})
    api.answer("GET", "/api/v1/pools/p1/members", body={"items": [], "next_cursor": None})
    api.answer("GET", "/api/v1/pools", body=[])
    page = await client.get("/console/pools/p1", headers=gateway_headers())
    assert page.status_code == 200
    assert 'hx-get="/console/pools/p1/health" hx-trigger="load"' in page.text
    # The board itself never waits for the report.
    assert [c for c in api.calls if "health" in c.url.path] == []
    # Without script the panel is a link, which opens it as a page of its own.
    assert '<noscript><p><a href="/console/pools/p1/health">Show the pool' in page.text
    api.answer("GET", "/api/v1/analytics/pools/p1/health", body=HEALTH)
    alone = await client.get("/console/pools/p1/health", headers=gateway_headers())
    assert alone.status_code == 200
    assert '<main id="main"' in alone.text
    assert '<a href="/console/pools/p1">← Back</a>' in alone.text


async def test_the_health_panel_shows_the_figures_and_names_the_people(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/pools/p1/health", body=HEALTH)
    api.answer(
        "GET",
        "/api/v1/pools/p1/members",
        body={
            "items": [
                {
                    "candidate_id": "c1",
                    "stage": "New",
                    "candidate": {"first_name": "Ana", "last_name": "Ødegård"},
                },
                {
                    "candidate_id": "c2",
                    "stage": "New",
                    "candidate": {"first_name": "Zoë", "last_name": "Li"},
                },
            ],
            "next_cursor": None,
        },
    )
    api.answer(
        "GET",
        "/api/v1/pools/p1",
        body={"id": "p1", "name": "Backend", "stages": ["New", "Contacted", "Offer"]},
    )
    panel = await client.get("/console/pools/p1/health", headers=htmx_headers())
    assert panel.status_code == 200
    assert "<html" not in panel.text
    assert 'data-testid="pool-health-size">14<' in panel.text
    # Stages in the pool's order, not the report's (by name), a stage nobody is at with 0.
    assert "<dt>New</dt><dd>10</dd><dt>Contacted</dt><dd>4</dd><dt>Offer</dt><dd>0</dd>" in (
        panel.text
    )
    assert '<th scope="row">30 days</th><td>5</td><td>1</td>' in panel.text
    assert "<dt>No activity yet</dt><dd>5</dd>" in panel.text
    chart = charts_of(panel.text)["pool-engagement"]
    assert chart["data"]["labels"] == ["0", "1-9", "10-24", "25-49", "50+"]
    assert chart["data"]["datasets"][0]["data"] == [6, 5, 3, 0, 0]
    # The first ten going cold, named when the members page names them, linked to profiles.
    assert 'data-testid="going-cold-count">12<' in panel.text
    assert '<a href="/console/candidates/c1">Ana Ødegård</a>' in panel.text
    assert '<a href="/console/candidates/c3">c3</a>' in panel.text
    assert "/console/candidates/c11" not in panel.text
    assert "and 2 more going cold" in panel.text
    assert '<a href="/console/candidates/c-far">c-far</a>' in panel.text
    [members] = [c for c in api.calls if c.url.path == "/api/v1/pools/p1/members"]
    assert members.url.params["limit"] == "200"


async def test_a_health_report_that_cannot_be_read_says_why(console: Console) -> None:
    client, api = console
    api.answer(
        "GET",
        "/api/v1/analytics/pools/p1/health",
        404,
        {"title": "Not Found", "status": 404, "detail": "analytics knows of no pool p1"},
    )
    panel = await client.get("/console/pools/p1/health", headers=htmx_headers())
    assert panel.status_code == 200
    assert "Not available: no health report yet" in panel.text
    api.answer(
        "GET",
        "/api/v1/analytics/pools/p1/health",
        503,
        {"title": "Service Unavailable", "status": 503, "detail": "analytics is not answering"},
    )
    panel = await client.get("/console/pools/p1/health", headers=htmx_headers())
    assert panel.status_code == 200
    assert "Not available: analytics is not answering" in panel.text


# Settings


async def test_the_time_zone_is_shown_saved_and_refused_by_its_field(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/settings", body={"time_zone": "UTC", "updated_at": None})
    index = await client.get("/console/settings", headers=gateway_headers(ALICE))
    assert 'href="/console/settings/analytics">Analytics</a>' in index.text
    page = await client.get("/console/settings/analytics", headers=gateway_headers(ALICE))
    assert page.status_code == 200
    assert re.search(r'id="f-time_zone" name="time_zone" type="text" value="UTC"', page.text)
    assert '<option value="Europe/Berlin">' in page.text

    # Not a zone: refused at the field before the API is asked.
    api.calls.clear()
    refused = await client.post(
        "/console/settings/analytics", data={"time_zone": "Mars/Base"}, headers=htmx_headers(ALICE)
    )
    assert refused.status_code == 422
    assert "<html" not in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert 'id="e-time_zone">Not a time zone name' in refused.text
    assert 'value="Mars/Base"' in refused.text
    assert api.calls == []

    # The API's verdict lands at the field too.
    api.answer(
        "PUT",
        "/api/v1/analytics/settings",
        422,
        {
            "type": "urn:recruitcrm:problem:validation-error",
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: body.time_zone",
            "errors": [{"field": "body.time_zone", "detail": "Value error, unknown time zone"}],
        },
    )
    api_refused = await client.post(
        "/console/settings/analytics", data={"time_zone": "EST"}, headers=htmx_headers(ALICE)
    )
    assert api_refused.status_code == 422
    assert 'id="e-time_zone">unknown time zone</p>' in api_refused.text

    api.answer(
        "PUT",
        "/api/v1/analytics/settings",
        body={"time_zone": "Europe/Berlin", "updated_at": "2026-12-03T10:00:00Z"},
    )
    api.calls.clear()
    saved = await client.post(
        "/console/settings/analytics",
        data={"time_zone": " Europe/Berlin "},
        headers=htmx_headers(ALICE),
    )
    assert saved.status_code == 200
    assert "periods are days in Europe/Berlin from now on" in saved.text
    [call] = [c for c in api.calls if c.method == "PUT"]
    assert (call.method, json.loads(call.content)) == ("PUT", {"time_zone": "Europe/Berlin"})


async def test_a_recruiter_reads_the_time_zone_without_changing_it(console: Console) -> None:
    client, api = console
    api.answer(
        "GET",
        "/api/v1/analytics/settings",
        body={"time_zone": "America/New_York", "updated_at": None},
    )
    page = await client.get("/console/settings/analytics", headers=gateway_headers(RITA))
    assert page.status_code == 200
    assert "<fieldset disabled" in page.text
    assert "Save analytics settings" not in page.text
    assert 'value="America/New_York"' in page.text


class _Dynamic(dict[tuple[str, str], httpx.Response]):
    """The stand-in's routes with some answered by a function of the request (the stand-in
    records each request before it looks its answer up)."""

    def __init__(
        self,
        api: Api,
        fixed: dict[tuple[str, str], httpx.Response],
        computed: dict[str, Callable[[httpx.Request], httpx.Response]],
    ) -> None:
        super().__init__(fixed)
        self.api = api
        self.computed = computed

    def get(  # type: ignore[override]
        self, key: tuple[str, str], default: httpx.Response | None = None
    ) -> httpx.Response | None:
        if key[0] == "GET" and key[1] in self.computed:
            return self.computed[key[1]](self.api.calls[-1])
        return super().get(key, default)


async def test_the_funnel_and_attribution_files_name_what_they_count(console: Console) -> None:
    """The API's files carry ids (`broadcast` funnels' `key`, credits' `ref`); the console's
    downloads add a `name` column from the lists the page names them from, a name someone
    typed as a formula neutralised, one Excel would read as a date or number kept as text, the
    API's cells and decimal commas kept."""
    client, api = console
    api.answer("GET", "/api/v1/analytics/settings", body={"time_zone": "UTC", "updated_at": None})
    api.answer_pages(
        "/api/v1/broadcasts",
        [
            {"id": "b1", "name": "Winter; hiring"},
            {"id": "b2", "name": "=HYPERLINK(1)"},
            {"id": "b3", "name": "3/4"},
            {"id": "b4", "name": "007"},
        ],
    )
    funnel = "\ufeffby;key;step;count;conversion_from_previous\r\nbroadcast;b1;sourced;4;\r\n"
    funnel += "broadcast;b2;engaged;2;0,5\r\nbroadcast;none;sourced;1;\r\n"
    funnel += "broadcast;b3;sourced;1;\r\nbroadcast;b4;sourced;1;\r\n"
    api.routes[("GET", "/api/v1/analytics/funnel")] = httpx.Response(
        200, content=funnel.encode(), headers={"content-type": "text/csv; charset=utf-8"}
    )
    download = await client.get(
        "/console/analytics/funnel.csv",
        params={"by": "broadcast", "separator": "semicolon"},
        headers=gateway_headers(),
    )
    assert download.status_code == 200, download.text
    assert download.content.decode().split("\r\n") == [
        "\ufeffby;key;name;step;count;conversion_from_previous",
        'broadcast;b1;"Winter; hiring";sourced;4;',
        "broadcast;b2;'=HYPERLINK(1);engaged;2;0,5",
        "broadcast;none;;sourced;1;",
        "broadcast;b3;'3/4;sourced;1;",
        "broadcast;b4;'007;sourced;1;",
        "",
    ]

    credits = "\ufeffkind,ref,credit,outcomes\r\nbroadcast,b1,1.5,2\r\nsource,referral,1,1\r\n"
    api.routes[("GET", "/api/v1/analytics/attribution")] = httpx.Response(
        200, content=credits.encode(), headers={"content-type": "text/csv; charset=utf-8"}
    )
    api.calls.clear()
    download = await client.get("/console/analytics/attribution.csv", headers=gateway_headers())
    assert download.status_code == 200, download.text
    assert download.content.decode().split("\r\n")[1:3] == [
        "broadcast,b1,Winter; hiring,1.5,2",
        "source,referral,,1,1",
    ]
    # Only the kinds in the file are looked up.
    assert {c.url.path for c in api.calls} >= {"/api/v1/broadcasts"}
    assert "/api/v1/sequences" not in {c.url.path for c in api.calls}

"""The analytics time series through the gateway, fed by the real broker: candidates created
through the API count on today's UTC day under their source, in their tenant only; the series
and the summary as CSV files hold the JSON's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from helpers import eventually, unique
from integration.flow.conftest import ACME_TOKEN, GLOBEX_TOKEN, Stack
from integration.flow.csv_reports import csv_of

pytestmark = pytest.mark.integration

PATH = "/api/v1/analytics/timeseries"


def referrals_today(body: dict[str, Any]) -> int:
    [series] = [
        s
        for s in body["series"]
        if s["metric"] == "candidates_created" and s["dimension"] == "referral"
    ] or [{"values": [0]}]
    return int(series["values"][-1])


async def test_new_candidates_count_today_by_source_in_their_tenant(stack: Stack) -> None:
    today = datetime.now(UTC).date()
    query = {
        "metric": "candidates_created",
        "from": (today - timedelta(days=6)).isoformat(),
        "to": today.isoformat(),
    }
    acme, globex = stack.as_(ACME_TOKEN), stack.as_(GLOBEX_TOKEN)

    async def now(headers: dict[str, str]) -> dict[str, Any]:
        answer = await stack.gateway.get(PATH, params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    before, theirs_before = await now(acme), await now(globex)
    assert before["from"] == query["from"]
    assert before["interval"] == "day"
    assert len(before["periods"]) == 7
    assert before["periods"][-1] == today.isoformat()
    tag = unique("series")
    for n in range(3):
        created = await stack.gateway.post(
            "/api/v1/candidates",
            json={
                "first_name": "Series",
                "last_name": f"{tag}-{n}",
                "emails": [f"{tag}-{n}@example.org"],
                "source": "referral",
            },
            headers=acme,
        )
        assert created.status_code == 201, created.text

    async def counted() -> bool:
        return referrals_today(await now(acme)) >= referrals_today(before) + 3

    await eventually(counted, message="the new candidates were not counted today")
    after = await now(acme)
    assert referrals_today(after) == referrals_today(before) + 3
    [total] = [s for s in after["series"] if s["dimension"] is None]
    [old_total] = [s for s in before["series"] if s["dimension"] is None]
    assert total["values"][-1] == old_total["values"][-1] + 3
    assert referrals_today(await now(globex)) == referrals_today(theirs_before)

    # The same series as a CSV file through the gateway: a row per day, a column per series.
    exported = await stack.gateway.get(PATH, params={**query, "format": "csv"}, headers=acme)
    header, *rows = csv_of(exported, f"timeseries-{query['from']}-to-{query['to']}.csv")
    columns = [
        s["metric"] if s["dimension"] is None else f"{s['metric']}.{s['dimension']}"
        for s in after["series"]
    ]
    assert header == ["period", *columns]
    assert "candidates_created.referral" in header
    assert [row[0] for row in rows] == after["periods"]
    for column, series in zip(columns, after["series"], strict=True):
        assert [int(row[header.index(column)]) for row in rows] == series["values"], column

    summary = await stack.gateway.get("/api/v1/analytics/summary", headers=acme)
    assert summary.status_code == 200, summary.text
    assert summary.json()["candidates"] >= 3
    summary_csv = await stack.gateway.get(
        "/api/v1/analytics/summary", params={"format": "csv"}, headers=acme
    )
    header, *rows = csv_of(summary_csv, "summary.csv")
    assert header == ["figure", "value"]
    assert [row[0] for row in rows] == list(summary.json())
    assert {name: int(value) for name, value in rows} == summary.json()


async def test_a_range_it_cannot_answer_is_a_problem_naming_the_field(stack: Stack) -> None:
    acme = stack.as_(ACME_TOKEN)
    backwards = await stack.gateway.get(
        PATH,
        params={"metric": "messages_sent", "from": "2026-02-01", "to": "2026-01-01"},
        headers=acme,
    )
    assert backwards.status_code == 422
    assert backwards.headers["content-type"].startswith("application/problem+json")
    # Named as request validation names a query parameter.
    [to] = backwards.json()["errors"]
    assert (to["field"], to["source"], to["pointer"]) == ("to", "query", "")
    unknown = await stack.gateway.get(
        PATH, params={"metric": "salaries", "from": "2026-01-01", "to": "2026-01-02"}, headers=acme
    )
    assert unknown.status_code == 422
    for path, query in (
        (PATH, {"metric": "messages_sent", "from": "2026-01-01", "to": "2026-01-02"}),
        ("/api/v1/analytics/summary", {}),
    ):
        not_a_format = await stack.gateway.get(
            path, params={**query, "format": "xlsx"}, headers=acme
        )
        assert not_a_format.status_code == 422, not_a_format.text
        assert "format" in not_a_format.text
    weekly = await stack.gateway.get(
        PATH,
        params={
            "metric": ["messages_sent", "messages_opened"],
            "from": "2026-11-04",
            "to": "2026-11-17",
            "interval": "week",
        },
        headers=acme,
    )
    assert weekly.status_code == 200, weekly.text
    assert weekly.json()["periods"] == ["2026-11-02", "2026-11-09", "2026-11-16"]
    assert [s["metric"] for s in weekly.json()["series"]] == ["messages_sent", "messages_opened"]

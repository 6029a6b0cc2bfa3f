"""Funnels and attribution through the gateway, folded by analytics from the real broker: a
seeded workload (sources, a broadcast and a sequence opened by people and bots, an event
registered for by address and attended, applications, a prospect, interview stages, hires, a
merge) published out of order with some events twice gives the figures computed independently
from the published events, in the tenant's time zone, and the same as CSV; the settings are an
admin's to change."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest

from helpers import eventually, unique
from integration.analytics.journey_scenario import (
    ZONE,
    Ids,
    expected_attribution,
    expected_funnel,
    scenario,
    shuffled_with_repeats,
)
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack
from integration.flow.test_message_reports import publish_all

pytestmark = pytest.mark.integration

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def steps(body: dict[str, Any]) -> dict[str | None, list[tuple[str, int, float | None]]]:
    return {
        f["key"]: [(s["step"], s["count"], s["median_hours_from_previous"]) for s in f["steps"]]
        for f in body["funnels"]
    }


def credits(body: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {(c["kind"], c["ref"]): c["credit"] for c in body["credits"] if c["credit"]}


async def test_funnels_and_attribution_equal_the_published_events(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    acme, admin = stack.as_(ACME_TOKEN), stack.as_(ACME_ADMIN_TOKEN)
    settings_url = "/api/v1/analytics/settings"
    assert (await stack.gateway.get(settings_url, headers=acme)).json()["time_zone"] == "UTC"
    refused = await stack.gateway.put(settings_url, json={"time_zone": ZONE.key}, headers=acme)
    assert refused.status_code == 403, refused.text  # staff who are not admins
    unknown = await stack.gateway.put(settings_url, json={"time_zone": "Mars/Base"}, headers=admin)
    assert unknown.status_code == 422
    assert "time_zone" in unknown.text
    saved = await stack.gateway.put(settings_url, json={"time_zone": ZONE.key}, headers=admin)
    assert saved.status_code == 200, saved.text
    assert (await stack.gateway.get(settings_url, headers=acme)).json()["time_zone"] == ZONE.key

    ids = Ids(
        tenant_id=stack.acme,
        broadcast_id=unique("bc"),
        sequence_id=unique("seq"),
        event_id=unique("ev"),
    )
    events = scenario(ids, seed=4)
    await publish_all(kafka_bootstrap_servers, shuffled_with_repeats(events, seed=9))
    funnel_url, attribution_url = "/api/v1/analytics/funnel", "/api/v1/analytics/attribution"
    want_funnels = {by: expected_funnel(events, by) for by in ("none", "source", "event")}
    want_credits = {
        (outcome, model): expected_attribution(events, outcome, model, timedelta(days=90))
        for outcome in ("application", "hire")
        for model in ("first", "last", "linear")
    }

    last: list[object] = []

    async def settled() -> bool:
        last.clear()
        for by, want in want_funnels.items():
            answer = await stack.gateway.get(
                funnel_url, params={**NOVEMBER, "by": by}, headers=acme
            )
            assert answer.status_code == 200, answer.text
            if {str(k): v for k, v in steps(answer.json()).items()} != {
                str(k): v for k, v in want.items()
            }:
                last.extend([by, answer.json(), want])
                return False
        for (outcome, model), want_credit in want_credits.items():
            params = {**NOVEMBER, "outcome": outcome, "model": model}
            answer = await stack.gateway.get(attribution_url, params=params, headers=acme)
            assert answer.status_code == 200, answer.text
            if credits(answer.json()) != want_credit:
                last.extend([outcome, model, answer.json(), want_credit])
                return False
        return True

    try:
        await eventually(settled, timeout=120, message="the funnels and attribution did not settle")
    except AssertionError as unsettled:
        raise AssertionError(f"{unsettled}; last answer and want: {last}") from None
    body = (await stack.gateway.get(funnel_url, params=NOVEMBER, headers=acme)).json()
    assert body["time_zone"] == ZONE.key
    assert body["cohort"] == 13

    exported = await stack.gateway.get(
        funnel_url, params={**NOVEMBER, "by": "source", "format": "csv"}, headers=acme
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    by_source = want_funnels["source"]
    assert {(r["key"], r["step"]): int(r["count"]) for r in rows} == {
        (key or "none", step): count for key, found in by_source.items() for step, count, _ in found
    }
    linear = await stack.gateway.get(
        attribution_url, params={**NOVEMBER, "model": "linear", "format": "csv"}, headers=acme
    )
    lines = list(csv.DictReader(io.StringIO(linear.text.lstrip("\ufeff"))))
    assert {
        (r["kind"], r["ref"]): float(r["credit"]) for r in lines if float(r["credit"])
    } == want_credits[("application", "linear")]

    theirs = await stack.gateway.get(funnel_url, params=NOVEMBER, headers=stack.as_(GLOBEX_TOKEN))
    assert theirs.json()["cohort"] == 0
    backwards = await stack.gateway.get(
        funnel_url, params={"from": "2026-11-02", "to": "2026-11-01"}, headers=acme
    )
    assert backwards.status_code == 422

"""Message reports through the gateway, folded by analytics from the real broker: a seeded
workload (a broadcast with an A/B test, a two-step sequence, one template; bot opens, hard and
soft bounces, an open published before its sending, an unsubscribe and a complaint) gives
reports equal to the counts computed independently from the published events, the same when
every event is published again under a new id, and the same as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from crm_shared import EventEnvelope
from helpers import eventually, unique
from integration.analytics.message_scenario import FIGURES, Ids, expected, scenario
from integration.flow.conftest import ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration


async def publish_all(bootstrap: str, events: list[EventEnvelope[Any]]) -> None:
    """Publishes the events in order, as their producing services would, with one producer."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                event.type, event.model_dump_json().encode(), key=event.subject.encode()
            )
    finally:
        await producer.stop()


def groups(body: dict[str, Any]) -> dict[str, dict[str, int]]:
    def figures(f: dict[str, Any]) -> dict[str, int]:
        return {name: f[name] for name in FIGURES}

    return {"total": figures(body["totals"])} | {
        g["key"]: figures(g["figures"]) for g in body["groups"]
    }


async def test_message_reports_equal_the_published_events_and_a_replay_counts_once(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    acme = stack.as_(ACME_TOKEN)
    ids = Ids(
        tenant_id=stack.acme,
        broadcast_id=unique("bc"),
        sequence_id=unique("seq"),
        template_id=unique("tpl"),
    )
    events = scenario(ids, seed=5)
    await publish_all(kafka_bootstrap_servers, events)
    by_variant = expected(
        events, lambda s: s.variant if s.broadcast_id == ids.broadcast_id else None
    )
    by_step = expected(
        events, lambda s: str(s.step_index) if s.sequence_id == ids.sequence_id else None
    )
    by_source = expected(
        events,
        lambda s: (
            f"broadcast:{s.broadcast_id}"
            if s.broadcast_id
            else f"sequence:{s.sequence_id}:{s.step_index}"
        ),
    )
    urls = {
        f"/api/v1/analytics/broadcasts/{ids.broadcast_id}": by_variant,
        f"/api/v1/analytics/sequences/{ids.sequence_id}": by_step,
        f"/api/v1/analytics/templates/{ids.template_id}": by_source,
    }

    async def settled() -> bool:
        for url, want in urls.items():
            answer = await stack.gateway.get(url, headers=acme)
            assert answer.status_code in (200, 404), answer.text
            if answer.status_code == 404 or groups(answer.json()) != want:
                return False
        return True

    await eventually(settled, timeout=90, message="the message reports did not settle")
    total = by_variant["total"]
    assert (total["bounced_hard"], total["bounced_soft"]) == (2, 1)
    assert total["machine_opened"] > 0
    assert (total["unsubscribed"], total["complained"]) == (1, 1)

    # A replay: every event again, under a new envelope id (the idempotent consumer's markers
    # do not know them), then a marker workload after it to know it was consumed: its
    # candidates are the same, so its events follow the replay on the same partitions.
    replayed = [e.model_copy(update={"id": uuid.uuid4()}) for e in events]
    await publish_all(kafka_bootstrap_servers, replayed)
    marker = Ids(
        tenant_id=stack.acme,
        broadcast_id=unique("bc-marker"),
        sequence_id=unique("seq-marker"),
        template_id=unique("tpl-marker"),
    )
    marked = scenario(marker, seed=5)
    await publish_all(kafka_bootstrap_servers, marked)
    marker_url = f"/api/v1/analytics/broadcasts/{marker.broadcast_id}"
    marker_want = expected(
        marked, lambda s: s.variant if s.broadcast_id == marker.broadcast_id else None
    )

    async def marker_settled() -> bool:
        answer = await stack.gateway.get(marker_url, headers=acme)
        return answer.status_code == 200 and groups(answer.json()) == marker_want

    await eventually(marker_settled, timeout=90, message="the marker workload did not settle")
    for url, want in urls.items():
        answer = await stack.gateway.get(url, headers=acme)
        assert answer.status_code == 200, answer.text
        assert groups(answer.json()) == want, url

    broadcast_url = f"/api/v1/analytics/broadcasts/{ids.broadcast_id}"
    body = (await stack.gateway.get(broadcast_url, headers=acme)).json()
    assert body["breakdown"] == "variant"
    assert sum(day["sent"] for day in body["series"]) == total["sent"]

    exported = await stack.gateway.get(broadcast_url, params={"format": "csv"}, headers=acme)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    whole = {r["variant"]: {k: int(r[k]) for k in FIGURES} for r in rows if r["day"] == ""}
    assert whole == by_variant

    theirs = await stack.gateway.get(broadcast_url, headers=stack.as_(GLOBEX_TOKEN))
    assert theirs.status_code == 404
    unknown = await stack.gateway.get(broadcast_url, params={"format": "xml"}, headers=acme)
    assert unknown.status_code == 422
    backwards = await stack.gateway.get(
        broadcast_url, params={"from": "2026-12-02", "to": "2026-12-01"}, headers=acme
    )
    assert backwards.status_code == 422

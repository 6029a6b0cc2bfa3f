"""Analytics rebuilt from the topics: on a broker of its own, one analytics service folds a
seeded workload as it is published (messages with bots and bounces, a recruiting event with a
waitlist, a move and a walk-in, candidates' journeys to hire with a merge, some events twice and
out of order, talent pools with renamed stages, ATS outcomes and an erasure); a second one, on
an empty database and consumer groups of its own, replays every topic from the earliest offset.
Every report of every tenant then answers the same in both."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app
from crm_devstack.infra import KafkaBroker, free_ports
from crm_shared import EventEnvelope, Principal, ensure_topics
from helpers import eventually, serving, unique
from integration.analytics import enrolment_scenario, journey_scenario, message_scenario
from integration.analytics.application.test_event_reports import scenario as event_scenario
from integration.analytics.application.test_event_reports import sources as event_sources
from integration.analytics.test_pool_health_service import POOL_NAMES
from integration.analytics.test_pool_health_service import scenario as pool_scenario
from integration.flow.test_message_reports import publish_all
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY, internal_bearer

pytestmark = pytest.mark.integration

METRICS = (
    "candidates_created",
    "messages_sent",
    "messages_opened",
    "messages_clicked",
    "event_registrations",
    "applications",
    "hires",
)
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}
# When a service answered (`as_of`: a score is read as of the request), and the score it last
# published and when (a new activity publishes, and so does the decay sweep, on its own clock):
# what the service did when, not figures the topics hold.
MOMENTS = frozenset({"as_of", "published_at", "published_score"})


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker holding only this module's events, so a replay from the earliest offset reads
    the workload and nothing of the other tests'."""
    port, controller_port = free_ports(2)
    broker = KafkaBroker(Path(tmp_path_factory.mktemp("rebuild")), port, controller_port).start()
    try:
        asyncio.run(ensure_topics(broker.bootstrap_servers))
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@dataclass(frozen=True)
class Workload:
    events: list[EventEnvelope[Any]]
    messages: message_scenario.Ids
    journeys: journey_scenario.Ids
    enrolments: enrolment_scenario.Ids

    @property
    def tenants(self) -> list[str]:
        return sorted({e.tenant_id for e in self.events})

    def candidates_of(self, tenant_id: str) -> list[str]:
        return sorted(
            {
                str(candidate)
                for e in self.events
                if e.tenant_id == tenant_id
                and (candidate := getattr(e.data, "candidate_id", None)) is not None
            }
        )


def workload() -> Workload:
    messages = message_scenario.Ids(
        tenant_id=unique("msg"),
        broadcast_id=unique("bc"),
        sequence_id=unique("seq"),
        template_id=unique("tpl"),
    )
    journeys = journey_scenario.Ids(
        tenant_id=unique("jrn"),
        broadcast_id=unique("bc"),
        sequence_id=unique("seq"),
        event_id=unique("ev"),
    )
    enrolments = enrolment_scenario.Ids(
        tenant_id=unique("enr"), sequence_ids=(unique("seq"), unique("seq"))
    )
    events = [
        *message_scenario.scenario(messages, seed=5, start=datetime(2026, 11, 3, 8, tzinfo=UTC)),
        *enrolment_scenario.scenario(
            enrolments, seed=6, start=datetime(2026, 11, 2, 9, tzinfo=UTC)
        ),
        *event_sources(),
        *event_scenario(),
        *journey_scenario.shuffled_with_repeats(journey_scenario.scenario(journeys, 4), 9),
        *pool_scenario(unique("pool"), datetime.now(UTC)).envelopes,
    ]
    return Workload(events, messages, journeys, enrolments)


class AnalyticsServices:
    """Analytics services started one after the other on the module's broker, each on a
    database and consumer groups of its own, stopped together."""

    def __init__(self, bootstrap: str, mongodb_uri: str, running: AsyncExitStack) -> None:
        self._bootstrap = bootstrap
        self._mongodb_uri = mongodb_uri
        self._running = running

    async def start(self, name: str) -> httpx.AsyncClient:
        settings = AnalyticsSettings(
            kafka_bootstrap_servers=self._bootstrap,
            mongodb_uri=self._mongodb_uri,
            mongodb_database=unique(f"rebuild_{name}"),
            kafka_group_prefix=unique(f"rebuild-{name}"),
            internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
            environment="development",
            consumer_lag_sample_seconds=0.5,
            outbox_poll_interval_seconds=0.2,
            log_json=False,
        )
        [port] = free_ports(1)
        url = await self._running.enter_async_context(serving(create_app(settings), port))
        return await self._running.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))


@pytest.fixture
async def analytics(own_kafka: str, mongodb_uri: str) -> AsyncIterator[AnalyticsServices]:
    async with AsyncExitStack() as running:
        yield AnalyticsServices(own_kafka, mongodb_uri, running)


async def caught_up(service: httpx.AsyncClient, since: datetime) -> None:
    """Waits until every consumer group of the service has committed every record the broker
    holds, as sampled after `since`."""

    async def every_group_done() -> bool:
        consumers = (await service.get("/readyz")).json().get("consumers") or {}
        sampled = consumers.get("sampled_at")
        lag: dict[str, int] = consumers.get("lag") or {}
        return bool(
            sampled and datetime.fromisoformat(sampled) > since and lag and not any(lag.values())
        )

    await eventually(every_group_done, timeout=240, message="the consumers did not catch up")


def admin_of(tenant_id: str) -> dict[str, str]:
    principal = Principal(tenant_id=tenant_id, user_id="analyst", roles=frozenset({"admin"}))
    return internal_bearer(principal, "analytics")


def report_paths(work: Workload, tenant_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every report a tenant can ask for about the workload."""
    ids_by_kind = {
        "broadcasts": [work.messages.broadcast_id, work.journeys.broadcast_id],
        "sequences": [work.messages.sequence_id, work.journeys.sequence_id],
        "templates": [work.messages.template_id],
        "events": ["ev-fair", work.journeys.event_id],
    }
    paths: list[tuple[str, dict[str, Any]]] = [
        ("/analytics/summary", {}),
        (
            "/analytics/timeseries",
            {"metric": list(METRICS), "from": "2026-10-01", "to": "2026-12-31"},
        ),
        ("/analytics/timeseries", {"metric": list(METRICS), **NOVEMBER, "interval": "week"}),
        ("/analytics/events", NOVEMBER),
    ]
    for kind, ids in ids_by_kind.items():
        paths += [(f"/analytics/{kind}/{report_id}", {}) for report_id in ids]
    paths += [
        (f"/analytics/sequences/{sequence_id}/enrolments", params)
        for sequence_id in work.enrolments.sequence_ids
        for params in ({}, NOVEMBER)
    ]
    paths.append(("/analytics/pools/health", {}))
    paths += [(f"/analytics/pools/{pool_id}/health", {}) for pool_id in POOL_NAMES]
    for by in ("none", "source", "pool", "segment", "broadcast", "sequence", "event"):
        paths.append(("/analytics/funnel", {**NOVEMBER, "by": by}))
    for outcome in ("application", "hire"):
        for model in ("first", "last", "linear"):
            paths.append(
                ("/analytics/attribution", {**NOVEMBER, "outcome": outcome, "model": model})
            )
    paths += [
        (f"/analytics/candidates/{candidate_id}/engagement", {})
        for candidate_id in work.candidates_of(tenant_id)
    ]
    return paths


def same(left: Any, right: Any) -> bool:
    """Equal, but for a score's decay between the two services' answers: a score loses 0.03 %
    of itself in ten minutes (half in 30 days), and answers are rounded to four decimals."""
    if isinstance(left, float) or isinstance(right, float):
        return (
            isinstance(left, int | float)
            and isinstance(right, int | float)
            and math.isclose(left, right, rel_tol=3e-4, abs_tol=2e-4)
        )
    if isinstance(left, dict) and isinstance(right, dict):
        keys = left.keys() - MOMENTS
        return keys == right.keys() - MOMENTS and all(same(left[k], right[k]) for k in keys)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


def difference(left: Any, right: Any, at: str = "") -> str | None:
    """Where two answers first differ, for the failure's message."""
    if isinstance(left, dict) and isinstance(right, dict):
        for key in sorted(left.keys() | right.keys()):
            if key not in MOMENTS and (
                found := difference(left.get(key), right.get(key), f"{at}.{key}")
            ):
                return found
        return None
    if (
        isinstance(left, list | tuple)
        and isinstance(right, list | tuple)
        and len(left) == len(right)
    ):
        for n, (a, b) in enumerate(zip(left, right, strict=True)):
            if found := difference(a, b, f"{at}[{n}]"):
                return found
        return None
    return None if same(left, right) else f"{at}: {left!r} != {right!r}"


async def answers(
    service: httpx.AsyncClient, work: Workload
) -> dict[tuple[str, str, str], tuple[int, Any]]:
    found: dict[tuple[str, str, str], tuple[int, Any]] = {}
    for tenant_id in work.tenants:
        for path, params in report_paths(work, tenant_id):
            response = await service.get(path, params=params, headers=admin_of(tenant_id))
            found[(tenant_id, path, str(sorted(params.items())))] = (
                response.status_code,
                response.json(),
            )
    return found


async def test_a_replay_from_the_earliest_offset_rebuilds_every_report(
    own_kafka: str, analytics: AnalyticsServices
) -> None:
    work = workload()
    live = await analytics.start("live")
    zone = {"time_zone": journey_scenario.ZONE.key}
    for tenant_id in work.tenants:
        saved = await live.put("/analytics/settings", json=zone, headers=admin_of(tenant_id))
        assert saved.status_code == 200, saved.text
    published_at = datetime.now(UTC)
    await publish_all(own_kafka, work.events)
    await caught_up(live, published_at)
    before = await answers(live, work)
    # The workload is there to be rebuilt: every tenant's reports hold figures (a report of
    # another tenant's broadcast is a 404, compared like the rest).
    summary = before[(work.messages.tenant_id, "/analytics/summary", "[]")][1]
    assert summary["messages_sent"] > 0, summary
    answered = {tenant for (tenant, _, _), (status, _) in before.items() if status == 200}
    assert answered == set(work.tenants)
    for sequence_id in work.enrolments.sequence_ids:
        path = f"/analytics/sequences/{sequence_id}/enrolments"
        status, enrolments = before[(work.enrolments.tenant_id, path, "[]")]
        assert (status, enrolments["totals"]["entered"]) == (200, 20), enrolments

    # Settings are the tenant's configuration, not events: an admin sets them again.
    rebuilt = await analytics.start("rebuilt")
    for tenant_id in work.tenants:
        saved = await rebuilt.put("/analytics/settings", json=zone, headers=admin_of(tenant_id))
        assert saved.status_code == 200, saved.text
    await caught_up(rebuilt, datetime.now(UTC))
    after = await answers(rebuilt, work)
    differing = sorted(key for key in before if not same(before[key], after[key]))
    assert not differing, [(key, difference(before[key], after[key])) for key in differing]

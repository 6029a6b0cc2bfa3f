"""Analytics reports at scale: the server time of every report of the analytics service over
a seeded workload of up to a million candidates and ten million engagement events, against
the bare reads of the same documents (issue 22: "any report answers p95 < 1 s").

**Seeding, not consuming.** The stores are seeded, not consumed from Kafka (consumer throughput
is the throughput issue's benchmark): one block of the workload (`bench/analytics_workload.py`:
`block` candidates sourced over two years and their mail, events, ATS outcomes, pools, segments
and merges) is folded through the service's own folders into a scratch database, and its
documents are then copied into the measured database as many blocks as the size asks, each
with its own ids (candidates, messages, broadcasts, sequences, events, applications, address
digests); pools and segments are shared by every block, the tenant-wide rollups summed. A test
(`tests/integration/analytics/test_bench_workload.py`) shows three blocks folded and one block
folded then cloned leave the same documents. The measured database is indexed by the service
(its `ensure_indexes` and migrations) before the copy, as a running service's would be.

**Timing.** The service is built by `create_app(settings)` and called in process through
httpx's ASGI transport (no network, no Kafka: its subscribers and workers are not started, so
nothing else runs while a report is timed; the start-up's garbage-collector tuning is applied
as the lifespan would), with a gateway-signed internal token per request.
Each report is asked `requests` times one after another after one warm-up call; p50/p95/p99
are over those calls (with 20 calls p99 is the slowest). The raw stack is the bare pymongo
reads of the documents the report reads (same filters and projections, every document
fetched), one after another, in the same run.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Generator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.analytics_workload import (
    ENGAGEMENT_TOPICS,
    POOLS,
    TENANT,
    block_events,
    clone_blocks,
    fold,
)
from bench.report import Figure
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app
from crm_analytics.migrations import MIGRATIONS
from crm_analytics.repositories import ensure_indexes
from crm_shared import (
    InternalTokenSigner,
    Outbox,
    Principal,
    create_mongo_client,
    generate_internal_key_pair,
    load_private_key,
    migrations_hook,
)
from crm_shared.bootstrap import tune_garbage_collector

P95_BUDGET_MS = 1000.0
# A database to seed once and keep (on a server started apart, CRM_BENCH_MONGODB_URI): the
# reports are timed again without seeding again (while investigating one of them).
KEEP_DATABASE = os.environ.get("CRM_BENCH_ANALYTICS_DATABASE", "")
# Only the reports whose name holds one of these texts, separated by `;` (while investigating).
ONLY_REPORTS = [t for t in os.environ.get("CRM_BENCH_ANALYTICS_ONLY", "").split(";") if t]
KEYS = generate_internal_key_pair()
BENCHMARK = "analytics reports"


class FreshInternalToken(httpx.Auth):
    """A new internal token per request, as the gateway mints them."""

    def __init__(self, principal: Principal) -> None:
        self._signer = InternalTokenSigner(load_private_key(KEYS.private_pem))
        self._principal = principal

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = (
            f"Bearer {self._signer.mint(self._principal, 'analytics')}"
        )
        yield request


@dataclasses.dataclass(frozen=True)
class Timed:
    milliseconds: list[float]
    statuses: list[int]

    def percentile(self, p: float) -> float:
        ordered = sorted(self.milliseconds)
        if len(ordered) == 1:
            return ordered[0]
        return statistics.quantiles(ordered, n=100, method="inclusive")[round(p * 100) - 1]


async def _timed(call: Callable[[], Awaitable[int]], requests: int, budget_seconds: float) -> Timed:
    """`requests` calls after a warm-up, or as many as `budget_seconds` allow (at least 3): a
    report taking many seconds would otherwise hold the run for an hour."""
    await call()  # warm-up: connections, caches
    milliseconds: list[float] = []
    statuses: list[int] = []
    deadline = time.perf_counter() + budget_seconds
    for _ in range(requests):
        if len(milliseconds) >= 3 and time.perf_counter() > deadline:
            break
        started = time.perf_counter()
        statuses.append(await call())
        milliseconds.append((time.perf_counter() - started) * 1000)
    return Timed(milliseconds, statuses)


def _month_before(end: date) -> tuple[date, date]:
    last = end.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def _quarter_before(end: date) -> tuple[date, date]:
    first_month = 3 * ((end.month - 1) // 3) + 1
    last = date(end.year, first_month, 1) - timedelta(days=1)
    return date(last.year, 3 * ((last.month - 1) // 3) + 1, 1), last


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _chosen(events: list[Any], blocks: int) -> list[str]:
    """A broadcast, a sequence and an event of the middle block (so a report reads from the
    middle of the indexes)."""
    ids = sorted({e.data.broadcast_id for e in events if getattr(e.data, "broadcast_id", None)})
    sequences = sorted({e.data.sequence_id for e in events if getattr(e.data, "sequence_id", None)})
    recruiting = sorted({e.data.event_id for e in events if getattr(e.data, "event_id", None)})
    middle = f"~{blocks // 2:04d}"
    return [i.replace("~0000", middle) for i in (ids[len(ids) // 2], sequences[0], recruiting[3])]


async def _seed(
    mongodb_uri: str, run: str, candidates: int, block: int, end: datetime
) -> tuple[list[str], int, list[Figure]]:
    """Folds block 0 and clones it up to `candidates`; answers the block's broadcast,
    sequence and event ids, the engagement events seeded, and the seeding figures."""
    blocks = max(1, candidates // block)
    events = block_events(0, block, end)
    engagement = sum(e.type in ENGAGEMENT_TOPICS for e in events)
    settings = AnalyticsSettings(mongodb_uri=mongodb_uri, mongodb_database=f"{run}_block")
    mongo = create_mongo_client(settings)
    if KEEP_DATABASE and await mongo[run]["journeys"].count_documents({}, limit=1):
        await mongo.close()
        print(f"{run} is seeded already: timing only", flush=True)
        return _chosen(events, blocks), engagement * blocks, []
    try:
        template = mongo[f"{run}_block"]
        target = mongo[run]
        for database in (template, target):
            await ensure_indexes(database)
        await migrations_hook(target, MIGRATIONS)()
        outbox = Outbox(template, settings.service_name)
        await outbox.ensure_indexes()
        started = time.perf_counter()
        await fold(mongo, AnalyticsStorage(database=template, outbox=outbox), events)
        folded = time.perf_counter() - started

        def progress(name: str, written: int) -> None:
            print(f"  {name}: {written:,} documents so far", flush=True)

        started = time.perf_counter()
        written = await clone_blocks(template, target, block, blocks, progress=progress)
        cloned = time.perf_counter() - started
        await mongo.drop_database(f"{run}_block")
    finally:
        await mongo.close()
    seeded = blocks * block
    note = f"{seeded:,} candidates, {engagement * blocks:,} engagement events ({blocks} blocks)"
    figures = [
        Figure(
            BENCHMARK,
            "seeding: fold one block (events/s)",
            len(events) / folded,
            "events/s",
            note=f"{len(events):,} events of {block:,} candidates through the folders",
        ),
        Figure(
            BENCHMARK,
            "seeding: copy (documents/s)",
            written / cloned,
            "docs/s",
            note=f"{written:,} documents in {cloned:.0f} s; {note}",
        ),
    ]
    return _chosen(events, blocks), engagement * blocks, figures


async def run(mongodb_uri: str, candidates: int, block: int, requests: int) -> list[Figure]:
    run_name = KEEP_DATABASE or f"bench_analytics_{uuid.uuid4().hex[:8]}"
    today = datetime.now(UTC).date()
    end = _utc(today)
    print(f"seeding {candidates:,} candidates in blocks of {block:,} ...", flush=True)
    (broadcast, sequence, event), engagement, figures = await _seed(
        mongodb_uri, run_name, candidates, block, end
    )
    month = _month_before(today)
    quarter = _quarter_before(today)
    settings = AnalyticsSettings(
        mongodb_uri=mongodb_uri,
        mongodb_database=run_name,
        internal_token_public_key=KEYS.public_pem,
        environment="development",
        kafka_consumers_enabled=False,
        log_json=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    # What the service's start-up does after its hooks (the lifespan is not run here): a young
    # generation of 50,000 and start-up's objects frozen. Without it a large report spends
    # most of its time in the collector (a 62,500-person funnel: 20 s instead of 9).
    tune_garbage_collector(settings.gc_young_threshold)
    principal = Principal(tenant_id=TENANT, user_id="bench", roles=frozenset({"recruiter"}))
    raw: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    db = raw[run_name]
    tenant = {"tenant_id": TENANT}

    async def reads(*queries: tuple[str, dict[str, Any], dict[str, Any] | None]) -> int:
        for name, query, projection in queries:
            await db[name].find(tenant | query, projection).to_list()
        return 200

    def period(days: tuple[date, date]) -> dict[str, Any]:
        return {"$gte": _utc(days[0]), "$lt": _utc(days[1] + timedelta(days=1))}

    journeys = {"_id": 0, "touch_count": 0}

    async def raw_attribution(days: tuple[date, date]) -> int:
        outcomes = (
            await db["journey_outcomes"]
            .find(tenant | {"kind": "application", "at": period(days)})
            .to_list()
        )
        people = sorted({o["candidate_id"] for o in outcomes if o.get("candidate_id")})
        await db["journey_touches"].find(tenant | {"candidate_id": {"$in": people}}).to_list()
        return 200

    async def raw_pool(pool: str | None) -> int:
        members = (
            await db["pool_members"].find(tenant | ({"pool_id": pool} if pool else {})).to_list()
        )
        people = sorted({m["candidate_id"] for m in members})
        for name in ("engagement_scores", "ats_outcomes"):
            await db[name].find(tenant | {"candidate_id": {"$in": people}}).to_list()
        return 200

    async def raw_event() -> int:
        registrants = await db["event_registrants"].find(tenant | {"event_id": event}).to_list()
        people = sorted({r["candidate_id"] for r in registrants if r.get("candidate_id")})
        await db["reported_events"].find(tenant | {"event_id": event}).to_list()
        await db["ats_milestones"].find(tenant | {"candidate_id": {"$in": people}}).to_list()
        return 200

    metrics = ["candidates_created", "messages_sent", "messages_opened"]
    year = (today - timedelta(days=365), today - timedelta(days=1))
    reports: list[tuple[str, str, dict[str, Any], Callable[[], Awaitable[int]]]] = [
        ("tenant summary", "/analytics/summary", {}, lambda: reads(("tenant_counters", {}, None))),
        (
            "time series, daily, a year",
            "/analytics/timeseries",
            {"metric": metrics, "from": str(year[0]), "to": str(year[1])},
            lambda: reads(
                (
                    "daily_counts",
                    {
                        "metric": {"$in": metrics},
                        "day": {"$gte": str(year[0]), "$lte": str(year[1])},
                    },
                    None,
                )
            ),
        ),
    ]

    def cohort(days: tuple[date, date]) -> Callable[[], Awaitable[int]]:
        return lambda: reads(("journeys", {"sourced_at": period(days)}, journeys))

    for label, days in (("a month", month), ("a quarter", quarter)):
        for by in ("none", "source", "pool"):
            reports.append(
                (
                    f"funnel, {label}, by {by}",
                    "/analytics/funnel",
                    {"from": str(days[0]), "to": str(days[1]), "by": by},
                    cohort(days),
                )
            )
    for model in ("first", "last", "linear"):
        reports.append(
            (
                f"attribution, a month, {model}",
                "/analytics/attribution",
                {"from": str(month[0]), "to": str(month[1]), "model": model},
                lambda: raw_attribution(month),
            )
        )
    reports += [
        (
            "message report, a broadcast",
            f"/analytics/broadcasts/{broadcast}",
            {},
            lambda: reads(
                ("message_report_days", {"kind": "broadcast", "source_id": broadcast}, None)
            ),
        ),
        (
            "message report, a sequence",
            f"/analytics/sequences/{sequence}",
            {},
            lambda: reads(
                ("message_report_days", {"kind": "sequence", "source_id": sequence}, None)
            ),
        ),
        (
            "enrolment report, a sequence",
            f"/analytics/sequences/{sequence}/enrolments",
            {},
            lambda: reads(("enrolment_report_days", {"sequence_id": sequence}, None)),
        ),
        ("event report", f"/analytics/events/{event}", {}, raw_event),
        (
            "pool health, one pool",
            f"/analytics/pools/{POOLS[3]}/health",
            {},
            lambda: raw_pool(POOLS[3]),
        ),
        ("pool health, every pool", "/analytics/pools/health", {}, lambda: raw_pool(None)),
    ]
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://analytics",
            auth=FreshInternalToken(principal),
            timeout=600,
        ) as client:
            for name, path, params, bare in reports:
                if ONLY_REPORTS and not any(t in name for t in ONLY_REPORTS):
                    continue

                async def call(path: str = path, params: dict[str, Any] = params) -> int:
                    return (await client.get(path, params=params)).status_code

                ours = await _timed(call, requests, 60)
                baseline = await _timed(bare, requests, 30)
                refused = [s for s in ours.statuses if s != 200]
                note = f"{len(ours.milliseconds)} calls one after another"
                if refused:
                    detail = (await client.get(path, params=params)).json().get("detail", "")
                    note += f"; answered {sorted(set(refused))}: {detail}"
                verdict = "within" if ours.percentile(0.95) < P95_BUDGET_MS else "OVER"
                print(
                    f"  {name}: p95 {ours.percentile(0.95):,.1f} ms ({verdict} 1 s) "
                    f"raw {baseline.percentile(0.95):,.1f} ms {note}",
                    flush=True,
                )
                for p in (0.5, 0.95, 0.99):
                    figures.append(
                        Figure(
                            BENCHMARK,
                            f"{name}: p{round(p * 100)}",
                            ours.percentile(p),
                            "ms",
                            baseline.percentile(p),
                            "bare reads of its documents",
                            note if p == 0.5 else "",
                        )
                    )
    finally:
        await app.state.container.storage.database.client.close()
        if not KEEP_DATABASE:
            await raw.drop_database(run_name)
        await raw.close()
    return [
        dataclasses.replace(
            f, note=f"{candidates:,} candidates, {engagement:,} engagement events; {f.note}"
        )
        if i == 0
        else f
        for i, f in enumerate(figures)
    ]

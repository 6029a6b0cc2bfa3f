"""4. Segments: a rule's count against the raw count of the same compiled query, and the latency
from a candidate write to its `segment.entered` event under a steady stream of writes."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import Generator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from bench.report import Figure
from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.models import Candidate
from crm_candidates.domain.segments import Group, candidate_facets, compile_rule
from crm_candidates.main import create_app
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.indexes import ensure_indexes
from crm_devstack.workload import Workload
from crm_shared import (
    SEGMENT_ENTERED,
    InternalTokenSigner,
    Principal,
    generate_internal_key_pair,
    load_private_key,
    to_document,
)

TYPICAL_RULE = {
    "all": [
        {"field": "skills", "op": "equals", "value": "python"},
        {"field": "location", "op": "equals", "value": "Berlin"},
    ]
}
API_FIELDS = set(Candidate.model_fields) - {
    "id",
    "tenant_id",
    "created_by",
    "created_at",
    "updated_at",
}
SECRET = "benchmark-link-signing-secret-0123456789"
KEYS = generate_internal_key_pair()


def distinct_people(profiles: Iterable[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The first `count` profiles sharing no email, phone or profile URL with an earlier one.

    The workload has near-duplicates on purpose; creating one is an upsert onto the person
    already stored (identity resolution), which enters no segment and would not be a write to
    measure.
    """
    chosen: list[dict[str, Any]] = []
    seen: set[str] = set()
    for profile in profiles:
        identifiers = {
            *profile.get("emails", []),
            *profile.get("phones", []),
            *profile.get("profile_urls", []),
        }
        if identifiers & seen:
            continue
        seen |= identifiers
        chosen.append(profile)
        if len(chosen) == count:
            break
    return chosen


def _api_payload(profile: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in profile.items() if key in API_FIELDS}


async def count_ratio(mongodb_uri: str, candidates: int, repetitions: int = 20) -> list[Figure]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[f"bench_segments_{uuid.uuid4().hex[:8]}"]
    await ensure_indexes(database)
    batch: list[dict[str, Any]] = []
    for profile in Workload().candidates(candidates):
        candidate = Candidate(tenant_id="bench", created_by="bench", **_api_payload(profile))
        batch.append(to_document(candidate) | {"facets": candidate_facets(candidate.model_dump())})
        if len(batch) == 1000:
            await database["candidates"].insert_many(batch)
            batch = []
    if batch:
        await database["candidates"].insert_many(batch)
    query = compile_rule(Group.model_validate(TYPICAL_RULE))
    repository = CandidateRepository(database, "bench")

    async def timed(count: Any) -> tuple[float, int]:
        started = time.perf_counter()
        for _ in range(repetitions):
            matched = await count()
        return (time.perf_counter() - started) / repetitions, matched

    ours, ours_count = await timed(lambda: repository.count_matching(query))
    raw, raw_count = await timed(
        lambda: database["candidates"].count_documents({"tenant_id": "bench", **query})
    )
    await client.close()
    assert ours_count == raw_count, (ours_count, raw_count)
    return [
        Figure(
            "segment count",
            f"typical rule over {candidates:,} candidates",
            ours * 1000,
            "ms",
            baseline=raw * 1000,
            baseline_name="raw count_documents",
            note=f"{ours_count:,} match; ratio >1 means slower than raw",
        )
    ]


async def _traces_of(mongodb_uri: str, database: str, candidate_ids: list[str]) -> list[str]:
    """What the candidates service holds on people whose `segment.entered` never arrived: their
    segment memberships and the outbox records keyed by them, so a straggler can be traced."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    traces = []
    try:
        for candidate_id in candidate_ids:
            candidate = await client[database]["candidates"].find_one({"_id": candidate_id})
            outbox = client[database]["outbox"]
            records = await outbox.find({"key": candidate_id}).to_list()
            events = [f"{r['topic']} sent_at={r.get('sent_at')}" for r in records]
            segments = (candidate or {}).get("segment_ids")
            traces.append(f"{candidate_id} segment_ids={segments} outbox={events}")
    finally:
        await client.close()
    return traces


async def _phases(
    mongodb_uri: str,
    database: str,
    sent_at: dict[str, float],
    wall_sent: dict[str, float],
    answered: dict[str, float],
) -> str:
    """The p95, from the write's start, of each step to `segment.entered`: the write answered,
    its event staged in the outbox (in the write's transaction), published by the relay (acked
    by Kafka), so a slow total shows where it waited. Staged and published come from the outbox
    record's own clock readings (same host, same clock)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        records = await (
            client[database]["outbox"]
            .find({"topic": SEGMENT_ENTERED.name, "key": {"$in": list(sent_at)}})
            .to_list()
        )
    finally:
        await client.close()
    staged = [(r["created_at"].timestamp() - wall_sent[r["key"]]) * 1000 for r in records]
    published = [
        (r["sent_at"].timestamp() - wall_sent[r["key"]]) * 1000 for r in records if r["sent_at"]
    ]
    answers = [(answered[key] - sent_at[key]) * 1000 for key in sent_at]

    def p95(values: list[float]) -> str:
        if len(values) < 2:
            return "-"
        return f"{statistics.quantiles(values, n=100)[94]:,.0f}"

    return (
        f"p95 from the write: answered {p95(answers)} ms, staged {p95(staged)} ms, "
        f"published {p95(published)} ms"
    )


@asynccontextmanager
async def running(app: FastAPI) -> Any:
    async with app.router.lifespan_context(app):
        yield app


class FreshInternalToken(httpx.Auth):
    """Signs each request with a new internal token for `audience`."""

    def __init__(self, signer: InternalTokenSigner, principal: Principal, audience: str) -> None:
        self._signer = signer
        self._principal = principal
        self._audience = audience

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._signer.mint(self._principal, self._audience)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


class WindowLoad(Protocol):
    """A load that runs beside the timed writes (bench/segment_load.py): started before the
    first write, its progress taken when the writes start and end, drained afterwards."""

    name: str

    async def begin(self, app: FastAPI, api: httpx.AsyncClient, run: str) -> None:
        """Starts the load in the run's tenant; returns once it is being consumed."""

    async def window_started(self) -> None:
        """Notes the load's progress as the first timed write leaves."""

    async def window_ended(self) -> None:
        """Notes the load's progress as the last timed write has answered."""

    async def finish(self) -> str:
        """Waits (bounded) for the load to drain; says how much of it overlapped the window."""


async def membership_latency(
    bootstrap: str,
    mongodb_uri: str,
    writes: int,
    per_second: float,
    *,
    load: WindowLoad | None = None,
    arrival_wait: float = 60.0,
) -> list[Figure]:
    """p50/p95/p99 from a candidate's write to its `segment.entered`, alone or under `load`."""
    with tempfile.TemporaryDirectory(prefix="crm-bench-latency-") as upload_dir:
        return await _membership_latency(
            bootstrap, mongodb_uri, writes, per_second, load, arrival_wait, Path(upload_dir)
        )


async def _membership_latency(
    bootstrap: str,
    mongodb_uri: str,
    writes: int,
    per_second: float,
    load: WindowLoad | None,
    arrival_wait: float,
    upload_dir: Path,
) -> list[Figure]:
    run = f"bench{uuid.uuid4().hex[:8]}"
    settings = CandidatesSettings(
        kafka_bootstrap_servers=bootstrap,
        mongodb_uri=mongodb_uri,
        mongodb_database=run,
        kafka_group_prefix=run,
        environment="development",
        internal_token_public_key=KEYS.public_pem,
        link_signing_secret=SECRET,
        log_json=False,
        log_level="WARNING",
        # An import under load (bench/segment_load.py) uploads its file here.
        upload_dir=upload_dir,
    )
    app = create_app(settings)
    # A token per request, as the gateway mints them: one token would expire (60 s) during a
    # run on a loaded machine.
    auth = FreshInternalToken(
        InternalTokenSigner(load_private_key(KEYS.private_pem)),
        Principal(tenant_id=run, user_id="bench", roles=frozenset({"recruiter"})),
        "candidates",
    )
    # Partitions assigned by hand, no consumer group: no rebalance can move the reader's
    # position while the writes run.
    # A newly assigned partition gets its position reset in the background by
    # `auto_offset_reset`; with "latest" that reset could land after the seek below and after
    # the first write, skipping its event. With "earliest" such a reset only rereads old events
    # (other people's), never skips one.
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    sent_at: dict[str, float] = {}
    # Wall-clock start and answer of each write, to place the outbox's own timestamps.
    wall_sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    arrived: dict[str, float] = {}
    all_arrived = asyncio.Event()
    # Only once every write has its id: before that, "every id so far has arrived" would
    # end the wait while the last write's event is still on its way.
    writes_done = False

    async def read() -> None:
        async for record in reader:
            arrived.setdefault(record.key.decode(), time.perf_counter())
            if writes_done and set(sent_at) <= set(arrived):
                all_arrived.set()

    async with (
        running(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://candidates", auth=auth
        ) as api,
    ):
        segment = (await api.post("/segments", json={"name": "bench", "rule": TYPICAL_RULE})).json()
        await reader.start()
        # The contract's partition count, which `ensure_topics` created the topic with.
        partitions = [
            TopicPartition(SEGMENT_ENTERED.name, p) for p in range(SEGMENT_ENTERED.partitions)
        ]
        reader.assign(partitions)
        # Start at the end, read before the first write.
        for partition, offset in (await reader.end_offsets(partitions)).items():
            reader.seek(partition, offset)
        reading = asyncio.create_task(read())
        matching = [
            p | {"skills": [*p["skills"], "python"], "location": "Berlin"}
            for p in distinct_people(Workload(seed=7).candidates(writes * 8), writes)
        ]
        if load is not None:
            await load.begin(app, api, run)
            await load.window_started()
        interval = 1 / per_second
        upserts = 0
        started = time.perf_counter()
        for number, profile in enumerate(matching):
            await asyncio.sleep(max(0.0, started + number * interval - time.perf_counter()))
            before, wall_before = time.perf_counter(), time.time()
            # The workload's phones are German; its near-duplicates write them nationally.
            body = _api_payload(profile) | {"default_region": "DE"}
            response = await api.post("/candidates", json=body)
            if response.status_code == 200:
                # Identity resolution found this person already (a near-duplicate written in
                # another format): an upsert onto someone who is a member already, not an entry.
                upserts += 1
                continue
            if response.status_code != 201:
                raise RuntimeError(f"creating a candidate failed: {response.text}")
            candidate_id = response.json()["id"]
            sent_at[candidate_id] = before
            wall_sent[candidate_id] = wall_before
            answered[candidate_id] = time.perf_counter()
        writes_done = True
        if load is not None:
            await load.window_ended()
        if set(sent_at) <= set(arrived):  # the last event can beat its write's response
            all_arrived.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_arrived.wait(), arrival_wait)
        reading.cancel()
        await reader.stop()
        traces = await _traces_of(mongodb_uri, run, sorted(set(sent_at) - set(arrived)))
        phases = await _phases(mongodb_uri, run, sent_at, wall_sent, answered)
        load_note = await load.finish() if load is not None else ""
        del segment
    latencies = sorted((arrived[key] - sent_at[key]) * 1000 for key in sent_at if key in arrived)
    # Two workload profiles may turn out to be one person (an upsert, not a second member).
    if not latencies:
        raise RuntimeError("no segment.entered event arrived")
    missing = len(sent_at) - len(latencies)
    quantiles = statistics.quantiles(latencies, n=100)
    note = f"{writes} writes at {per_second:g}/s; write -> outbox -> Kafka -> reader; {phases}"
    if upserts:
        note += f"; {upserts} matched an earlier write's person (not timed)"
    if missing:
        note += (
            f"; {missing} of {len(sent_at)} people did not arrive within {arrival_wait:g} s: "
            f"{traces}"
        )
    if load_note:
        note += f"; {load_note}"
    return [
        Figure(
            "segment membership" + (f" under {load.name}" if load is not None else ""),
            f"p{p} change -> segment.entered",
            quantiles[p - 1],
            "ms",
            note=note if p == 50 else "",
        )
        for p in (50, 95, 99)
    ]

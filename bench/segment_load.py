"""4b. Segment latency under load: the segment-membership benchmark (bench/segments.py, change
-> `segment.entered`) measured while the candidates service is busy with something else.

- **Broadcast**: `sent` `message.sent` and `opens` `message.opened` events about existing
  candidates of the run's tenant (what a broadcast to that many recipients causes), published
  straight to the topics as valid envelopes just before the timed writes. They are consumed by
  the candidates service under test (its timeline subscribers) and by an analytics service
  process, whose `engagement.scored` events come back to the candidates service, which
  re-evaluates those candidates' segments. The candidates are seeded first, stored as the
  import stores them.
- **Import**: a CSV of `rows` workload people (bench/imports.py's generator) uploaded through the
  candidates service's import endpoint into the run's tenant and processed by the service's own
  import worker, in the process that answers the timed writes and relays their events.

Each row's note says how much of the load was consumed before, during and after the latency
window (the first timed write to the last one's answer), so one can see that the load really
overlapped it: for the broadcast the committed offsets of each consumer group (the slowest group
of a service on a topic counts), for the import the rows processed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from bench.api import bench_stack_config, serving, stack_processes
from bench.consumer import produce
from bench.imports import COLUMNS, write_csv
from bench.report import Figure
from bench.segments import KEYS, SECRET, _api_payload, membership_latency
from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app as create_analytics
from crm_candidates.domain.models import Candidate
from crm_candidates.repositories.candidates import new_candidate_document
from crm_devstack.workload import Workload
from crm_shared import (
    ENGAGEMENT_SCORED,
    MESSAGE_OPENED,
    MESSAGE_SENT,
    EventEnvelope,
    IdempotentConsumer,
    MessageOpened,
    MessageSent,
    TopicSpec,
)

SEED_BATCH = 1000
# How long the load may take to show its first consumed event, and to drain after the window.
START_TIMEOUT_SECONDS = 120.0
Pair = tuple[bytes, bytes]


def broadcast_events(
    tenant_id: str, candidate_ids: Sequence[str], opens: int, broadcast_id: str
) -> tuple[list[Pair], list[Pair]]:
    """(key, value) records of one broadcast: a `message.sent` to each candidate, then a human
    `message.opened` of the first `opens` of those messages, keyed by candidate as the campaigns
    service publishes them."""
    sent: list[Pair] = []
    opened: list[Pair] = []
    for number, candidate_id in enumerate(candidate_ids):
        message_id = f"{broadcast_id}-m{number:07d}"
        sent.append(
            _record(
                MESSAGE_SENT.name,
                tenant_id,
                candidate_id,
                MessageSent(
                    message_id=message_id,
                    candidate_id=candidate_id,
                    template_id=f"{broadcast_id}-template",
                    subject="Open roles in Berlin",
                    broadcast_id=broadcast_id,
                ),
            )
        )
        if number < opens:
            opened.append(
                _record(
                    MESSAGE_OPENED.name,
                    tenant_id,
                    candidate_id,
                    MessageOpened(message_id=message_id, candidate_id=candidate_id),
                )
            )
    return sent, opened


def _record(topic: str, tenant_id: str, candidate_id: str, data: Any) -> Pair:
    envelope = EventEnvelope[Any](
        type=topic,
        source="campaigns",
        tenant_id=tenant_id,
        subject=candidate_id,
        schema_version=1,
        data=data,
    )
    return candidate_id.encode(), envelope.model_dump_json().encode()


@dataclasses.dataclass
class Stream:
    """One part of a load: `total` units (None: open-ended), `done` so far at each mark."""

    name: str
    total: int | None
    marks: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Overlap:
    """The load's progress at the window's start and end and when it drained, in seconds since
    the load was started (published or uploaded)."""

    window_start: float
    window_end: float
    drained: float | None
    streams: list[Stream]

    def describe(self) -> str:
        window = self.window_end - self.window_start
        parts = []
        for stream in self.streams:
            before = stream.marks.get("start", 0)
            during = stream.marks.get("end", 0) - before
            text = f"{stream.name} {during:,} in the window ({during / window:,.0f}/s)"
            if stream.total is not None:
                text += f" of {stream.total:,}, {before:,} before it"
                final = stream.marks.get("final", 0)
                if final < stream.total:
                    text += f", {final:,} by the end"
            else:
                text += f", {stream.marks.get('final', 0):,} in all"
            parts.append(text)
        if self.drained is None:
            drained = "not drained"
        else:
            drained = f"drained {self.drained:.1f} s after it started"
        return (
            f"load {drained}, window {self.window_start:.1f}-{self.window_end:.1f} s: "
            + "; ".join(parts)
        )


class _MarkedLoad(ABC):
    """Marks the streams' progress at the window's ends; waits for them to drain."""

    name = ""

    def __init__(self, drain_timeout: float) -> None:
        self._drain_timeout = drain_timeout
        self._started = 0.0
        self._window: list[float] = []
        self.streams: list[Stream] = []

    @abstractmethod
    async def progress(self) -> dict[str, int]:
        """How much of each stream is done now (by stream name)."""

    async def _mark(self, mark: str) -> None:
        done = await self.progress()
        for stream in self.streams:
            stream.marks[mark] = done[stream.name]

    async def _wait_for_start(self, started: Callable[[dict[str, int]], bool]) -> None:
        deadline = time.perf_counter() + START_TIMEOUT_SECONDS
        while not started(await self.progress()):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the {self.name} load was not consumed at all")
            await asyncio.sleep(0.1)

    async def window_started(self) -> None:
        self._window.append(time.perf_counter() - self._started)
        await self._mark("start")

    async def window_ended(self) -> None:
        self._window.append(time.perf_counter() - self._started)
        await self._mark("end")

    async def finish(self) -> str:
        deadline = time.perf_counter() + self._drain_timeout
        drained: float | None = None
        while True:
            done = await self.progress()
            if all(s.total is None or done[s.name] >= s.total for s in self.streams):
                drained = time.perf_counter() - self._started
                break
            if time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.5)
        await self._mark("final")
        await self.close()
        start, end = self._window
        return Overlap(start, end, drained, self.streams).describe()

    @abstractmethod
    async def close(self) -> None:
        """Releases what the load holds."""


class BroadcastLoad(_MarkedLoad):
    """`sent` message.sent and `opens` message.opened about seeded candidates of the run."""

    name = "broadcast"

    def __init__(
        self,
        bootstrap: str,
        mongodb_uri: str,
        sent: int,
        opens: int,
        analytics_prefix: str,
        drain_timeout: float,
    ) -> None:
        super().__init__(drain_timeout)
        self._bootstrap = bootstrap
        self._mongodb_uri = mongodb_uri
        self._sent = sent
        self._opens = opens
        self._analytics_prefix = analytics_prefix
        # (stream, topic, its consumer groups); the slowest group counts.
        self._groups: list[tuple[str, str, list[str]]] = []
        self._first: dict[str, dict[TopicPartition, int]] = {}
        self._last: dict[str, dict[TopicPartition, int]] = {}
        self._admin: AIOKafkaAdminClient | None = None

    async def _seed(self, run: str) -> list[str]:
        """`sent` candidates of the run's tenant, stored in bulk as an import stores them."""
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self._mongodb_uri)
        ids: list[str] = []
        try:
            collection = client[run]["candidates"]
            batch: list[dict[str, Any]] = []
            for profile in Workload(seed=11).candidates(self._sent):
                candidate = Candidate(tenant_id=run, created_by="bench", **_api_payload(profile))
                batch.append(new_candidate_document(candidate))
                ids.append(candidate.id)
                if len(batch) == SEED_BATCH:
                    await collection.insert_many(batch)
                    batch = []
            if batch:
                await collection.insert_many(batch)
        finally:
            await client.close()
        return ids

    async def begin(self, app: FastAPI, api: httpx.AsyncClient, run: str) -> None:
        del api
        candidates: IdempotentConsumer = app.state.platform.require_consumer()
        analytics: IdempotentConsumer = create_analytics(
            AnalyticsSettings(
                kafka_group_prefix=self._analytics_prefix,
                internal_token_public_key=KEYS.public_pem,
                link_signing_secret=SECRET,
                log_json=False,
            )
        ).state.platform.require_consumer()

        def groups_of(consumer: IdempotentConsumer, topic: str) -> list[str]:
            return [group for subscribed, group in consumer.groups if subscribed == topic]

        self._groups = [
            (
                "candidates message.sent",
                MESSAGE_SENT.name,
                groups_of(candidates, MESSAGE_SENT.name),
            ),
            (
                "candidates message.opened",
                MESSAGE_OPENED.name,
                groups_of(candidates, MESSAGE_OPENED.name),
            ),
            ("analytics message.sent", MESSAGE_SENT.name, groups_of(analytics, MESSAGE_SENT.name)),
            (
                "analytics message.opened",
                MESSAGE_OPENED.name,
                groups_of(analytics, MESSAGE_OPENED.name),
            ),
            (
                "candidates engagement.scored",
                ENGAGEMENT_SCORED.name,
                groups_of(candidates, ENGAGEMENT_SCORED.name),
            ),
        ]
        self.streams = [
            Stream(name, None if topic == ENGAGEMENT_SCORED.name else total)
            for (name, topic, _), total in zip(
                self._groups, (self._sent, self._opens, self._sent, self._opens, 0), strict=True
            )
        ]
        ids = await self._seed(run)
        sent, opened = broadcast_events(run, ids, self._opens, f"b{uuid.uuid4().hex[:8]}")
        self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await self._admin.start()
        topics = (MESSAGE_SENT, MESSAGE_OPENED, ENGAGEMENT_SCORED)
        self._first = {spec.name: await self._ends(spec) for spec in topics}
        self._started = time.perf_counter()
        await produce(self._bootstrap, MESSAGE_SENT.name, sent)
        await produce(self._bootstrap, MESSAGE_OPENED.name, opened)
        self._last = {spec.name: await self._ends(spec) for spec in topics[:2]}
        # The timed writes start once the candidates service is applying the burst.
        await self._wait_for_start(lambda done: done["candidates message.sent"] > 0)

    async def _ends(self, spec: TopicSpec) -> dict[TopicPartition, int]:
        reader = AIOKafkaConsumer(bootstrap_servers=self._bootstrap)
        await reader.start()
        try:
            # The contract's partition count, which `ensure_topics` created the topic with.
            partitions = [TopicPartition(spec.name, p) for p in range(spec.partitions)]
            return dict(await reader.end_offsets(partitions))
        finally:
            await reader.stop()

    async def progress(self) -> dict[str, int]:
        assert self._admin is not None
        done: dict[str, int] = {}
        for name, topic, groups in self._groups:
            first = self._first[topic]
            last = self._last.get(topic)
            counts = []
            for group in groups:
                committed = await self._admin.list_consumer_group_offsets(group)
                count = 0
                for partition, start in first.items():
                    position = committed.get(partition)
                    offset = position.offset if position is not None else -1
                    if last is not None:
                        offset = min(offset, last[partition])
                    count += max(0, offset - start)
                counts.append(count)
            done[name] = min(counts, default=0)
        return done

    async def close(self) -> None:
        if self._admin is not None:
            await self._admin.close()
            self._admin = None


class ImportLoad(_MarkedLoad):
    """An import of `rows` workload people through the service's own endpoint and worker."""

    name = "import"

    def __init__(self, rows: int, drain_timeout: float) -> None:
        super().__init__(drain_timeout)
        self._rows = rows
        self._api: httpx.AsyncClient | None = None
        self._import_id = ""
        self.streams = [Stream("import rows", rows)]

    async def close(self) -> None:
        """Nothing to release: the client it posts with belongs to the caller."""

    async def begin(self, app: FastAPI, api: httpx.AsyncClient, run: str) -> None:
        del app, run
        self._api = api
        with tempfile.TemporaryDirectory(prefix="crm-bench-load-import-") as directory:
            path = Path(directory) / "candidates.csv"
            write_csv(path, self._rows)
            created = await api.post("/imports", json={"mapping": COLUMNS, "default_region": "DE"})
            if created.status_code != 201:
                raise RuntimeError(f"creating the import failed: {created.text}")
            self._import_id = created.json()["id"]
            self._started = time.perf_counter()
            uploaded = await api.put(
                f"/imports/{self._import_id}/file",
                content=path.read_bytes(),
                headers={"Content-Type": "text/csv"},
            )
            if uploaded.status_code >= 300:
                raise RuntimeError(f"uploading the import failed: {uploaded.text}")
        await self._wait_for_start(lambda done: done["import rows"] > 0)

    async def progress(self) -> dict[str, int]:
        assert self._api is not None
        response = await self._api.get(f"/imports/{self._import_id}")
        response.raise_for_status()
        counts = response.json()["counts"]
        return {"import rows": int(counts["created"] + counts["merged"] + counts["failed"])}


def _analytics_process(bootstrap: str, mongodb_uri: str, run_dir: str) -> tuple[Any, str]:
    """The analytics service as its own process, as the stack runs it; its group prefix."""
    config = bench_stack_config(bootstrap, mongodb_uri, run_dir, "segment-load")
    [process] = [p for p in stack_processes(config) if p.name == "analytics"]
    return process, config.kafka_group_prefix


async def run(
    bootstrap: str,
    mongodb_uri: str,
    *,
    writes: int,
    per_second: float,
    sent: int,
    opens: int,
    import_rows: int,
    drain_timeout: float,
) -> list[Figure]:
    """Both loads in turn, each under a fresh candidates service and tenant; the analytics
    process runs through both (it also consumes the import's `candidate.created`)."""
    with tempfile.TemporaryDirectory(prefix="crm-bench-segment-load-") as run_dir:
        process, prefix = _analytics_process(bootstrap, mongodb_uri, run_dir)
        async with serving([process]):
            loads: Iterable[Callable[[], Awaitable[list[Figure]]]] = (
                lambda: membership_latency(
                    bootstrap,
                    mongodb_uri,
                    writes,
                    per_second,
                    load=BroadcastLoad(bootstrap, mongodb_uri, sent, opens, prefix, drain_timeout),
                    arrival_wait=drain_timeout,
                ),
                lambda: membership_latency(
                    bootstrap,
                    mongodb_uri,
                    writes,
                    per_second,
                    load=ImportLoad(import_rows, drain_timeout),
                    arrival_wait=drain_timeout,
                ),
            )
            figures: list[Figure] = []
            for measure in loads:
                figures.extend(await measure())
    return figures

"""1. The consumer path: our subscriber against bare aiokafka on the same topic and broker.

Ours per fetched batch: FastStream delivery, envelope validation, one MongoDB transaction (one
query for the batch's processed markers, their insert_many, the handler's effect), one offset
commit after it. The effect is one counter `$inc` per event for the per-event handler form, one
`$inc` of the batch's size for the batch form.
Bare aiokafka: fetch and JSON-decode, one commit at the end (the broker's ceiling).
Bare aiokafka + bulk writes: the same effects hand-written per fetched batch (insert_many of the
markers, one `$inc`, commit), no framework and no transaction.

Every side times the same span: the records are written first, and the span runs from the moment
the side's consumer group is given its partitions (the first record available to it) to the
moment its last record is applied (decoded, for bare aiokafka; the effects written, for the
others), so every fetch is in it, the first one too. The offset commit after the last batch is
not, on either side.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.consumer.group_coordinator import GroupCoordinator
from faststream.kafka import KafkaBroker, KafkaRouter
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from bench.report import Figure
from crm_devstack.workload import Workload
from crm_shared import (
    CandidateCreated,
    EventEnvelope,
    IdempotentConsumer,
    Session,
    TopicSpec,
)


async def create_topic(bootstrap: str, name: str, partitions: int = 6) -> TopicSpec:
    """A fresh topic (and dead-letter topic) carrying candidate.created-shaped events."""
    spec = TopicSpec(
        name=name,
        payload=CandidateCreated,
        schema_version=1,
        key="candidate id",
        partitions=partitions,
        description="benchmark topic",
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics(
        [NewTopic(name, partitions, 1), NewTopic(spec.dead_letter_topic, 1, 1)]
    )
    await admin.close()
    return spec


def envelopes(spec: TopicSpec, count: int, tenant_id: str) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of `count` realistic events."""
    pairs = []
    for number, profile in enumerate(Workload().candidates(count)):
        candidate_id = f"c{number:08d}"
        payload = CandidateCreated(
            candidate_id=candidate_id,
            **{k: v for k, v in profile.items() if k in CandidateCreated.model_fields},
        )
        envelope = EventEnvelope[Any](
            type=spec.name,
            source="bench",
            tenant_id=tenant_id,
            subject=candidate_id,
            schema_version=1,
            data=payload,
        )
        pairs.append((candidate_id.encode(), envelope.model_dump_json().encode()))
    return pairs


async def produce(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes]]) -> float:
    """Sends `pairs` with a bare idempotent producer; returns the seconds from the first send to
    the last ack (its start-up and the topic's metadata excluded, as for the side it is compared
    with)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.partitions_for(topic)
        started = time.perf_counter()
        acks = [await producer.send(topic, value, key=key) for key, value in pairs]
        await asyncio.gather(*acks)
        return time.perf_counter() - started
    finally:
        await producer.stop()


class GroupJoins:
    """When each consumer group of this process was first given its partitions.

    Every benchmark here writes its records first and starts its consumers after, so that moment
    is when the first record becomes available to a group: each side's span starts there and
    takes in the first fetch, as every later one. (A group's join itself is left out: the
    broker's rebalance delay is no part of consuming.) aiokafka has no public hook for every
    consumer of a process (FastStream builds its own), hence the coordinator's method patched
    while `watching`."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    @contextmanager
    def watching(self) -> Iterator[GroupJoins]:
        original = GroupCoordinator._on_join_complete
        joined = self.at

        async def on_join_complete(coordinator: GroupCoordinator, *args: Any) -> Any:
            joined.setdefault(coordinator.group_id, time.perf_counter())
            return await original(coordinator, *args)

        GroupCoordinator._on_join_complete = on_join_complete
        try:
            yield self
        finally:
            GroupCoordinator._on_join_complete = original

    def of(self, group: str) -> float:
        if group not in self.at:
            raise RuntimeError(f"consumer group {group} applied records before it joined")
        return self.at[group]


class BatchTiming:
    """Our side of a span, per consumer group reading `topic`: from the moment the group was
    given its partitions (the first record available to it) to the moment it has applied every
    record (its last batch's transaction committed). `measured` names the declared groups whose
    span is the rate (all on the topic if None); `rate` waits for every group on the topic, so
    `describe` can say how the others did in the same time."""

    def __init__(
        self,
        consumer: IdempotentConsumer,
        topic: str,
        joins: GroupJoins,
        measured: Sequence[str] | None = None,
    ) -> None:
        self.consumer = consumer
        self.topic = topic
        self.joins = joins
        self.measured = measured
        self.records: Counter[str] = Counter()
        self.batches: Counter[str] = Counter()
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.busy: defaultdict[str, float] = defaultdict(float)  # seconds applying, per group
        self.done = asyncio.Event()
        self.expected = 0
        apply = consumer.process_batch

        async def timed(subscription: Any, records: Sequence[Any]) -> Any:
            started = time.perf_counter()
            outcomes = await apply(subscription, records)
            if subscription.spec.name == topic:
                group = consumer.group_for(subscription.name)
                self.first.setdefault(group, started)
                self.last[group] = time.perf_counter()
                self.records[group] += len(records)
                self.batches[group] += 1
                self.busy[group] += self.last[group] - started
                self._check()
            return outcomes

        consumer.process_batch = timed  # type: ignore[method-assign]

    @property
    def groups(self) -> list[str]:
        """Every group of the consumer reading the topic."""
        return [group for topic, group in self.consumer.groups if topic == self.topic]

    @property
    def timed_groups(self) -> list[str]:
        if self.measured is None:
            return self.groups
        return [self.consumer.group_for(name) for name in self.measured]

    def _check(self) -> None:
        if self.expected and all(self.records[g] >= self.expected for g in self.groups):
            self.done.set()

    def span(self, groups: Sequence[str]) -> tuple[float, float]:
        return min(self.joins.of(g) for g in groups), max(self.last[g] for g in groups)

    async def rate(self, count: int, timeout: float = 3600) -> float:
        """Waits until every group on the topic applied `count` records; the measured groups'
        rate over their span."""
        self.expected = count
        self._check()
        await asyncio.wait_for(self.done.wait(), timeout=timeout)
        first, last = self.span(self.timed_groups)
        return count / (last - first)

    def describe(self) -> str:
        """Per group: its span (own join to last batch applied), when its first batch began,
        batches, their mean size and the share of its span spent applying them; with several
        groups, the span from the first join to the last record applied by any."""
        parts = []
        for group in self.groups:
            first, last = self.span([group])
            parts.append(
                f"{group.rsplit('.', 1)[-1]}{' (timed)' if group in self.timed_groups else ''}: "
                f"{1000 * (last - first):.0f} ms, first batch at "
                f"{1000 * (self.first[group] - first):.0f} ms, {self.batches[group]} batches of "
                f"{self.records[group] / max(1, self.batches[group]):.0f}, "
                f"{self.busy[group] / (last - first):.0%} applying"
            )
        if len(self.groups) > 1:
            first, last = self.span(self.groups)
            parts.append(f"first join to last applied {1000 * (last - first):.0f} ms")
        return "; ".join(parts)


def rate_over(count: int, first: float, last: float) -> float:
    """Records per second over a span."""
    return count / (last - first) if last > first else float("inf")


async def bare_consume(bootstrap: str, topic: str, count: int, joins: GroupJoins) -> float:
    """The rate at which bare aiokafka fetches and decodes `count` messages: from its group's
    join (the first record available) to the last record decoded."""
    group = f"bare-{uuid.uuid4()}"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen = 0
    try:
        while seen < count:
            for records in (await consumer.getmany(timeout_ms=500, max_records=1000)).values():
                for record in records:
                    json.loads(record.value)
                    seen += 1
        last = time.perf_counter()
        await consumer.commit()
        return rate_over(count, joins.of(group), last)
    finally:
        await consumer.stop()


async def records_on(bootstrap: str, topic: str) -> int:
    """How many records `topic` holds: what a group reading it from the start must apply."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()  # without a group: every partition assigned, the metadata in
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(partitions)
        beginnings = await consumer.beginning_offsets(partitions)
        return sum(ends[tp] - beginnings[tp] for tp in partitions)
    finally:
        await consumer.stop()


BatchEffects = Callable[[AsyncDatabase[dict[str, Any]], list[dict[str, Any]]], Awaitable[None]]


async def bare_batch_rate(
    bootstrap: str,
    mongodb_uri: str,
    topic: str,
    count: int,
    apply: BatchEffects,
    joins: GroupJoins,
    collections: Sequence[str],
) -> float:
    """The rate of bare aiokafka fetching batches of `topic`, `apply` writing each batch's
    effects by hand into a fresh database, and one offset commit per batch: as ours, from the
    group's join (the first record available) to the last batch's effects written.

    `collections` (those `apply` writes) are created first, as ours are by its start-up's
    indexes: creating them is no part of consuming."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[f"bench_bare_bulk_{uuid.uuid4().hex[:8]}"]
    for name in collections:
        await database.create_collection(name)
    group = f"bare-bulk-{uuid.uuid4()}"
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen = 0
    last = 0.0
    try:
        while seen < count:
            fetched = await consumer.getmany(timeout_ms=100, max_records=500)
            events = [json.loads(record.value) for batch in fetched.values() for record in batch]
            if not events:
                continue
            await apply(database, events)
            last = time.perf_counter()
            await consumer.commit()
            seen += len(events)
        return rate_over(count, joins.of(group), last)
    finally:
        await consumer.stop()
        await client.close()


async def bare_bulk_consume(
    bootstrap: str, mongodb_uri: str, topic: str, count: int, joins: GroupJoins
) -> float:
    """The rate of bare aiokafka plus hand-written bulk writes of our effects per fetched batch."""

    async def mark_and_count(
        database: AsyncDatabase[dict[str, Any]], events: list[dict[str, Any]]
    ) -> None:
        await database["processed_events"].insert_many(
            [{"_id": f"bare:{event['id']}", "tenant_id": event["tenant_id"]} for event in events],
            ordered=False,
        )
        await database["counters"].update_one(
            {"_id": "bench"}, {"$inc": {"value": len(events)}}, upsert=True
        )

    return await bare_batch_rate(
        bootstrap,
        mongodb_uri,
        topic,
        count,
        mark_and_count,
        joins,
        ["processed_events", "counters"],
    )


async def our_consume(
    bootstrap: str,
    mongodb_uri: str,
    spec: TopicSpec,
    count: int,
    joins: GroupJoins,
    *,
    batch_form: bool,
) -> tuple[float, str]:
    """The rate at which our idempotent subscriber applies `count` events."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[f"bench_consumer_{uuid.uuid4().hex[:8]}"]
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    consumer = IdempotentConsumer(
        client=client,
        database=database,
        broker=broker,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        registry=CollectorRegistry(),
    )
    router = KafkaRouter()

    async def on_bench_event(envelope: EventEnvelope[Any], session: Session) -> None:
        await database["counters"].update_one(
            {"_id": envelope.tenant_id}, {"$inc": {"value": 1}}, upsert=True, session=session
        )

    async def on_bench_batch(envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        await database["counters"].update_one(
            {"_id": "bench"}, {"$inc": {"value": len(envelopes)}}, upsert=True, session=session
        )

    if batch_form:
        consumer.subscribe_batch(
            router, spec, on_bench_batch, group="on_bench_event", description="benchmark handler"
        )
    else:
        consumer.subscribe(
            router, spec, on_bench_event, group="on_bench_event", description="benchmark handler"
        )
    timing = BatchTiming(consumer, spec.name, joins)
    broker.include_router(router)
    await consumer.ensure_indexes()
    await database.create_collection("counters")  # as the bare side's, before the span
    await broker.start()
    try:
        return await timing.rate(count), timing.describe()
    finally:
        await broker.stop()
        await client.close()


async def warm_up(bootstrap: str, mongodb_uri: str, joins: GroupJoins) -> None:
    """Runs our subscriber once on a few events of a topic of its own, untimed: the process's
    first FastStream subscriber is slower to its first batch (see `run`)."""
    spec = await create_topic(bootstrap, f"bench{uuid.uuid4().hex[:8]}.warmup", partitions=1)
    await produce(bootstrap, spec.name, envelopes(spec, 10, "bench"))
    await our_consume(bootstrap, mongodb_uri, spec, 10, joins, batch_form=True)


async def run(bootstrap: str, mongodb_uri: str, count: int) -> list[Figure]:
    spec = await create_topic(bootstrap, f"bench{uuid.uuid4().hex[:8]}.created")
    await produce(bootstrap, spec.name, envelopes(spec, count, "bench"))
    with GroupJoins().watching() as joins:
        # Untimed, once each: the broker's first group on a topic and the process's first
        # FastStream subscriber pay for warming up, whichever side comes first (the first
        # subscriber's first batch began 110-160 ms after its assignment, later ones' 15-35).
        await bare_consume(bootstrap, spec.name, count, joins)
        await our_consume(bootstrap, mongodb_uri, spec, count, joins, batch_form=True)
        bare = await bare_consume(bootstrap, spec.name, count, joins)
        bare_bulk = await bare_bulk_consume(bootstrap, mongodb_uri, spec.name, count, joins)
        ours, batched = await our_consume(
            bootstrap, mongodb_uri, spec, count, joins, batch_form=True
        )
        per_event, per_event_batches = await our_consume(
            bootstrap, mongodb_uri, spec, count, joins, batch_form=False
        )
    batches = (
        "group assigned -> last record applied, on every side; "
        "batches of <= 500, one transaction each (dedupe query + insert_many markers"
    )
    return [
        Figure(
            "consumer path",
            f"{count:,} events consumed",
            ours,
            "msg/s",
            baseline=bare,
            baseline_name="bare aiokafka",
            note=f"ours: {batches} + one $inc), commit after; {batched}",
        ),
        Figure(
            "consumer path",
            f"{count:,} events, against bulk writes",
            ours,
            "msg/s",
            baseline=bare_bulk,
            baseline_name="bare aiokafka + insert_many + $inc per batch",
            note="raw: no framework, no transaction, no dedupe query",
        ),
        Figure(
            "consumer path",
            f"{count:,} events, per-event handler",
            per_event,
            "msg/s",
            baseline=bare,
            baseline_name="bare aiokafka",
            note=f"ours: {batches} + one $inc per event), commit after; {per_event_batches}",
        ),
    ]

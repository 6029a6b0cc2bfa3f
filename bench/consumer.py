"""1. The consumer path: our subscriber against bare aiokafka on the same topic and broker.

Ours per fetched batch: FastStream delivery, envelope validation, one MongoDB transaction (one
query for the batch's processed markers, their insert_many, the handler's effect), one offset
commit after it. The effect is one counter `$inc` per event for the per-event handler form, one
`$inc` of the batch's size for the batch form.
Bare aiokafka: fetch and JSON-decode, one commit at the end (the broker's ceiling).
Bare aiokafka + bulk writes: the same effects hand-written per fetched batch (insert_many of the
markers, one `$inc`, commit), no framework and no transaction.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
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


class BatchTiming:
    """When a consumer began applying its first fetched batch and finished (committed) its
    last, and how many records it applied: the rate excludes joins and start-up but includes
    the whole of every batch, its transaction and its commit."""

    def __init__(self, consumer: IdempotentConsumer) -> None:
        self.first = 0.0
        self.last = 0.0
        self.records = 0
        self.batches = 0
        self.busy = 0.0  # seconds spent applying batches (the rest is waiting for records)
        self.done = asyncio.Event()
        self.expected = 0
        apply = consumer.process_batch

        async def timed(subscription: Any, records: Sequence[Any]) -> Any:
            started = time.perf_counter()
            if not self.first:
                self.first = started
            outcomes = await apply(subscription, records)
            self.last = time.perf_counter()
            self.records += len(records)
            self.batches += 1
            self.busy += self.last - started
            if self.expected and self.records >= self.expected:
                self.done.set()
            return outcomes

        consumer.process_batch = timed  # type: ignore[method-assign]

    async def rate(self, count: int, timeout: float = 3600) -> float:
        """Waits until `count` records were applied; their rate."""
        self.expected = count
        if self.records < count:
            await asyncio.wait_for(self.done.wait(), timeout=timeout)
        return count / (self.last - self.first) if self.last > self.first else float("inf")

    def describe(self) -> str:
        """Batches, their mean size and the share of the time spent applying them."""
        span = self.last - self.first
        busy = f", {self.busy / span:.0%} of the time applying" if span > 0 else ""
        return (
            f"{self.batches} batches of {self.records / max(1, self.batches):.0f} on average{busy}"
        )


def steady_rate(count: int, first: float, last: float) -> float:
    """Messages per second from the first message to the last: joins and start-up excluded."""
    return (count - 1) / (last - first) if last > first else float("inf")


async def bare_consume(bootstrap: str, topic: str, count: int) -> float:
    """The rate at which bare aiokafka fetches and decodes `count` messages."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bare-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    first = 0.0
    seen = 0
    try:
        while seen < count:
            for records in (await consumer.getmany(timeout_ms=500, max_records=1000)).values():
                for record in records:
                    json.loads(record.value)
                    seen += 1
                    if seen == 1:
                        first = time.perf_counter()
        await consumer.commit()
        return steady_rate(count, first, time.perf_counter())
    finally:
        await consumer.stop()


BatchEffects = Callable[[AsyncDatabase[dict[str, Any]], list[dict[str, Any]]], Awaitable[None]]


async def bare_batch_rate(
    bootstrap: str, mongodb_uri: str, topic: str, count: int, apply: BatchEffects
) -> float:
    """The rate of bare aiokafka fetching batches of `topic`, `apply` writing each batch's
    effects by hand into a fresh database, and one offset commit per batch."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[f"bench_bare_bulk_{uuid.uuid4().hex[:8]}"]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bare-bulk-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    first = 0.0
    seen = 0
    try:
        while seen < count:
            fetched = await consumer.getmany(timeout_ms=100, max_records=500)
            events = [json.loads(record.value) for batch in fetched.values() for record in batch]
            if not events:
                continue
            if not first:
                first = time.perf_counter()
            await apply(database, events)
            await consumer.commit()
            seen += len(events)
        # As ours: from the first batch's arrival to the last one's commit, whole batches.
        return seen / (time.perf_counter() - first)
    finally:
        await consumer.stop()
        await client.close()


async def bare_bulk_consume(bootstrap: str, mongodb_uri: str, topic: str, count: int) -> float:
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

    return await bare_batch_rate(bootstrap, mongodb_uri, topic, count, mark_and_count)


async def our_consume(
    bootstrap: str, mongodb_uri: str, spec: TopicSpec, count: int, *, batch_form: bool
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
    timing = BatchTiming(consumer)
    broker.include_router(router)
    await consumer.ensure_indexes()
    await broker.start()
    try:
        return await timing.rate(count), timing.describe()
    finally:
        await broker.stop()
        await client.close()


async def run(bootstrap: str, mongodb_uri: str, count: int) -> list[Figure]:
    spec = await create_topic(bootstrap, f"bench{uuid.uuid4().hex[:8]}.created")
    await produce(bootstrap, spec.name, envelopes(spec, count, "bench"))
    bare = await bare_consume(bootstrap, spec.name, count)
    bare_bulk = await bare_bulk_consume(bootstrap, mongodb_uri, spec.name, count)
    ours, batched = await our_consume(bootstrap, mongodb_uri, spec, count, batch_form=True)
    per_event, per_event_batches = await our_consume(
        bootstrap, mongodb_uri, spec, count, batch_form=False
    )
    batches = "batches of <= 500, one transaction each (dedupe query + insert_many markers"
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

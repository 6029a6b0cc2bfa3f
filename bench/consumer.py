"""1. The consumer path: our subscriber against bare aiokafka on the same topic and broker.

Ours per message: FastStream delivery, envelope validation, one MongoDB transaction (processed
marker lookup and insert, the handler's counter update), offset commit after processing.
Bare aiokafka: fetch and JSON-decode, one commit at the end.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker, KafkaRouter
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient

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


async def produce(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        acks = [await producer.send(topic, value, key=key) for key, value in pairs]
        await asyncio.gather(*acks)
    finally:
        await producer.stop()


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


async def our_consume(bootstrap: str, mongodb_uri: str, spec: TopicSpec, count: int) -> float:
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
    applied = 0
    first = 0.0
    done = asyncio.Event()

    async def on_bench_event(envelope: EventEnvelope[Any], session: Session) -> None:
        nonlocal applied, first
        await database["counters"].update_one(
            {"_id": envelope.tenant_id}, {"$inc": {"value": 1}}, upsert=True, session=session
        )
        applied += 1
        if applied == 1:
            first = time.perf_counter()
        if applied >= count:
            done.set()

    consumer.subscribe(
        router, spec, on_bench_event, group="on_bench_event", description="benchmark handler"
    )
    broker.include_router(router)
    await consumer.ensure_indexes()
    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=3600)
        return steady_rate(count, first, time.perf_counter())
    finally:
        await broker.stop()
        await client.close()


async def run(bootstrap: str, mongodb_uri: str, count: int) -> list[Figure]:
    spec = await create_topic(bootstrap, f"bench{uuid.uuid4().hex[:8]}.created")
    await produce(bootstrap, spec.name, envelopes(spec, count, "bench"))
    bare = await bare_consume(bootstrap, spec.name, count)
    ours = await our_consume(bootstrap, mongodb_uri, spec, count)
    return [
        Figure(
            "consumer path",
            f"{count:,} events consumed",
            ours,
            "msg/s",
            baseline=bare,
            baseline_name="bare aiokafka",
            note="ours: one MongoDB transaction per event (dedupe + effect), commit after",
        )
    ]

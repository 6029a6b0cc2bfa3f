"""Batched consumption on a real broker and database: a consumer killed in the middle of a
batch loses nothing and applies nothing twice; a poison event is dead-lettered alone while the
rest of its batch commits; the events of one key are applied in offset order."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker, KafkaRouter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient

from crm_shared import (
    BatchLimits,
    CandidateCreated,
    EventEnvelope,
    IdempotentConsumer,
    MongoClient,
    Session,
    TopicSpec,
)
from crm_shared.telemetry import JsonLogFormatter
from helpers import eventually, record_headers, unique
from integration.shared.consumer_process import SUBSCRIPTION, counting_consumer, topic

pytestmark = pytest.mark.integration

CONSUMER_PROCESS = Path(__file__).with_name("consumer_process.py")


@pytest.fixture
async def spec(kafka_bootstrap_servers: str) -> TopicSpec:
    created = topic(unique("batchtest").replace("_", "") + ".handled")
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics(
        [NewTopic(created.name, created.partitions, 1), NewTopic(created.dead_letter_topic, 1, 1)]
    )
    await admin.close()
    return created


@pytest.fixture
async def client(mongodb_uri: str) -> AsyncIterator[MongoClient]:
    mongo: MongoClient = AsyncMongoClient(mongodb_uri)
    yield mongo
    await mongo.close()


def event(spec: TopicSpec, subject: str, number: int = 0) -> bytes:
    return (
        EventEnvelope[Any](
            type=spec.name,
            source="test",
            tenant_id="acme",
            subject=subject,
            schema_version=1,
            data=CandidateCreated(
                candidate_id=subject,
                first_name="A",
                last_name=str(number),
                emails=[],
                source="sourced",
            ),
        )
        .model_dump_json()
        .encode()
    )


async def publish_all(
    bootstrap: str,
    topic_name: str,
    pairs: Sequence[tuple[str, bytes]],
    headers: Sequence[list[tuple[str, bytes]]] = (),
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        sent = [
            await producer.send(
                topic_name, value, key=key.encode(), headers=headers[n] if headers else None
            )
            for n, (key, value) in enumerate(pairs)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def test_a_consumer_killed_mid_batch_loses_nothing_and_applies_nothing_twice(
    kafka_bootstrap_servers: str,
    mongodb_uri: str,
    client: MongoClient,
    spec: TopicSpec,
    tmp_path: Path,
) -> None:
    total = 600
    subjects = [f"s{number:04d}" for number in range(total)]
    await publish_all(
        kafka_bootstrap_servers,
        spec.name,
        [(s, event(spec, s, number)) for number, s in enumerate(subjects)],
    )
    database_name, group = unique("killed_db"), unique("killed")
    database = client[database_name]
    progress = tmp_path / "progress"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CONSUMER_PROCESS),
        kafka_bootstrap_servers,
        mongodb_uri,
        database_name,
        spec.name,
        group,
        str(progress),
    )
    try:

        async def third_batch_open() -> bool:
            return progress.exists() and len(progress.read_text().splitlines()) >= 3

        await eventually(
            third_batch_open, timeout=90, interval=0.005, message="the consumer process idled"
        )
        # The third batch's transaction is open (it lingers 0.3 s after its writes): kill it.
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    applied_when_killed = await database["effects"].count_documents({})
    assert 0 < applied_when_killed < total, "the consumer was not killed in the middle"

    broker = KafkaBroker(kafka_bootstrap_servers, enable_idempotence=True, acks="all")
    broker.include_router(counting_consumer(client, database, broker, spec, group))
    await broker.start()
    try:

        async def all_applied() -> bool:
            return await database["effects"].count_documents({}) >= total

        await eventually(all_applied, timeout=180, message="events were lost after the kill")
        await asyncio.sleep(1)  # anything applied twice would show up by now
    finally:
        await broker.stop()

    effects = await database["effects"].find({}, {"_id": 0, "subject": 1}).to_list()
    assert sorted(e["subject"] for e in effects) == subjects  # each exactly once
    counter = await database["counters"].find_one({"_id": "events"})
    assert counter is not None
    assert counter["value"] == total
    markers = await database["processed_events"].count_documents(
        {"_id": {"$regex": f"^{SUBSCRIPTION}:"}}
    )
    assert markers == total


async def test_a_poison_event_is_dead_lettered_alone_and_the_rest_of_its_batch_commits(
    kafka_bootstrap_servers: str, client: MongoClient, spec: TopicSpec
) -> None:
    # Published before the consumer starts, so they arrive together in one batch.
    pairs = [(f"k{n % 3}", event(spec, f"e{n:02d}", n)) for n in range(30)]
    pairs[17] = ("k2", event(spec, "broken", 17))
    pairs.insert(5, ("k2", b'{"not": "an event"'))
    await publish_all(kafka_bootstrap_servers, spec.name, pairs)

    database = client[unique("poison_db")]
    broker = KafkaBroker(kafka_bootstrap_servers, enable_idempotence=True, acks="all")
    consumer = IdempotentConsumer(
        client=client,
        database=database,
        broker=broker,
        group_id=unique("poison"),
        retry_backoff_seconds=0.01,
        batch=BatchLimits(max_records=100, timeout_ms=50),
        registry=CollectorRegistry(),
    )
    calls: list[str] = []
    router = KafkaRouter()

    async def on_event(envelope: EventEnvelope[Any], session: Session) -> None:
        calls.append(envelope.subject)
        if envelope.subject == "broken":
            raise RuntimeError("cannot handle broken")
        await database["effects"].insert_one(
            {"subject": envelope.subject, "key": f"k{int(envelope.data.last_name) % 3}"},
            session=session,
        )

    consumer.subscribe(router, spec, on_event, group="on_event", description="test handler")
    broker.include_router(router)
    await broker.start()
    try:

        async def rest_applied() -> bool:
            return await database["effects"].count_documents({}) == 29

        await eventually(rest_applied, message="the rest of the batch was not applied")
    finally:
        await broker.stop()

    assert calls.count("broken") == 3  # one attempt in the batch, two alone
    effects = await database["effects"].find({}, {"_id": 0}).sort("_id", 1).to_list()
    # Each key's events were applied in their offset order.
    for key in ("k0", "k1", "k2"):
        mine = [e["subject"] for e in effects if e["key"] == key]
        assert mine == sorted(mine)
    letters = AIOKafkaConsumer(
        spec.dead_letter_topic,
        bootstrap_servers=kafka_bootstrap_servers,
        group_id=unique("dlq"),
        auto_offset_reset="earliest",
    )
    await letters.start()
    found: list[Any] = []
    try:

        async def both_dead_lettered() -> bool:
            for batch in (await letters.getmany(timeout_ms=300)).values():
                found.extend(batch)
            return len(found) >= 2

        await eventually(both_dead_lettered, message="expected two dead letters")
        await asyncio.sleep(0.5)
        for batch in (await letters.getmany(timeout_ms=300)).values():
            found.extend(batch)
    finally:
        await letters.stop()
    attempts = sorted(
        (record_headers(r)["x-dlq-error-type"], record_headers(r)["x-dlq-attempts"]) for r in found
    )
    assert attempts == [("RuntimeError", "3"), ("UndecodableEventError", "0")]


async def test_a_batch_handler_s_failing_batch_is_halved_until_the_poison_event_is_alone(
    kafka_bootstrap_servers: str, client: MongoClient, spec: TopicSpec
) -> None:
    pairs = [(f"k{n % 3}", event(spec, f"e{n:02d}", n)) for n in range(24)]
    pairs[13] = ("k1", event(spec, "broken", 13))
    await publish_all(kafka_bootstrap_servers, spec.name, pairs)

    database = client[unique("halved_db")]
    broker = KafkaBroker(kafka_bootstrap_servers, enable_idempotence=True, acks="all")
    consumer = IdempotentConsumer(
        client=client,
        database=database,
        broker=broker,
        group_id=unique("halved"),
        retry_backoff_seconds=0.01,
        batch=BatchLimits(max_records=100, timeout_ms=50),
        registry=CollectorRegistry(),
    )
    batches: list[list[str]] = []
    router = KafkaRouter()

    async def on_batch(envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        subjects = [e.subject for e in envelopes]
        batches.append(subjects)
        if "broken" in subjects:
            raise RuntimeError("cannot handle broken")
        await database["effects"].insert_many([{"subject": s} for s in subjects], session=session)

    consumer.subscribe_batch(router, spec, on_batch, group="on_batch", description="test")
    broker.include_router(router)
    await broker.start()
    try:

        async def rest_applied() -> bool:
            return await database["effects"].count_documents({}) == 23

        await eventually(rest_applied, message="the rest of the batch was not applied")
        await asyncio.sleep(0.5)
    finally:
        await broker.stop()

    effects = await database["effects"].find({}, {"_id": 0, "subject": 1}).to_list()
    assert sorted(e["subject"] for e in effects) == sorted(
        s for s in (f"e{n:02d}" for n in range(24)) if s != "e13"
    )
    # Alone, the poison event had its two further attempts before it was dead-lettered.
    assert batches.count(["broken"]) == 3
    assert await database["processed_events"].count_documents({}) == 23


async def test_each_event_of_a_batch_is_handled_in_its_trace_its_log_lines_naming_it(
    kafka_bootstrap_servers: str,
    client: MongoClient,
    spec: TopicSpec,
    span_exporter: InMemorySpanExporter,
) -> None:
    trace_ids = [f"{number + 1:032x}" for number in range(4)]
    await publish_all(
        kafka_bootstrap_servers,
        spec.name,
        [(f"k{n}", event(spec, f"t{n}", n)) for n in range(4)],
        [[("traceparent", f"00-{trace_id}-{1:016x}-01".encode())] for trace_id in trace_ids],
    )
    database = client[unique("traced_db")]
    broker = KafkaBroker(kafka_bootstrap_servers, enable_idempotence=True, acks="all")
    consumer = IdempotentConsumer(
        client=client,
        database=database,
        broker=broker,
        group_id=unique("traced"),
        batch=BatchLimits(max_records=100, timeout_ms=50),
        registry=CollectorRegistry(),
    )
    router = KafkaRouter()

    formatter = JsonLogFormatter("test")
    # What a log line written while handling each event says, by the event's id.
    logged: dict[str, dict[str, Any]] = {}

    async def on_event(envelope: EventEnvelope[Any], session: Session) -> None:
        line = logging.LogRecord("handler", logging.INFO, __file__, 1, "handled", (), None)
        logged[str(envelope.id)] = json.loads(formatter.format(line))
        await database["effects"].insert_one({"subject": envelope.subject}, session=session)

    consumer.subscribe(router, spec, on_event, group="on_event", description="test handler")
    broker.include_router(router)
    await broker.start()
    try:

        async def all_applied() -> bool:
            return await database["effects"].count_documents({}) == 4

        await eventually(all_applied, message="the events were not applied")
    finally:
        await broker.stop()

    handled = {
        format(span.context.trace_id, "032x")
        for span in span_exporter.get_finished_spans()
        if span.kind is SpanKind.CONSUMER
        and span.name.startswith(spec.name)
        and span.context is not None
    }
    assert set(trace_ids) <= handled
    # Each line names the event and its tenant (and the topic), whatever the batch held.
    assert len(logged) == 4
    for event_id, line in logged.items():
        assert (line["event_id"], line["tenant_id"], line["topic"]) == (event_id, "acme", spec.name)

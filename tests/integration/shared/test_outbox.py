"""The outbox commits with its entity and the relay loses nothing, even when killed mid-batch."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient

from crm_shared import (
    CandidateCreated,
    Outbox,
    OutboxRelay,
    RecordProducer,
    Session,
    TopicSpec,
    in_transaction,
)
from crm_shared.leases import NamedLease
from crm_shared.outbox import OUTBOX_RELAY_LEASE, RelayState
from helpers import eventually, record_headers, unique

pytestmark = pytest.mark.integration

RELAY_PROCESS = Path(__file__).with_name("relay_process.py")

# The relay tests publish thousands of events: to a topic of their own, not one that services
# under test consume (they would have to work through them all first).
RELAYED = TopicSpec(
    name=f"{unique('outboxtest').replace('_', '')}.created",
    payload=CandidateCreated,
    schema_version=1,
    key="candidate id",
    partitions=6,
    description="outbox test topic",
)


@pytest.fixture(scope="module", autouse=True)
async def relayed_topic(kafka_bootstrap_servers: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(RELAYED.name, RELAYED.partitions, 1)])
    await admin.close()


def candidate_event(outbox: Outbox, tenant_id: str, number: int) -> Any:
    candidate_id = f"cand-{number}"
    payload = CandidateCreated(
        candidate_id=candidate_id,
        first_name="Test",
        last_name=str(number),
        emails=[f"{candidate_id}@example.org"],
        source="sourced",
    )
    return outbox.envelope(RELAYED, tenant_id=tenant_id, subject=candidate_id, data=payload)


async def write_events(
    client: AsyncMongoClient[dict[str, Any]], outbox: Outbox, tenant_id: str, count: int
) -> list[str]:
    ids: list[str] = []
    chunk = 500
    for start in range(0, count, chunk):
        envelopes = [
            candidate_event(outbox, tenant_id, n) for n in range(start, min(count, start + chunk))
        ]

        async def add_all(session: Session, batch: list[Any] = envelopes) -> None:
            for envelope in batch:
                await outbox.add(envelope, session=session)

        await in_transaction(client, add_all)
        ids.extend(str(envelope.id) for envelope in envelopes)
    return ids


async def event_ids_on_topic(bootstrap: str, tenant_id: str, expected: set[str]) -> list[str]:
    """Every event id of `tenant_id` on candidate.created, read from the beginning."""
    consumer = AIOKafkaConsumer(
        RELAYED.name,
        bootstrap_servers=bootstrap,
        group_id=unique("verify"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[str] = []
    try:

        async def all_seen() -> bool:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    assert record.value is not None
                    if f'"tenant_id":"{tenant_id}"' in record.value.decode():
                        seen.append(record_headers(record)["event-id"])
            return expected <= set(seen)

        await eventually(all_seen, timeout=60, message="not every event reached the topic")
        # Drain what is left so duplicates are counted too.
        while batches := await consumer.getmany(timeout_ms=1000):
            for records in batches.values():
                seen.extend(
                    record_headers(r)["event-id"]
                    for r in records
                    if r.value and f'"tenant_id":"{tenant_id}"' in r.value.decode()
                )
    finally:
        await consumer.stop()
    return seen


async def test_an_aborted_transaction_leaves_no_outbox_record(mongodb_uri: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[unique("outbox_abort")]
    outbox = Outbox(database, source="test")
    envelope = candidate_event(outbox, unique("tenant"), 1)

    async def write_then_fail(session: Session) -> None:
        await database["candidates"].insert_one({"_id": "cand-1"}, session=session)
        await outbox.add(envelope, session=session)
        raise RuntimeError("the entity write failed validation after all")

    with pytest.raises(RuntimeError):
        await in_transaction(client, write_then_fail)
    assert await database["outbox"].count_documents({}) == 0
    assert await database["candidates"].count_documents({}) == 0
    await client.close()


async def test_an_outbox_record_outside_a_transaction_is_refused(mongodb_uri: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    outbox = Outbox(client[unique("outbox_plain")], source="test")
    async with client.start_session() as session:
        with pytest.raises(RuntimeError, match="inside the entity's transaction"):
            await outbox.add(candidate_event(outbox, "t", 1), session=session)
    await client.close()


# In the fault tier (make test-faults): on the session's shared Python database, by then holding
# the whole session's data, draining its 3,000-event backlog took over 60 s when loaded, once
# past pytest's 300 s, and left the database too slow for the next test's transaction.
@pytest.mark.faults
async def test_a_relay_killed_mid_batch_loses_no_event_and_a_standby_replica_takes_over(
    kafka_bootstrap_servers: str, mongodb_uri: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database_name = unique("outbox_kill")
    database = client[database_name]
    outbox = Outbox(database, source="test")
    await outbox.ensure_indexes()
    tenant_id = unique("tenant")
    total = 3000
    written = await write_events(client, outbox, tenant_id, total)

    # The process's lease is taken in its name first, so the replica below stands by from the
    # start rather than racing the process for it.
    assert await NamedLease(
        database, OUTBOX_RELAY_LEASE, owner="relay-process", lease=timedelta(seconds=30)
    ).claim()
    broker = KafkaBroker(kafka_bootstrap_servers, enable_idempotence=True, acks="all")
    await broker.start()

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Any:
        return await broker.publish(value, topic, key=key, headers=headers, no_confirm=True)

    registry = CollectorRegistry()
    replica = OutboxRelay(
        outbox,
        publish,
        batch_size=100,
        poll_interval_seconds=0.05,
        lease=NamedLease(database, OUTBOX_RELAY_LEASE, owner="replica", lease=timedelta(seconds=2)),
        registry=registry,
    )
    replica.start()
    relay_process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(RELAY_PROCESS),
        kafka_bootstrap_servers,
        mongodb_uri,
        database_name,
        "100",
        "relay-process",
    )
    try:

        async def some_batches_sent() -> bool:
            return await database["outbox"].count_documents({"sent_at": {"$ne": None}}) >= 100

        await eventually(
            some_batches_sent,
            timeout=60,
            interval=0.005,
            message="the relay process published nothing",
        )
        relay_process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(relay_process.wait(), 10)
        sent_when_killed = await database["outbox"].count_documents({"sent_at": {"$ne": None}})
        assert 0 < sent_when_killed < total, "the relay was not killed in the middle of the work"
        assert replica.state is RelayState.STANDBY
        assert not registry.get_sample_value("crm_outbox_published_records_total"), (
            "the replica published beside the process that held the lease"
        )

        async def drained() -> bool:
            return await replica.pending() == 0

        # What is asserted is that no event is lost, not speed: the shared database server,
        # holding the whole session's data by now, drains this backlog in 15 s quiet and took
        # over 60 s once with the machine loaded.
        await eventually(
            drained, timeout=180, message="the standby replica did not take the outbox over"
        )
    finally:
        if relay_process.returncode is None:
            relay_process.kill()
            await relay_process.wait()
        await replica.stop()
        await broker.stop()

    delivered = await event_ids_on_topic(kafka_bootstrap_servers, tenant_id, set(written))
    assert set(delivered) == set(written)
    assert len(delivered) >= total
    # Stopped, the replica handed its lease on: the next relay need not wait for it to expire.
    assert await NamedLease(
        database, OUTBOX_RELAY_LEASE, owner="next", lease=timedelta(seconds=2)
    ).claim()
    await client.close()


async def test_the_relay_publishes_in_write_order_per_key(
    kafka_bootstrap_servers: str, mongodb_uri: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[unique("outbox_order")]
    outbox = Outbox(database, source="test")
    tenant_id = unique("tenant")
    envelopes = [
        outbox.envelope(
            RELAYED,
            tenant_id=tenant_id,
            subject="same-candidate",
            data=CandidateCreated(
                candidate_id="same-candidate",
                first_name="V",
                last_name=str(n),
                emails=["same@example.org"],
                source="sourced",
            ),
        )
        for n in range(50)
    ]
    for envelope in envelopes:

        async def add(session: Session, event: Any = envelope) -> None:
            await outbox.add(event, session=session)

        await in_transaction(client, add)

    # The services' producer, in batches of 7: a batch is sent while the one before is marked.
    producer = RecordProducer(kafka_bootstrap_servers, client_id="test")
    await producer.start()
    relay = OutboxRelay(outbox, producer.send, batch_size=7)
    while await relay.relay_batch():
        pass
    await producer.stop()
    delivered = await event_ids_on_topic(
        kafka_bootstrap_servers, tenant_id, {str(e.id) for e in envelopes}
    )
    assert delivered == [str(e.id) for e in envelopes]
    assert await outbox.records.count_documents({"published": False}) == 0
    await client.close()


async def records_on_topic(bootstrap: str, tenant_id: str, count: int) -> list[ConsumerRecord]:
    """The first `count` records of `tenant_id` on the relayed topic, read from the beginning."""
    consumer = AIOKafkaConsumer(
        RELAYED.name,
        bootstrap_servers=bootstrap,
        group_id=unique("verify"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[ConsumerRecord] = []
    tenant = f'"tenant_id":"{tenant_id}"'
    try:

        async def all_found() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found.extend(r for r in records if r.value and tenant in r.value.decode())
            return len(found) >= count

        await eventually(all_found, timeout=60, message="not every record reached the topic")
    finally:
        await consumer.stop()
    return found


async def test_a_relayed_record_carries_its_event_id_and_continues_its_writers_trace(
    kafka_bootstrap_servers: str, mongodb_uri: str, span_exporter: InMemorySpanExporter
) -> None:
    """Three requests write an event each, and a batch job four in one transaction: on the
    topic, each record names its event and continues its writer's trace through one PRODUCER
    span per trace (not per record), which a consumer's span then continues."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    outbox = Outbox(client[unique("outbox_traced")], source="test")
    tenant_id = unique("tenant")
    tracer = trace.get_tracer(__name__)
    writers: dict[str, int] = {}  # event id -> the span id of the write it belongs to

    async def write(numbers: range, name: str) -> None:
        with tracer.start_as_current_span(name) as span:
            events = [candidate_event(outbox, tenant_id, n) for n in numbers]

            async def add_all(session: Session) -> None:
                await outbox.add_many(events, session=session)

            await in_transaction(client, add_all)
        writers.update((str(event.id), span.get_span_context().span_id) for event in events)

    for number in range(3):
        await write(range(number, number + 1), "POST /candidates")
    await write(range(3, 7), "import batch")

    producer = RecordProducer(kafka_bootstrap_servers, client_id="test")
    await producer.start()
    relay = OutboxRelay(outbox, producer.send, batch_size=5)
    while await relay.relay_batch():
        pass
    await producer.stop()

    records = await records_on_topic(kafka_bootstrap_servers, tenant_id, len(writers))
    spans = {
        span.context.span_id: span
        for span in span_exporter.get_finished_spans()
        if span.context is not None
    }
    producer_spans: set[int] = set()
    for record in records:
        headers = record_headers(record)
        assert headers["content-type"] == "application/json"
        assert headers["event-id"] in writers
        assert json.loads(record.value or b"{}")["id"] == headers["event-id"]
        parent = trace.get_current_span(propagate.extract(headers)).get_span_context()
        publish = spans[parent.span_id]
        assert publish.kind is SpanKind.PRODUCER
        assert publish.name == f"{RELAYED.name} publish"
        assert publish.parent is not None
        assert publish.parent.span_id == writers[headers["event-id"]]
        producer_spans.add(parent.span_id)
    # The four events of the batch job went out in two relay batches (5 records each): a span
    # for each batch they were in, within the job's one trace.
    assert len(producer_spans) == 5, "one PRODUCER span per writer's trace and relay batch"
    await client.close()


async def test_a_record_another_replica_wrote_is_relayed_without_waiting_for_a_poll(
    kafka_bootstrap_servers: str, mongodb_uri: str
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[unique("outbox_watch")]
    # Two replicas' outboxes on one database: a commit wakes only its own replica's relay.
    relaying, writing = Outbox(database, source="test"), Outbox(database, source="test")
    await relaying.ensure_indexes()
    broker = KafkaBroker(kafka_bootstrap_servers, enable_idempotence=True, acks="all")
    await broker.start()

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Any:
        return await broker.publish(value, topic, key=key, headers=headers, no_confirm=True)

    relay = OutboxRelay(relaying, publish, poll_interval_seconds=600, registry=CollectorRegistry())
    relay.start()
    try:

        async def watching() -> bool:
            return relay.watching and relay.state is RelayState.IDLE

        await eventually(watching, timeout=30, message="the relay never watched its outbox")
        written = await write_events(client, writing, unique("tenant"), 5)

        async def relayed() -> bool:
            return await relay.pending() == 0

        await eventually(
            relayed, timeout=15, message="the records waited for the relay's next poll"
        )
    finally:
        await relay.stop()
        await broker.stop()
    assert len(written) == 5
    await client.close()

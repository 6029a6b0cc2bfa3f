"""The first flow on the real broker and database: a candidate created through the gateway is
counted by analytics once, even when its event is delivered twice, all in one trace."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from faststream.kafka import KafkaBroker
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pymongo import AsyncMongoClient

from crm_shared import CANDIDATE_CREATED
from helpers import eventually
from integration.flow.conftest import ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration

ADA = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "emails": ["Ada.Lovelace@Example.org"],
    "skills": ["Python", " python ", "Analytical  Engines"],
    "location": "London",
}


async def analytics_count(stack: Stack, token: str) -> int:
    response = await stack.gateway.get("/api/v1/analytics/summary", headers=stack.as_(token))
    assert response.status_code == 200, response.text
    return int(response.json()["candidates"])


async def committed_offset(bootstrap: str, group: str, partition: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    metadata = offsets.get(partition)
    return metadata.offset if metadata is not None else -1


async def test_a_created_candidate_is_counted_once_in_one_trace(
    stack: Stack,
    kafka_bootstrap_servers: str,
    mongodb_uri: str,
    span_exporter: InMemorySpanExporter,
) -> None:
    # The exporter is the session's: forget the spans of the modules that ran before.
    span_exporter.clear()
    created = await stack.gateway.post(
        "/api/v1/candidates", json=ADA, headers=stack.as_(ACME_TOKEN)
    )
    assert created.status_code == 201, created.text
    candidate = created.json()
    assert candidate["emails"] == ["ada.lovelace@example.org"]
    assert candidate["skills"] == ["python", "analytical engines"]
    assert created.headers["location"] == f"/api/v1/candidates/{candidate['id']}"

    async def counted_once() -> bool:
        return await analytics_count(stack, ACME_TOKEN) == 1

    await eventually(counted_once, timeout=30, message="analytics did not count the candidate")
    assert await analytics_count(stack, GLOBEX_TOKEN) == 0

    # Deliver the very same event a second time, as a relay retry or a replay would.
    # The candidate's other events (e.g. segment changes) share its key: take its creation.
    # The relay marks a record sent after the broker's ack, which can come after analytics
    # already counted the event: wait for the mark.
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    outbox = mongo[stack.candidates_database]["outbox"]
    created_event = {"key": candidate["id"], "topic": CANDIDATE_CREATED.name}

    async def marked_sent() -> bool:
        found = await outbox.find_one(created_event)
        return found is not None and found["sent_at"] is not None

    await eventually(marked_sent, timeout=30, message="the relay did not mark the event sent")
    record = await outbox.find_one(created_event)
    await mongo.close()
    assert record is not None
    producer = KafkaBroker(kafka_bootstrap_servers)
    await producer.start()
    metadata = await producer.publish(
        record["value"].encode(),
        CANDIDATE_CREATED.name,
        key=record["key"].encode(),
        headers={"event-id": record["event_id"]},
    )
    await producer.stop()
    replayed = TopicPartition(metadata.topic, metadata.partition)

    async def replay_processed() -> bool:
        group = f"{stack.analytics_settings.consumer_group}.on_candidate_created"
        committed = await committed_offset(kafka_bootstrap_servers, group, replayed)
        return committed > int(metadata.offset)

    await eventually(replay_processed, timeout=30, message="analytics did not consume the replay")
    assert await analytics_count(stack, ACME_TOKEN) == 1

    spans = span_exporter.get_finished_spans()
    [create_span] = [
        s
        for s in spans
        if s.kind is SpanKind.SERVER
        and s.name == "POST /candidates"
        and s.attributes is not None
        and s.context is not None
    ]
    assert create_span.context is not None
    trace_id = create_span.context.trace_id
    in_trace = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]
    kinds = {(s.kind, s.name) for s in in_trace}
    assert any(k is SpanKind.SERVER and "/api/v1/" in n for k, n in kinds), kinds
    assert any(k is SpanKind.PRODUCER and CANDIDATE_CREATED.name in n for k, n in kinds), kinds
    assert any(k is SpanKind.CONSUMER and CANDIDATE_CREATED.name in n for k, n in kinds), kinds
    # MongoDB spans of both services: the candidate's insert and analytics' counter update.
    assert (SpanKind.CLIENT, f"{stack.candidates_database}.insert") in kinds, kinds
    analytics_database = stack.analytics_settings.database_name
    assert (SpanKind.CLIENT, f"{analytics_database}.update") in kinds, kinds

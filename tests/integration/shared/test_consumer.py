"""The idempotent consumer on a real broker: one effect per event, dead letters, nothing lost."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker, KafkaRouter
from prometheus_client import CollectorRegistry
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from crm_shared import (
    CandidateCreated,
    EventEnvelope,
    IdempotentConsumer,
    Session,
    TopicSpec,
    UndecodableEventError,
)
from helpers import eventually, record_headers, unique

pytestmark = pytest.mark.integration


@dataclass
class Harness:
    """One consumer group on its own topic, with a handler whose effects are recorded in MongoDB."""

    bootstrap: str
    client: AsyncMongoClient[dict[str, Any]]
    spec: TopicSpec
    group_id: str
    database_name: str
    failing_subjects: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    broker: KafkaBroker | None = None

    @property
    def effects(self) -> AsyncCollection[dict[str, Any]]:
        return self.client[self.database_name]["effects"]

    async def start(self, *, block_subject: asyncio.Event | None = None) -> None:
        broker = KafkaBroker(self.bootstrap, enable_idempotence=True, acks="all")
        consumer = IdempotentConsumer(
            client=self.client,
            database=self.client[self.database_name],
            broker=broker,
            group_id=self.group_id,
            max_attempts=3,
            retry_backoff_seconds=0.01,
            registry=CollectorRegistry(),
        )
        router = KafkaRouter()

        async def on_test_event(envelope: EventEnvelope[Any], session: Session) -> None:
            self.calls.append(envelope.subject)
            if envelope.subject in self.failing_subjects:
                raise RuntimeError(f"cannot handle {envelope.subject}")
            if envelope.subject == "unusable":
                raise UndecodableEventError("names a record that does not exist")
            if envelope.subject == "conflicting":
                # The handler's own write hits a unique index: a failure, not a redelivery.
                await self.effects.insert_one({"_id": "taken"}, session=session)
                await self.effects.insert_one({"_id": "taken"}, session=session)
            if block_subject is not None and envelope.subject == "blocking":
                await block_subject.wait()
            await self.effects.insert_one(
                {"subject": envelope.subject, "event_id": str(envelope.id)}, session=session
            )

        consumer.subscribe(
            router, self.spec, on_test_event, group="on_test_event", description="test handler"
        )
        broker.include_router(router)
        await broker.start()
        self.broker = broker

    async def stop(self) -> None:
        if self.broker is not None:
            await self.broker.stop()
            self.broker = None

    async def effect_count(self, subject: str) -> int:
        return await self.effects.count_documents({"subject": subject})


@pytest.fixture
async def harness(kafka_bootstrap_servers: str, mongodb_uri: str) -> AsyncIterator[Harness]:
    name = unique("test").replace("_", "") + ".handled"
    spec = TopicSpec(
        name=name,
        payload=CandidateCreated,
        schema_version=1,
        key="subject",
        partitions=1,
        description="test topic",
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    await admin.create_topics([NewTopic(spec.name, 1, 1), NewTopic(spec.dead_letter_topic, 1, 1)])
    await admin.close()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    harness = Harness(kafka_bootstrap_servers, client, spec, unique("group"), unique("consumer_db"))
    yield harness
    await harness.stop()
    await client.close()


def event(spec: TopicSpec, subject: str) -> EventEnvelope[Any]:
    return EventEnvelope[Any](
        type=spec.name,
        source="test",
        tenant_id="acme",
        subject=subject,
        schema_version=1,
        data=CandidateCreated(
            candidate_id=subject,
            first_name="A",
            last_name="B",
            emails=[f"{subject}@example.org"],
            source="sourced",
        ),
    )


async def publish(bootstrap: str, topic: str, value: bytes, key: str, **headers: str) -> None:
    producer = KafkaBroker(bootstrap)
    await producer.start()
    await producer.publish(value, topic, key=key.encode(), headers=headers or None)
    await producer.stop()


async def dead_letters(bootstrap: str, topic: str, count: int) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=unique("dlq"), auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[Any] = []
    try:

        async def enough() -> bool:
            for batch in (await consumer.getmany(timeout_ms=300)).values():
                records.extend(batch)
            return len(records) >= count

        await eventually(enough, timeout=30, message=f"expected {count} dead letters")
    finally:
        await consumer.stop()
    return records


async def test_a_real_duplicate_delivery_has_one_effect(harness: Harness) -> None:
    await harness.start()
    duplicate = event(harness.spec, "dup").model_dump_json().encode()
    await publish(harness.bootstrap, harness.spec.name, duplicate, "dup")
    await publish(harness.bootstrap, harness.spec.name, duplicate, "dup")
    await publish(
        harness.bootstrap,
        harness.spec.name,
        event(harness.spec, "after").model_dump_json().encode(),
        "after",
    )

    async def both_delivered() -> bool:
        return harness.calls.count("dup") == 1 and await harness.effect_count("after") == 1

    await eventually(both_delivered, message="events were not consumed")
    assert await harness.effect_count("dup") == 1


async def test_a_poison_message_is_dead_lettered_and_does_not_block_its_partition(
    harness: Harness,
) -> None:
    await harness.start()
    await publish(
        harness.bootstrap, harness.spec.name, b'{"not": "an event"', "k", origin="test-suite"
    )
    await publish(
        harness.bootstrap,
        harness.spec.name,
        event(harness.spec, "good").model_dump_json().encode(),
        "k",
    )

    async def good_processed() -> bool:
        return await harness.effect_count("good") == 1

    await eventually(good_processed, message="the message behind the poison was not processed")
    [letter] = await dead_letters(harness.bootstrap, harness.spec.dead_letter_topic, 1)
    headers = record_headers(letter)
    assert letter.value == b'{"not": "an event"'
    assert letter.key == b"k"
    assert headers["origin"] == "test-suite"
    assert headers["x-dlq-error-type"] == "UndecodableEventError"
    assert headers["x-dlq-original-topic"] == harness.spec.name
    assert headers["x-dlq-attempts"] == "0"
    assert headers["x-dlq-consumer-group"] == f"{harness.group_id}.on_test_event"


async def test_a_failing_handler_is_retried_then_dead_lettered(harness: Harness) -> None:
    harness.failing_subjects.add("broken")
    await harness.start()
    await publish(
        harness.bootstrap,
        harness.spec.name,
        event(harness.spec, "broken").model_dump_json().encode(),
        "broken",
    )
    await publish(
        harness.bootstrap,
        harness.spec.name,
        event(harness.spec, "fine").model_dump_json().encode(),
        "fine",
    )

    async def fine_processed() -> bool:
        return await harness.effect_count("fine") == 1

    await eventually(fine_processed, message="the next message was not processed")
    assert harness.calls.count("broken") == 3
    assert await harness.effect_count("broken") == 0
    [letter] = await dead_letters(harness.bootstrap, harness.spec.dead_letter_topic, 1)
    headers = record_headers(letter)
    assert headers["x-dlq-attempts"] == "3"
    assert headers["x-dlq-error"] == "cannot handle broken"
    assert json.loads(letter.value)["subject"] == "broken"


async def test_a_message_the_handler_finds_unusable_is_dead_lettered_without_retries(
    harness: Harness,
) -> None:
    await harness.start()
    unusable = event(harness.spec, "unusable").model_dump_json().encode()
    await publish(harness.bootstrap, harness.spec.name, unusable, "unusable")
    [letter] = await dead_letters(harness.bootstrap, harness.spec.dead_letter_topic, 1)
    headers = record_headers(letter)
    assert headers["x-dlq-error-type"] == "UndecodableEventError"
    assert headers["x-dlq-attempts"] == "1"
    assert harness.calls.count("unusable") == 1


async def test_a_duplicate_key_in_the_handler_is_a_failure_not_a_redelivery(
    harness: Harness,
) -> None:
    await harness.start()
    conflicting = event(harness.spec, "conflicting").model_dump_json().encode()
    await publish(harness.bootstrap, harness.spec.name, conflicting, "conflicting")
    [letter] = await dead_letters(harness.bootstrap, harness.spec.dead_letter_topic, 1)
    assert record_headers(letter)["x-dlq-error-type"] == "DuplicateKeyError"
    assert harness.calls.count("conflicting") == 3


async def test_a_message_whose_processing_was_interrupted_is_delivered_again(
    harness: Harness,
) -> None:
    never = asyncio.Event()
    await harness.start(block_subject=never)
    await publish(
        harness.bootstrap,
        harness.spec.name,
        event(harness.spec, "blocking").model_dump_json().encode(),
        "blocking",
    )

    async def handler_running() -> bool:
        return "blocking" in harness.calls

    await eventually(handler_running, message="the handler never started")
    # The process dies mid-handler: with commit-after-processing the offset was never committed.
    await harness.stop()
    assert await harness.effect_count("blocking") == 0

    harness.calls.clear()
    await harness.start()

    async def redelivered_and_applied() -> bool:
        return await harness.effect_count("blocking") == 1

    await eventually(redelivered_and_applied, message="the interrupted message was lost")
    assert harness.calls == ["blocking"]

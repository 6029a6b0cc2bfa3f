"""Fault: a consumer (analytics) SIGKILLed twice while it consumes a stream of events.

300 `candidate.created` events of one tenant are published one every 100 ms, every tenth of them
twice (as a producer retry or a relay restarted after a crash publishes it). analytics runs as
a uvicorn process and counts each candidate once through the idempotent consumer (the counter
update and the event's processed marker commit in one transaction). It is SIGKILLed after it
counted 100 and after 200, and started again each time; Kafka redelivers what it had not
committed. Afterwards, exactly: the tenant's `candidates_created` counter is 300, and stays
300; there are 300 processed markers; and nothing of the tenant was dead-lettered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.metrics import TenantMetric
from crm_shared import CANDIDATE_CREATED, CandidateCreated, EventEnvelope, create_mongo_client
from faults.conftest import MongoFactory
from faults.support import ServiceProcess, read_to_end, service_env, wait_until
from helpers import unique

pytestmark = pytest.mark.faults

EVENTS = 300
KILL_AFTER = (100, 200)
# Slow enough that the stream is still flowing at the second kill: the consumer applies what
# it finds waiting as one batch, so a restart that took longer than the rest of the stream
# would catch up at once and the second kill would come after the end.
PUBLISH_INTERVAL_SECONDS = 0.1


async def publish_steadily(bootstrap: str, tenant: str) -> int:
    """Publishes EVENTS candidate.created events of `tenant`, every tenth twice; returns how
    many messages were sent."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent = 0
    try:
        for number in range(EVENTS):
            candidate_id = f"cand-{number}"
            envelope = EventEnvelope[Any](
                id=uuid.uuid4(),
                type=CANDIDATE_CREATED.name,
                source="tests",
                tenant_id=tenant,
                subject=candidate_id,
                schema_version=CANDIDATE_CREATED.schema_version,
                data=CandidateCreated(
                    candidate_id=candidate_id,
                    first_name="Ada",
                    last_name=str(number),
                    emails=[f"{candidate_id}@example.org"],
                    source="sourced",
                ),
            )
            for _ in range(2 if number % 10 == 0 else 1):
                await producer.send_and_wait(
                    CANDIDATE_CREATED.name,
                    envelope.model_dump_json().encode(),
                    key=candidate_id.encode(),
                )
                sent += 1
            await asyncio.sleep(PUBLISH_INTERVAL_SECONDS)
    finally:
        await producer.stop()
    return sent


async def test_analytics_killed_while_consuming_counts_every_event_exactly_once(
    tmp_path: Path, kafka_bootstrap_servers: str, own_mongodb: MongoFactory
) -> None:
    mongodb = await own_mongodb()
    database_name = unique("analytics")
    tenant = unique("tenant")
    analytics = ServiceProcess(
        "analytics",
        tmp_path,
        service_env(
            "analytics",
            kafka=kafka_bootstrap_servers,
            mongodb_uri=mongodb.mongodb_uri,
            database=database_name,
        ),
    )
    mongo = create_mongo_client(AnalyticsSettings(mongodb_uri=mongodb.mongodb_uri))
    database = mongo[database_name]

    async def counted() -> int:
        counter = await database["tenant_counters"].find_one(
            {"tenant_id": tenant, "metric": TenantMetric.CANDIDATES_CREATED.value}
        )
        return 0 if counter is None else int(counter["value"])

    began = time.monotonic()
    try:
        await analytics.start()
        publishing = asyncio.create_task(publish_steadily(kafka_bootstrap_servers, tenant))
        for kill_after in KILL_AFTER:

            async def reached(n: int = kill_after) -> bool:
                return await counted() >= n

            await wait_until(
                reached, 90, f"{kill_after} events counted", analytics.process.log_tail
            )
            analytics.kill()
            at_kill = await counted()
            assert at_kill < EVENTS
            print(f"killed at {at_kill} counted, {time.monotonic() - began:.1f}s")
            await analytics.start()
        sent = await asyncio.wait_for(publishing, 60)

        async def all_counted() -> bool:
            return await counted() >= EVENTS

        await wait_until(all_counted, 90, f"{EVENTS} events counted", analytics.process.log_tail)
        # Quiet for a while: a redelivered event counted twice would show up here.
        await asyncio.sleep(3)
        markers = await database["processed_events"].count_documents(
            {"tenant_id": tenant, "_id": {"$regex": "^on_candidate_created:"}}
        )
        dead = await read_to_end(
            kafka_bootstrap_servers,
            CANDIDATE_CREATED.dead_letter_topic,
            lambda envelope, _: envelope.get("tenant_id") == tenant,
        )
        print(
            f"events {EVENTS}, messages {sent}, counted {await counted()}, markers {markers}, "
            f"dead-lettered {len(dead)}, {time.monotonic() - began:.1f}s"
        )
        assert sent == EVENTS + EVENTS // 10
        assert await counted() == EVENTS
        assert markers == EVENTS
        assert dead == []
    finally:
        analytics.stop()
        await mongo.close()

"""Runs an idempotent batch consumer as its own process, so a test can kill it with SIGKILL in
the middle of a batch's transaction.

Each batch inserts one effect per event and adds the batch's size to a counter, then lingers in
its transaction; before it starts, it appends a line to PROGRESS_FILE, so the test can kill the
process while a batch is open.

usage: python consumer_process.py BOOTSTRAP MONGODB_URI DATABASE TOPIC GROUP PROGRESS_FILE
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker, KafkaRouter
from prometheus_client import CollectorRegistry

from crm_shared import (
    BatchLimits,
    CandidateCreated,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    MongoClient,
    Session,
    TopicSpec,
    create_mongo_client,
)
from crm_shared.settings import ServiceSettings

BATCH = BatchLimits(max_records=50, timeout_ms=50)
SUBSCRIPTION = "on_killed_topic"


def topic(name: str) -> TopicSpec:
    return TopicSpec(
        name=name,
        payload=CandidateCreated,
        schema_version=1,
        key="subject",
        partitions=3,
        description="kill test topic",
    )


def counting_consumer(
    client: MongoClient,
    database: Database,
    broker: KafkaBroker,
    spec: TopicSpec,
    group: str,
    progress: Path | None = None,
    linger_seconds: float = 0.0,
) -> KafkaRouter:
    """A router whose batch handler records each event's effect and counts the events."""
    consumer = IdempotentConsumer(
        client=client,
        database=database,
        broker=broker,
        group_id=group,
        retry_backoff_seconds=0.01,
        batch=BATCH,
        registry=CollectorRegistry(),
    )
    router = KafkaRouter()

    async def on_batch(envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        if progress is not None:
            with progress.open("a") as lines:
                lines.write(f"batch of {len(envelopes)}\n")
        await database["effects"].insert_many(
            [{"subject": e.subject, "event_id": str(e.id)} for e in envelopes], session=session
        )
        await database["counters"].update_one(
            {"_id": "events"}, {"$inc": {"value": len(envelopes)}}, upsert=True, session=session
        )
        await asyncio.sleep(linger_seconds)  # the window the test kills the process in

    consumer.subscribe_batch(
        router, spec, on_batch, group=SUBSCRIPTION, description="counts the kill test's events"
    )
    return router


async def consume_forever(
    bootstrap: str, mongodb_uri: str, database: str, topic_name: str, group: str, progress: str
) -> None:
    settings = ServiceSettings(service_name="consumer-under-test", mongodb_uri=mongodb_uri)
    client = create_mongo_client(settings)
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    broker.include_router(
        counting_consumer(
            client,
            client[database],
            broker,
            topic(topic_name),
            group,
            progress=Path(progress),
            linger_seconds=0.3,
        )
    )
    await broker.start()
    print("consumer started", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(consume_forever(*sys.argv[1:7]))

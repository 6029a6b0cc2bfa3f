"""6. Engagement ingestion: message.opened into analytics, against bare aiokafka on the topic."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from pymongo import AsyncMongoClient

from bench.consumer import bare_consume, produce, steady_rate
from bench.report import Figure
from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app
from crm_shared import MESSAGE_OPENED, EventEnvelope, MessageOpened, generate_internal_key_pair

KEYS = generate_internal_key_pair()


async def run(bootstrap: str, mongodb_uri: str, count: int) -> list[Figure]:
    run_id = f"bench{uuid.uuid4().hex[:8]}"
    pairs = []
    for number in range(count):
        candidate_id = f"c{number % max(1, count // 4):08d}"
        envelope = EventEnvelope[Any](
            type=MESSAGE_OPENED.name,
            source="bench",
            tenant_id=run_id,
            subject=candidate_id,
            schema_version=1,
            data=MessageOpened(message_id=f"m{number:08d}", candidate_id=candidate_id),
        )
        pairs.append((candidate_id.encode(), envelope.model_dump_json().encode()))
    await produce(bootstrap, MESSAGE_OPENED.name, pairs)
    # The topic may hold earlier runs' events too: both sides read all of it from the start.
    bare = await bare_consume(bootstrap, MESSAGE_OPENED.name, count)

    settings = AnalyticsSettings(
        kafka_bootstrap_servers=bootstrap,
        mongodb_uri=mongodb_uri,
        mongodb_database=run_id,
        kafka_group_prefix=run_id,
        environment="development",
        internal_token_public_key=KEYS.public_pem,
        log_json=False,
        log_level="WARNING",
    )
    app = create_app(settings)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    counters = client[run_id]["tenant_counters"]
    first = 0.0
    first_counted = 0
    async with app.router.lifespan_context(app):
        # Polled, so the rate is measured from the first counted event (start-up excluded).
        while True:
            document = await counters.find_one({"tenant_id": run_id, "metric": "messages_opened"})
            counted = 0 if document is None else int(document["value"])
            if counted and not first:
                first, first_counted = time.perf_counter(), counted
            if counted >= count:
                break
            await asyncio.sleep(0.02)
    ours = steady_rate(count - first_counted + 1, first, time.perf_counter())
    await client.close()
    return [
        Figure(
            "engagement ingestion",
            f"{count:,} message.opened into analytics",
            ours,
            "events/s",
            baseline=bare,
            baseline_name="bare aiokafka",
            note="ours: dedupe + unique-open count + counter + engagement score and its "
            "engagement.scored in the outbox, one transaction each",
        )
    ]

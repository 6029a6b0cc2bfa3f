"""6. Engagement ingestion: message.opened into analytics, against bare aiokafka on the topic,
and against bare aiokafka plus hand-written bulk writes of the same effects per fetched batch
(counted keys, counters, daily counts, contributions, scores, engagement.scored records), with
no framework, no transaction and no processed-event markers.

Timed as in bench/consumer.py: each side from its group's assignment to its last open applied.
Of analytics' three groups on message.opened, the scores' group is timed (see `run`)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from bench.consumer import (
    BatchTiming,
    GroupJoins,
    bare_batch_rate,
    bare_consume,
    produce,
    records_on,
    warm_up,
)
from bench.report import Figure
from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app
from crm_shared import MESSAGE_OPENED, EventEnvelope, MessageOpened, generate_internal_key_pair

KEYS = generate_internal_key_pair()
SCORES_GROUP = "on_message_opened"  # the activity recorder's group: counts, contributions, scores


async def bare_bulk_ingest(
    bootstrap: str, mongodb_uri: str, topic: str, count: int, joins: GroupJoins
) -> float:
    """Bare aiokafka plus the analytics effects of each fetched batch, written by hand in bulk."""
    return await bare_batch_rate(
        bootstrap, mongodb_uri, topic, count, analytics_effects, joins, COLLECTIONS
    )


COLLECTIONS = [
    "counted_keys",
    "tenant_counters",
    "daily_counts",
    "contributions",
    "scores",
    "outbox",
]


async def analytics_effects(
    database: AsyncDatabase[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    """What analytics writes for a batch of opens: counted keys, counters, daily counts,
    contributions, scores and their engagement.scored records."""
    keys = [(e["tenant_id"], e["data"]["message_id"]) for e in events]
    known = {
        (d["tenant_id"], d["key"])
        async for d in database["counted_keys"].find({"key": {"$in": [key for _, key in keys]}})
    }
    new = [e for e, key in zip(events, keys, strict=True) if key not in known]
    if not new:
        return
    await database["counted_keys"].insert_many(
        [{"tenant_id": e["tenant_id"], "key": e["data"]["message_id"]} for e in new]
    )
    totals = Counter(e["tenant_id"] for e in new)
    days = Counter((e["tenant_id"], e["time"][:10]) for e in new)
    await database["tenant_counters"].bulk_write(
        [UpdateOne({"_id": t}, {"$inc": {"value": n}}, upsert=True) for t, n in totals.items()]
    )
    await database["daily_counts"].bulk_write(
        [
            UpdateOne({"_id": f"{t}:{day}"}, {"$inc": {"value": n}}, upsert=True)
            for (t, day), n in days.items()
        ]
    )
    candidates = sorted({e["data"]["candidate_id"] for e in new})
    earlier = await database["contributions"].find({"candidate_id": {"$in": candidates}}).to_list()
    await database["contributions"].insert_many(
        [
            {
                "tenant_id": e["tenant_id"],
                "candidate_id": e["data"]["candidate_id"],
                "reference": e["data"]["message_id"],
                "occurred_at": e["time"],
            }
            for e in new
        ]
    )
    per_candidate = Counter(d["candidate_id"] for d in earlier) + Counter(
        e["data"]["candidate_id"] for e in new
    )
    await database["scores"].bulk_write(
        [
            UpdateOne({"_id": c}, {"$set": {"score": float(n)}}, upsert=True)
            for c, n in per_candidate.items()
        ]
    )
    await database["outbox"].insert_many(
        [{"topic": "engagement.scored", "key": c, "score": n} for c, n in per_candidate.items()]
    )


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
    # The topic may hold earlier runs' events too: every side reads all of it from the start,
    # and is timed until it has applied all of it.
    total = await records_on(bootstrap, MESSAGE_OPENED.name)
    if total < count:
        raise RuntimeError(f"{MESSAGE_OPENED.name} holds {total} records, {count} were written")
    with GroupJoins().watching() as joins:
        # Untimed: the broker's first group on the topic, and the process's first FastStream
        # subscriber (if the consumer benchmark did not run first), warm up.
        await bare_consume(bootstrap, MESSAGE_OPENED.name, total, joins)
        await warm_up(bootstrap, mongodb_uri, joins)
        bare = await bare_consume(bootstrap, MESSAGE_OPENED.name, total, joins)
        bare_bulk = await bare_bulk_ingest(
            bootstrap, mongodb_uri, MESSAGE_OPENED.name, total, joins
        )

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
        # Three groups of the service read message.opened (activity and scores, message
        # reports, journeys). The scores' group alone is timed: its effects are the ones the
        # bulk baseline writes, and the groups join seconds apart while the service starts,
        # so a span over all three would time that start-up. The others run beside it (the
        # note gives their spans).
        timing = BatchTiming(
            app.state.platform.require_consumer(),
            MESSAGE_OPENED.name,
            joins,
            measured=[SCORES_GROUP],
        )
        async with app.router.lifespan_context(app):
            ours = await timing.rate(total)
            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
            counters = client[run_id]["tenant_counters"]
            while True:
                document = await counters.find_one(
                    {"tenant_id": run_id, "metric": "messages_opened"}
                )
                if document is not None and int(document["value"]) >= count:
                    break
                await asyncio.sleep(0.02)
    await client.close()
    earlier = f" (and {total - count:,} of earlier runs)" if total > count else ""
    note = (
        f"every side from its group's assignment to the last of {total:,} opens{earlier} "
        f"applied; ours: the analytics service's {SCORES_GROUP} group timed alone, the "
        "others beside it; batches of <= 500 in one transaction each (dedupe + unique-open "
        "counts + counters + engagement scores folded per batch, bulk writes, "
        f"engagement.scored staged once per candidate and batch); {timing.describe()}"
    )
    return [
        Figure(
            "engagement ingestion",
            f"{count:,} message.opened into analytics",
            ours,
            "events/s",
            baseline=bare,
            baseline_name="bare aiokafka",
            note=note,
        ),
        Figure(
            "engagement ingestion",
            f"{count:,} message.opened, against bulk writes",
            ours,
            "events/s",
            baseline=bare_bulk,
            baseline_name="bare aiokafka + the same effects in bulk per batch",
            note="raw: no framework, no transaction, no processed markers",
        ),
    ]

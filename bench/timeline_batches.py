"""The candidates service's timeline subscriber, per-event form against batch form.

Drives `IdempotentConsumer.process_batch` directly (no broker: the broker's share is measured by
benchmark 1) with batches of 500 `message.sent` about 500 known candidates, alternating the two
forms of the same use case (`CandidateFacts.timeline_events` given one event at a time, or the
whole batch), each on a fresh database:

    uv run python -m bench.timeline_batches --mongodb-uri URI [--batches 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry

from crm_candidates.application.consents import ConfirmationPolicy
from crm_candidates.application.facts import CandidateFacts
from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.models import Candidate, CandidateSource
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.indexes import ensure_indexes
from crm_shared import (
    MESSAGE_SENT,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    MessageSent,
    MongoClient,
    Outbox,
    Session,
    SignedLinks,
    create_mongo_client,
    in_transaction,
)
from crm_shared.consumer import DeliveredRecord, _batched, _per_event, _Subscription

BATCH = 500


def sent(candidate_id: str, message_id: str) -> bytes:
    return (
        EventEnvelope[MessageSent](
            type=MESSAGE_SENT.name,
            source="campaigns",
            tenant_id="bench",
            subject=message_id,
            schema_version=MESSAGE_SENT.schema_version,
            data=MessageSent(
                message_id=message_id, candidate_id=candidate_id, template_id="t", subject="Hi"
            ),
        )
        .model_dump_json()
        .encode()
    )


def candidate_facts_consumer(
    mongo: MongoClient, database: Database
) -> tuple[CandidateFacts, IdempotentConsumer]:
    """The candidates service's fact handlers and a consumer whose `process_batch` the drivers
    call directly (its broker is never started)."""
    facts = CandidateFacts(
        mongo,
        database,
        Outbox(database, "candidates"),
        SignedLinks("bench-secret-of-at-least-thirty-two-characters"),
        ConfirmationPolicy("http://bench", max_per_address=3, window=timedelta(days=1)),
    )
    consumer = IdempotentConsumer(
        client=mongo,
        database=database,
        broker=KafkaBroker("127.0.0.1:9"),
        group_id="bench",
        registry=CollectorRegistry(),
    )
    return facts, consumer


def compare_forms(
    rate: Callable[[str, str, int], Awaitable[float]], mongodb_uri: str, batches: int, rounds: int
) -> None:
    """Runs `rate` for the per-event and the batch form in turn, `rounds` times, and prints."""

    async def alternate() -> None:
        for _ in range(rounds):
            for form in ("per-event", "batch"):
                print(
                    f"{form:9} {await rate(mongodb_uri, form, batches):8,.0f} events/s", flush=True
                )

    asyncio.run(alternate())


async def rate(mongodb_uri: str, form: str, batches: int) -> float:
    """Events a second the timeline subscriber applies in `form` (per-event or batch)."""
    settings = CandidatesSettings(
        mongodb_uri=mongodb_uri, mongodb_database=f"bench_timeline_{uuid.uuid4().hex[:8]}"
    )
    mongo = create_mongo_client(settings)
    database = mongo[settings.mongodb_database]
    await ensure_indexes(database)
    people = [
        Candidate(
            tenant_id="bench",
            first_name="Ada",
            last_name=f"Lovelace {n}",
            emails=[f"ada{n}@example.org"],
            source=CandidateSource.SOURCED,
            created_by="bench",
        )
        for n in range(BATCH)
    ]

    async def add(session: Session) -> None:
        await CandidateRepository(database, "bench").add_many(people, session=session)

    await in_transaction(mongo, add)
    facts, consumer = candidate_facts_consumer(mongo, database)

    async def one_at_a_time(envelope: EventEnvelope[Any], session: Session) -> None:
        await facts.timeline_events([envelope], session)

    async def whole(envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        await facts.timeline_events(envelopes, session)

    apply = _batched(whole) if form == "batch" else _per_event(one_at_a_time)
    subscription = _Subscription(MESSAGE_SENT, "on_message_sent", apply, BATCH)
    started = time.perf_counter()
    for batch in range(batches):
        records = [
            DeliveredRecord(
                MESSAGE_SENT.name, 0, batch * BATCH + n, None, sent(p.id, f"m{batch}-{n}"), {}
            )
            for n, p in enumerate(people)
        ]
        await consumer.process_batch(subscription, records)
    elapsed = time.perf_counter() - started
    await mongo.drop_database(settings.mongodb_database)
    await mongo.close()
    return batches * BATCH / elapsed


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mongodb-uri", required=True)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    compare_forms(rate, arguments.mongodb_uri, arguments.batches, arguments.rounds)

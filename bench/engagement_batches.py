"""The candidates service's `engagement.scored` subscriber, per-event form against batch form.

Drives `IdempotentConsumer.process_batch` directly (no broker: the broker's share is measured by
benchmark 1) with batches of 500 `engagement.scored` about 500 known candidates of a tenant with
segments on engagement (a score threshold, one referring to it, a relative date on the last
activity), alternating the two forms of the use case (`CandidateFacts.engagement_scored` per
event, `CandidateFacts.engagement_scores` on the whole batch), each on a fresh database. Each
batch raises every score, so every event is a write, and about a third of the candidates cross
the threshold in each batch (segment entries, their events and timeline entries):

    uv run python -m bench.engagement_batches --mongodb-uri URI [--batches 6] [--rounds 2]
"""

from __future__ import annotations

import argparse
import time
import uuid

from bench.timeline_batches import candidate_facts_consumer, compare_forms
from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.models import Candidate, CandidateSource, Segment, SegmentStatus
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.indexes import ensure_indexes
from crm_candidates.repositories.segments import SegmentRepository
from crm_shared import (
    ENGAGEMENT_SCORED,
    EngagementScored,
    EventEnvelope,
    Session,
    create_mongo_client,
    in_transaction,
    utc_now,
)
from crm_shared.consumer import DeliveredRecord, Outcome, _batched, _per_event, _Subscription

BATCH = 500
TENANT = "bench"


def scored(candidate_id: str, score: float) -> bytes:
    return (
        EventEnvelope[EngagementScored](
            type=ENGAGEMENT_SCORED.name,
            source="analytics",
            tenant_id=TENANT,
            subject=candidate_id,
            schema_version=ENGAGEMENT_SCORED.schema_version,
            data=EngagementScored(
                candidate_id=candidate_id,
                score=score,
                last_activity_at=utc_now(),
                contributions={"open": score},
            ),
        )
        .model_dump_json()
        .encode()
    )


def segments() -> list[Segment]:
    def segment(name: str, *conditions: dict[str, object]) -> Segment:
        return Segment(
            id=f"seg-{name}",
            tenant_id=TENANT,
            name=name,
            rule={"all": list(conditions)},
            status=SegmentStatus.READY,
            created_by="bench",
        )

    return [
        segment("engaged", {"field": "engagement_score", "op": "range", "value": {"gte": 10}}),
        segment(
            "engaged-berlin",
            {"segment": "seg-engaged"},
            {"field": "location", "op": "equals", "value": "Berlin"},
        ),
        segment("active", {"field": "last_activity_at", "op": "after", "relative": "-30d"}),
    ]


async def rate(mongodb_uri: str, form: str, batches: int) -> float:
    """Events a second the engagement subscriber applies in `form` (per-event or batch)."""
    settings = CandidatesSettings(
        mongodb_uri=mongodb_uri, mongodb_database=f"bench_engagement_{uuid.uuid4().hex[:8]}"
    )
    mongo = create_mongo_client(settings)
    database = mongo[settings.mongodb_database]
    await ensure_indexes(database)
    for segment in segments():
        await SegmentRepository(database, TENANT).add(segment)
    people = [
        Candidate(
            tenant_id=TENANT,
            first_name="Ada",
            last_name=f"Lovelace {n}",
            emails=[f"ada{n}@example.org"],
            location="Berlin" if n % 2 else "Hamburg",
            source=CandidateSource.SOURCED,
            created_by="bench",
        )
        for n in range(BATCH)
    ]

    async def add(session: Session) -> None:
        await CandidateRepository(database, TENANT).add_many(people, session=session)

    await in_transaction(mongo, add)
    facts, consumer = candidate_facts_consumer(mongo, database)
    apply = (
        _batched(facts.engagement_scores)
        if form == "batch"
        else _per_event(facts.engagement_scored)
    )
    subscription = _Subscription(ENGAGEMENT_SCORED, "on_engagement_scored", apply, BATCH)
    batch_records = [
        [
            DeliveredRecord(
                ENGAGEMENT_SCORED.name,
                0,
                batch * BATCH + n,
                person.id.encode(),
                # Scores rise by 1 to 3 a batch: some cross 10 in each batch.
                scored(person.id, float((batch + 1) * (1 + n % 3))),
                {},
            )
            for n, person in enumerate(people)
        ]
        for batch in range(batches)
    ]
    started = time.perf_counter()
    for records in batch_records:
        outcomes = await consumer.process_batch(subscription, records)
        assert set(outcomes) == {Outcome.PROCESSED}, outcomes[:3]
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

"""Folding a batch is what applying its events one by one does: the same seeded events through
`record` (one transaction each) and `record_batch` (batches of varying size) leave equal
counters, daily counts, counted keys, contributions, scores and last published scores."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.config import AnalyticsSettings
from crm_analytics.repositories import ensure_indexes
from crm_shared import (
    ATS_APPLICATION_CREATED,
    CANDIDATE_CREATED,
    ENGAGEMENT_SCORED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    AtsApplicationCreated,
    CandidateCreated,
    EventCheckedIn,
    EventEnvelope,
    EventRegistered,
    MessageClicked,
    MessageOpened,
    MessageReplied,
    MessageSent,
    MongoClient,
    Session,
    TopicSpec,
    in_transaction,
)
from crm_shared.tombstones import ERASED_CANDIDATES_COLLECTION, tombstone_id
from helpers import unique
from integration.service_storage import service_storage

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
COLLECTIONS = (
    "tenant_counters",
    "daily_counts",
    "counted_keys",
    "engagement_contributions",
    "engagement_scores",
    "known_candidates",
)


def seeded_events(seed: int, count: int) -> list[EventEnvelope[Any]]:
    """A campaign's worth of events over two tenants: repeated and automated opens, clicks,
    replies, registrations with and without a candidate, check-ins, applications."""
    rng = random.Random(seed)
    events: list[EventEnvelope[Any]] = []

    def add(spec: TopicSpec, tenant: str, subject: str, data: BaseModel, at: datetime) -> None:
        events.append(
            EventEnvelope[Any](
                type=spec.name,
                source="test",
                tenant_id=tenant,
                subject=subject,
                schema_version=spec.schema_version,
                time=at,
                data=data,
            )
        )

    for _ in range(count):
        tenant = rng.choice(("acme", "globex"))
        candidate = f"c{rng.randrange(12)}"
        message = f"m{rng.randrange(30)}"
        event = f"e{rng.randrange(3)}"
        at = NOW - timedelta(days=rng.randrange(40), seconds=rng.randrange(86_400))
        kind = rng.randrange(8)
        if kind == 0:
            add(
                CANDIDATE_CREATED,
                tenant,
                candidate,
                CandidateCreated(
                    candidate_id=candidate,
                    first_name="A",
                    last_name="B",
                    emails=[],
                    source=rng.choice(("sourced", "import", "event")),
                ),
                at,
            )
        elif kind == 1:
            sent = MessageSent(
                message_id=message, candidate_id=candidate, template_id="t", subject="Hello"
            )
            add(MESSAGE_SENT, tenant, candidate, sent, at)
        elif kind in (2, 3):
            opened = MessageOpened(
                message_id=message, candidate_id=candidate, automated=rng.random() < 0.2
            )
            add(MESSAGE_OPENED, tenant, candidate, opened, at)
        elif kind == 4:
            clicked = MessageClicked(
                message_id=message,
                candidate_id=candidate,
                link_index=0,
                url="https://example.org",
                automated=rng.random() < 0.2,
            )
            add(MESSAGE_CLICKED, tenant, candidate, clicked, at)
        elif kind == 5:
            replied = MessageReplied(message_id=message, candidate_id=candidate, received_at=at)
            add(MESSAGE_REPLIED, tenant, candidate, replied, at)
        elif kind == 6:
            registration = EventRegistered(
                event_id=event,
                event_name="Open day",
                registration_id=unique("r"),
                candidate_id=rng.choice((candidate, None)),
                email="a@example.org",
                first_name="A",
                last_name="B",
                registered_at=at,
            )
            add(EVENT_REGISTERED, tenant, candidate, registration, at)
            attendance = EventCheckedIn(
                event_id=event,
                event_name="Open day",
                registration_id=registration.registration_id,
                candidate_id=registration.candidate_id,
                email="a@example.org",
                checked_in_at=at + timedelta(hours=1),
            )
            add(EVENT_CHECKED_IN, tenant, candidate, attendance, at)
        else:
            application = AtsApplicationCreated(
                provider="greenhouse",
                connection_id="conn",
                ats_application_id=unique("app"),
                ats_candidate_id="x",
                candidate_id=candidate,
            )
            add(ATS_APPLICATION_CREATED, tenant, candidate, application, at)
    return events


@pytest.fixture
async def two_stores(
    mongodb_uri: str,
) -> AsyncIterator[
    tuple[tuple[MongoClient, ActivityRecorder], tuple[MongoClient, ActivityRecorder]]
]:
    stores = []
    for _ in range(2):
        settings = AnalyticsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("analytics"))
        stores.append(service_storage(settings, ensure_indexes))
    async with stores[0] as one, stores[1] as other:
        built = []
        for storage in (one, other):
            analytics = AnalyticsStorage(database=storage.database, outbox=storage.outbox)
            model = AnalyticsSettings().engagement_model()
            built.append((storage.mongo, ActivityRecorder(analytics, model, clock=lambda: NOW)))
        yield built[0], built[1]


async def stored(recorder: ActivityRecorder) -> dict[str, Any]:
    """Every collection the recorder writes, without generated ids, in a comparable order."""
    database = recorder.storage.database
    found: dict[str, Any] = {}
    for name in COLLECTIONS:
        documents = await database[name].find({}, {"_id": 0}).to_list()
        found[name] = sorted(json.dumps(d, sort_keys=True, default=str) for d in documents)
    # The last engagement.scored staged per candidate: what its consumers end up with.
    last: dict[tuple[str, str], Any] = {}
    async for record in recorder.storage.outbox.records.find(
        {"topic": ENGAGEMENT_SCORED.name}
    ).sort("_id", 1):
        last[(record["tenant_id"], record["key"])] = json.loads(record["value"])["data"]
    found["last_scored"] = sorted(last.items())
    return found


async def test_a_folded_batch_leaves_what_its_events_one_by_one_leave(
    two_stores: tuple[tuple[MongoClient, ActivityRecorder], tuple[MongoClient, ActivityRecorder]],
) -> None:
    (one_mongo, one_by_one), (batch_mongo, batched) = two_stores
    events = seeded_events(seed=18, count=400)
    for recorder in (one_by_one, batched):
        # An erased candidate whose creation arrives late is not learnt again, on either path.
        await recorder.storage.database[ERASED_CANDIDATES_COLLECTION].insert_one(
            {"_id": tombstone_id("acme", "c3"), "tenant_id": "acme", "candidate_id": "c3"}
        )
    # A redelivered event is deduplicated by the consumer, not here: the same opens twice in a
    # batch are still one count, because their message is counted once.
    for envelope in events:

        async def apply(session: Session, envelope: EventEnvelope[Any] = envelope) -> None:
            await one_by_one.record(envelope, session)

        await in_transaction(one_mongo, apply)

    rng = random.Random(7)
    start = 0
    while start < len(events):
        size = rng.choice((1, 2, 7, 50, 120))
        part = events[start : start + size]
        start += size

        async def apply_batch(session: Session, part: list[EventEnvelope[Any]] = part) -> None:
            await batched.record_batch(part, session)

        await in_transaction(batch_mongo, apply_batch)

    expected = await stored(one_by_one)
    assert sum(len(v) for v in expected.values()) > 100  # the workload touched every store
    assert all(expected[name] for name in COLLECTIONS)
    assert not any(
        '"candidate_id": "c3", "tenant_id": "acme"' in k for k in expected["known_candidates"]
    )
    assert await stored(batched) == expected

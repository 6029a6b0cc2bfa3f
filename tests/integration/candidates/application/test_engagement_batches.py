"""Engagement scores applied in batches against SecantusDB: a batch mixing two tenants, a
candidate scored several times (into a segment on `engagement_score`, out of it and in again),
a score that changes nothing, an unknown id, another tenant's candidate, a merged and an
archived record leaves exactly the documents and staged events that applying its events one by
one leaves (the per-event form, as the consumer ran it inside the batch's transaction)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from crm_candidates.application.consents import ConfirmationPolicy
from crm_candidates.application.facts import CandidateFacts
from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.models import (
    Candidate,
    CandidateSource,
    CandidateStatus,
    Segment,
    SegmentStatus,
)
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION, EVALUATED_AT
from crm_candidates.repositories.indexes import ensure_indexes
from crm_candidates.repositories.segments import SegmentRepository
from crm_shared import (
    ENGAGEMENT_SCORED,
    EngagementScored,
    EventEnvelope,
    Session,
    SignedLinks,
    in_transaction,
    utc_now,
)
from helpers import unique
from integration.segments.test_membership_batches import membership_rows, timeline_rows
from integration.service_storage import ServiceStorage, service_storage

pytestmark = pytest.mark.integration

TENANTS = ("acme", "globex")
NOW = utc_now()


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def scored(tenant: str, candidate_id: str, score: float, active: datetime | None) -> Any:
    return EventEnvelope[EngagementScored](
        type=ENGAGEMENT_SCORED.name,
        source="analytics",
        tenant_id=tenant,
        subject=candidate_id,
        schema_version=ENGAGEMENT_SCORED.schema_version,
        data=EngagementScored(candidate_id=candidate_id, score=score, last_activity_at=active),
    )


def person(tenant: str, name: str, **fields: Any) -> Candidate:
    return Candidate(
        id=f"{tenant}-{name}",
        tenant_id=tenant,
        first_name=name.title(),
        last_name="Doe",
        emails=[] if fields.get("status") is CandidateStatus.MERGED else [f"{name}@{tenant}.test"],
        source=CandidateSource.SOURCED,
        created_by="rita",
        # Fixed, so the two runs' records are alike.
        created_at=ago(100),
        updated_at=ago(100),
        **fields,
    )


def segment(tenant: str, segment_id: str, *conditions: dict[str, Any]) -> Segment:
    return Segment(
        id=f"{tenant}-{segment_id}",
        tenant_id=tenant,
        name=segment_id,
        rule={"all": list(conditions)},
        status=SegmentStatus.READY,
        created_by="rita",
    )


def segments(tenant: str) -> list[Segment]:
    engaged = segment(
        tenant, "engaged", {"field": "engagement_score", "op": "range", "value": {"gte": 10}}
    )
    return [
        engaged,
        # Refers to the engagement segment: follows it within the same step.
        segment(
            tenant,
            "engaged-berlin",
            {"segment": engaged.id},
            {"field": "location", "op": "equals", "value": "Berlin"},
        ),
        # Time-dependent: each holder of a recent activity gets a recheck time.
        segment(tenant, "active", {"field": "last_activity_at", "op": "after", "relative": "-30d"}),
    ]


def people(tenant: str) -> list[Candidate]:
    return [
        person(tenant, "ada", location="Berlin"),
        person(tenant, "bob", engagement_score=12.0, last_activity_at=ago(3)),
        person(tenant, "cleo", engagement_score=4.0, last_activity_at=ago(40)),
        person(tenant, "dora", location="Berlin", engagement_score=15.0, last_activity_at=ago(2)),
        person(tenant, "merged", status=CandidateStatus.MERGED, merged_into=f"{tenant}-ada"),
        person(tenant, "archived", status=CandidateStatus.ARCHIVED),
    ]


def batch() -> list[EventEnvelope[Any]]:
    """Both tenants' scores interleaved, in offset order."""
    events: list[EventEnvelope[Any]] = []
    for tenant in TENANTS:
        events.append(scored(tenant, f"{tenant}-ada", 11.0, ago(1)))  # enters both
        events.append(scored(tenant, f"{tenant}-bob", 12.0, ago(3)))  # unchanged: no write
        events.append(scored(tenant, f"{tenant}-cleo", 2.5, ago(20)))  # active again
        events.append(scored(tenant, f"{tenant}-ada", 6.0, ago(1)))  # leaves both
        events.append(scored(tenant, f"{tenant}-nobody", 30.0, ago(1)))  # unknown: ignored
        other = TENANTS[1 - TENANTS.index(tenant)]
        events.append(scored(tenant, f"{other}-dora", 1.0, None))  # another tenant's: unknown
        events.append(scored(tenant, f"{tenant}-merged", 20.0, ago(1)))  # as the per-event does
        events.append(scored(tenant, f"{tenant}-archived", 25.0, ago(1)))
        events.append(scored(tenant, f"{tenant}-dora", 3.0, ago(2)))  # leaves engaged
        events.append(scored(tenant, f"{tenant}-ada", 14.5, ago(0.5)))  # and in again, last
    half = len(events) // 2
    return [event for pair in zip(events[:half], events[half:], strict=True) for event in pair]


def facts(storage: ServiceStorage) -> CandidateFacts:
    return CandidateFacts(
        storage.mongo,
        storage.database,
        storage.outbox,
        SignedLinks("a-secret-of-at-least-thirty-two-characters"),
        ConfirmationPolicy("http://crm.test", max_per_address=3, window=timedelta(days=1)),
    )


async def prepared(storage: ServiceStorage) -> None:
    """Each tenant's segments and candidates, each evaluated as a create does."""
    for tenant in TENANTS:
        for each in segments(tenant):
            await SegmentRepository(storage.database, tenant).add(each)

        async def add(session: Session, tenant: str = tenant) -> None:
            writer = facts(storage).writer(tenant)
            for candidate in people(tenant):
                await CandidateRepository(storage.database, tenant).add(candidate, session=session)
                await writer.reevaluate(candidate, session=session)

        await in_transaction(storage.mongo, add)


async def per_event(storage: ServiceStorage, events: list[EventEnvelope[Any]]) -> None:
    async def apply(session: Session) -> None:
        for envelope in events:
            await facts(storage).engagement_scored(envelope, session)

    await in_transaction(storage.mongo, apply)


async def batched(storage: ServiceStorage, events: list[EventEnvelope[Any]]) -> None:
    async def apply(session: Session) -> None:
        await facts(storage).engagement_scores(events, session)

    await in_transaction(storage.mongo, apply)


async def state(storage: ServiceStorage, since: datetime) -> dict[str, Any]:
    """Every document the events leave; generated ids and times as what they mean."""
    database = storage.database
    # Per tenant, its events in the order staged (across tenants a batch stages by tenant).
    streams: dict[str, list[tuple[Any, ...]]] = {}
    position: dict[str, tuple[str, int]] = {}
    for record in await database["outbox"].find({}).sort("_id", 1).to_list():
        envelope = json.loads(record["value"])
        stream = streams.setdefault(record["tenant_id"], [])
        position[record["event_id"]] = (record["tenant_id"], len(stream))
        stream.append(
            (
                record["topic"],
                record["key"],
                record["published"],
                {k: v for k, v in envelope.items() if k not in ("id", "time")},
                datetime.fromisoformat(envelope["time"]) >= since,  # staged by the batch
            )
        )
    # When a write evaluated the candidate's segments is a time of the run; that it did is not.
    candidates = {
        document.pop("_id"): document | {EVALUATED_AT: document.get(EVALUATED_AT) is not None}
        for document in await database[CANDIDATES_COLLECTION].find({}).to_list()
    }
    memberships = await membership_rows(database, since)
    timeline = await timeline_rows(database, position)
    return {
        "streams": streams,
        "candidates": candidates,
        "memberships": memberships,
        "timeline": timeline,
    }


Form = Callable[[ServiceStorage, list[EventEnvelope[Any]]], Awaitable[None]]


async def run(mongodb_uri: str, form: Form, events: list[EventEnvelope[Any]]) -> dict[str, Any]:
    settings = CandidatesSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("cands"))
    async with service_storage(settings, ensure_indexes) as storage:
        await prepared(storage)
        since = utc_now()
        await form(storage, events)
        return await state(storage, since)


def segment_events(result: dict[str, Any], tenant: str, candidate_id: str) -> list[tuple[str, str]]:
    return [
        (topic, data["data"]["segment_id"].removeprefix(f"{tenant}-"))
        for topic, key, _, data, in_batch in result["streams"][tenant]
        if key == candidate_id and in_batch
    ]


async def test_a_batch_leaves_what_applying_its_scores_one_by_one_leaves(
    mongodb_uri: str,
) -> None:
    events = batch()
    expected = await run(mongodb_uri, per_event, events)
    assert await run(mongodb_uri, batched, events) == expected

    # And what that is (the workload does what it is meant to).
    for tenant in TENANTS:
        ada = expected["candidates"][f"{tenant}-ada"]
        assert (ada["engagement_score"], ada["segment_ids"]) == (
            14.5,
            [f"{tenant}-active", f"{tenant}-engaged", f"{tenant}-engaged-berlin"],
        )
        assert segment_events(expected, tenant, f"{tenant}-ada") == [
            ("segment.entered", "active"),
            ("segment.entered", "engaged"),
            ("segment.entered", "engaged-berlin"),
            ("segment.exited", "engaged"),
            ("segment.exited", "engaged-berlin"),
            ("segment.entered", "engaged"),
            ("segment.entered", "engaged-berlin"),
        ]
        assert segment_events(expected, tenant, f"{tenant}-dora") == [
            ("segment.exited", "engaged"),
            ("segment.exited", "engaged-berlin"),
        ]
        assert segment_events(expected, tenant, f"{tenant}-cleo") == [("segment.entered", "active")]
        assert segment_events(expected, tenant, f"{tenant}-bob") == []
        # Projected on the merged and archived records as before; they hold no segment.
        assert expected["candidates"][f"{tenant}-merged"]["engagement_score"] == 20.0
        assert expected["candidates"][f"{tenant}-archived"]["segment_ids"] == []
        # No `candidate.updated`: the profile did not change.
        assert {topic for topic, *_ in expected["streams"][tenant]} == {
            "segment.entered",
            "segment.exited",
        }
    assert "acme-nobody" not in expected["candidates"]
    assert expected["candidates"]["globex-dora"]["engagement_score"] == 3.0

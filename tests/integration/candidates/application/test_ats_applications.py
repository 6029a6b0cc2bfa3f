"""ATS application events applied in batches against SecantusDB: a batch mixing tenants, known
and unknown people, erased and address-less applicants, stale changes and several applications
of one person leaves exactly the candidates, events, timelines, segment memberships and
rechecks that applying its events one by one leaves; and a batch costs the database a fixed
number of reads whatever its size."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_candidates.application.ats_applications import AtsApplications
from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.models import Candidate, CandidateSource, Segment, SegmentStatus
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.collections import (
    CANDIDATES_COLLECTION,
    EVALUATED_AT,
    MEMBERSHIPS_COLLECTION,
    RECHECK_AT,
    TIMELINE_COLLECTION,
)
from crm_candidates.repositories.indexes import ensure_indexes
from crm_candidates.repositories.segments import SegmentRepository
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    AtsApplicationChange,
    AtsApplicationCreated,
    AtsApplicationHired,
    AtsApplicationRejected,
    AtsApplicationStageChanged,
    EventEnvelope,
    Outbox,
    Session,
    TopicSpec,
    email_sha256,
    in_transaction,
    utc_now,
)
from crm_shared.tombstones import ERASED_CANDIDATES_COLLECTION
from helpers import Commands, unique
from integration.service_storage import ServiceStorage, service_storage

pytestmark = pytest.mark.integration

NOW = utc_now()
TENANTS = ("acme", "globex")


def known_id(tenant: str) -> str:
    return f"cand-{tenant}"


def at(days_ago: float) -> Any:
    return NOW - timedelta(days=days_ago)


def envelope(
    spec: TopicSpec, tenant_id: str, application: str, **fields: Any
) -> EventEnvelope[Any]:
    common = {
        "provider": "greenhouse",
        "connection_id": "conn-1",
        "ats_application_id": application,
        "ats_candidate_id": f"person-{application}",
    }
    payloads: dict[str, type[AtsApplicationCreated | AtsApplicationChange]] = {
        ATS_APPLICATION_CREATED.name: AtsApplicationCreated,
        ATS_APPLICATION_STAGE_CHANGED.name: AtsApplicationStageChanged,
        ATS_APPLICATION_REJECTED.name: AtsApplicationRejected,
        ATS_APPLICATION_HIRED.name: AtsApplicationHired,
    }
    data = payloads[spec.name](**common, **fields)
    return EventEnvelope[Any](
        type=spec.name,
        source="ats-sync",
        tenant_id=tenant_id,
        subject=application,
        schema_version=spec.schema_version,
        data=data,
    )


def scenario() -> list[EventEnvelope[Any]]:
    """Both tenants' events interleaved, in offset order."""
    events: list[EventEnvelope[Any]] = []
    for tenant in TENANTS:
        events += [
            # A person on file, matched by address (another spelling), then named by id.
            envelope(
                ATS_APPLICATION_CREATED,
                tenant,
                f"{tenant}-ada",
                email="ADA@Example.org",
                applied_at=at(30),
                stage="Application Review",
            ),
            envelope(
                ATS_APPLICATION_STAGE_CHANGED,
                tenant,
                f"{tenant}-ada",
                candidate_id=known_id(tenant),
                occurred_at=at(20),
                stage="Onsite",
            ),
            # Nobody knew Zoë: her first event creates her; her rejection puts her in both
            # segments; an older application arriving late changes nothing but her timeline.
            envelope(
                ATS_APPLICATION_STAGE_CHANGED,
                tenant,
                f"{tenant}-zoe",
                email="zoe.angstrom@example.org",
                first_name="Zoë",
                last_name="Ångström",
                occurred_at=at(12),
                stage="Onsite",
            ),
            envelope(
                ATS_APPLICATION_CREATED,
                tenant,
                f"{tenant}-jorg-1",
                email="jorg@example.org",
                first_name="Jörg",
                applied_at=at(40),
                stage="Application Review",
            ),
            envelope(
                ATS_APPLICATION_REJECTED,
                tenant,
                f"{tenant}-zoe",
                email="zoe.angstrom@example.org",
                occurred_at=at(5),
                stage="Onsite",
            ),
            envelope(
                ATS_APPLICATION_CREATED,
                tenant,
                f"{tenant}-zoe-old",
                email="Zoe.Angstrom@example.org",
                applied_at=at(400),
                stage="Application Review",
            ),
            # Two applications of Jörg: the second, older, does not roll him back.
            envelope(
                ATS_APPLICATION_CREATED,
                tenant,
                f"{tenant}-jorg-2",
                email="jorg@example.org",
                applied_at=at(50),
            ),
            # Through the Onsite segment and out of it again within one batch.
            envelope(
                ATS_APPLICATION_STAGE_CHANGED,
                tenant,
                f"{tenant}-jorg-1",
                email="jorg@example.org",
                occurred_at=at(10),
                stage="Onsite",
            ),
            envelope(
                ATS_APPLICATION_HIRED,
                tenant,
                f"{tenant}-jorg-1",
                email="jorg@example.org",
                occurred_at=at(1),
                stage="Offer",
            ),
            # An erased person, one without an address and an id nobody holds: nothing.
            envelope(
                ATS_APPLICATION_CREATED,
                tenant,
                f"{tenant}-erased",
                email="gone@example.org",
                applied_at=at(3),
            ),
            envelope(ATS_APPLICATION_CREATED, tenant, f"{tenant}-anonymous", applied_at=at(3)),
            envelope(
                ATS_APPLICATION_REJECTED,
                tenant,
                f"{tenant}-ghost",
                candidate_id="cand-nobody",
                occurred_at=at(3),
            ),
        ]
    # Interleaved as two tenants' events arrive on one partition.
    half = len(events) // 2
    return [event for pair in zip(events[:half], events[half:], strict=True) for event in pair]


async def prepared(storage: ServiceStorage) -> dict[str, list[str]]:
    """Each tenant's known candidate, erased address and segments (their ids, by tenant)."""
    segment_ids: dict[str, list[str]] = {}
    for tenant in TENANTS:
        known = Candidate(
            id=known_id(tenant),
            tenant_id=tenant,
            first_name="Ada",
            last_name="Lovelace",
            emails=["ada@example.org"],
            source=CandidateSource.SOURCED,
            created_by="rita",
        )

        async def add(session: Session, known: Candidate = known) -> None:
            await CandidateRepository(storage.database, known.tenant_id).add(known, session=session)

        await in_transaction(storage.mongo, add)
        await storage.database[ERASED_CANDIDATES_COLLECTION].insert_one(
            {
                "_id": f"{tenant}:erased",
                "tenant_id": tenant,
                "email_sha256": [email_sha256("gone@example.org")],
            }
        )
        segments = SegmentRepository(storage.database, tenant)
        rejected = segment(tenant, {"field": "ats_status", "op": "equals", "value": "rejected"})
        recent = segment(tenant, {"field": "ats_changed_at", "op": "after", "relative": "-2w"})
        onsite = segment(tenant, {"field": "ats_stage", "op": "equals", "value": "Onsite"})
        silver = segment(tenant, {"segment": rejected.id})
        for each in (rejected, recent, onsite, silver):
            await segments.add(each)
        segment_ids[tenant] = [rejected.id, recent.id, onsite.id, silver.id]
    return segment_ids


def segment(tenant: str, condition: dict[str, Any]) -> Segment:
    return Segment(
        tenant_id=tenant,
        name=unique("segment"),
        rule={"all": [condition]},
        status=SegmentStatus.READY,
        created_by="rita",
    )


async def apply_in_batches(
    storage: ServiceStorage, events: list[EventEnvelope[Any]], size: int
) -> None:
    applications = AtsApplications(storage.database, storage.outbox)
    for start in range(0, len(events), size):
        part = events[start : start + size]

        async def apply(session: Session, part: list[EventEnvelope[Any]] = part) -> None:
            await applications.apply(part, session)

        await in_transaction(storage.mongo, apply)


async def state(storage: ServiceStorage, segment_ids: dict[str, list[str]]) -> dict[str, Any]:
    """Everything the events leave, with generated ids and times replaced by stable names."""
    database = storage.database
    candidates = await database[CANDIDATES_COLLECTION].find({}).to_list()
    name_of = {c["_id"]: f"{c['tenant_id']}:{c['emails'][0]}" for c in candidates}
    segment_names = {
        sid: f"{tenant}:segment-{n}"
        for tenant, ids in segment_ids.items()
        for n, sid in enumerate(ids)
    }
    volatile = {"_id", "created_at", "updated_at", "segment_ids", RECHECK_AT, EVALUATED_AT}
    stored = {
        name_of[c["_id"]]: {k: v for k, v in c.items() if k not in volatile}
        | {"facets": {k: v for k, v in c["facets"].items() if k not in volatile}}
        | {"segments": sorted(segment_names[s] for s in c.get("segment_ids", []))}
        | {"recheck_at": c.get(RECHECK_AT) is not None}
        | {"evaluated": c.get(EVALUATED_AT) is not None}
        for c in candidates
    }
    memberships = sorted(
        (name_of[m["candidate_id"]], segment_names[m["segment_id"]])
        for m in await database[MEMBERSHIPS_COLLECTION].find({}).to_list()
    )
    timeline = sorted(
        (name_of[e["candidate_id"]], e["type"], json.dumps(e["data"], sort_keys=True, default=str))
        for e in await database[TIMELINE_COLLECTION].find({}).to_list()
        if e["type"].startswith("ats.")
    )
    entered = sorted(
        (name_of[e["candidate_id"]], e["type"])
        for e in await database[TIMELINE_COLLECTION].find({}).to_list()
        if not e["type"].startswith("ats.")
    )
    # The events each candidate's stream carries, in order (the outbox keeps the order).
    streams: dict[str, list[tuple[str, str]]] = {}
    for record in await database["outbox"].find({}).sort("_id", 1).to_list():
        data = json.loads(record["value"])["data"]
        detail = segment_names.get(data.get("segment_id"), data.get("first_name", ""))
        subject = str(record["key"])
        streams.setdefault(name_of.get(subject, subject), []).append((record["topic"], str(detail)))
    return {
        "candidates": stored,
        "memberships": memberships,
        "timeline": timeline,
        "segment_timeline": entered,
        "streams": streams,
    }


@pytest.mark.parametrize("size", [2, 5, 22])
async def test_a_batch_leaves_what_applying_its_events_one_by_one_leaves(
    mongodb_uri: str, size: int
) -> None:
    events = scenario()
    states = []
    for batch_size in (1, size):
        settings = CandidatesSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("cands"))
        async with service_storage(settings, ensure_indexes) as storage:
            segment_ids = await prepared(storage)
            await apply_in_batches(storage, events, batch_size)
            states.append(await state(storage, segment_ids))
    one_by_one, batched = states
    assert batched == one_by_one

    # And what that is: per tenant Ada (matched), Zoë and Jörg (created); nobody else.
    stored = one_by_one["candidates"]
    assert sorted(stored) == sorted(
        f"{tenant}:{email}"
        for tenant in TENANTS
        for email in ("ada@example.org", "jorg@example.org", "zoe.angstrom@example.org")
    )
    zoe = stored["acme:zoe.angstrom@example.org"]
    assert (zoe["first_name"], zoe["last_name"], zoe["source"]) == ("Zoë", "Ångström", "ats_import")
    assert (zoe["ats_status"], zoe["ats_stage"]) == ("rejected", "Onsite")
    assert zoe["segments"] == [
        "acme:segment-0",
        "acme:segment-1",
        "acme:segment-2",
        "acme:segment-3",
    ]
    assert zoe["recheck_at"] is True
    jorg = stored["globex:jorg@example.org"]
    assert (jorg["ats_status"], jorg["ats_stage"]) == ("hired", "Offer")
    ada = stored["acme:ada@example.org"]
    assert (ada["ats_status"], ada["ats_stage"], ada["source"]) == (
        "in_process",
        "Onsite",
        "sourced",
    )
    # Zoë entered the Onsite segment at her first event and stayed; her stream says so once.
    assert one_by_one["streams"]["acme:zoe.angstrom@example.org"][0] == (
        "candidate.created",
        "Zoë",
    )
    assert ("segment.exited", "globex:segment-2") in one_by_one["streams"][
        "globex:jorg@example.org"
    ]
    # Every application event of a known person is in their timeline, the stale one included.
    assert len([e for e in one_by_one["timeline"] if e[0] == "acme:zoe.angstrom@example.org"]) == 3


async def test_applying_a_batch_again_changes_nothing(storage: ServiceStorage) -> None:
    segment_ids = await prepared(storage)
    events = scenario()
    await apply_in_batches(storage, events, len(events))
    first = await state(storage, segment_ids)
    await apply_in_batches(storage, events, len(events))
    assert await state(storage, segment_ids) == first


@pytest.mark.parametrize("people", [1, 80])
async def test_a_batch_costs_the_same_commands_whatever_its_size(
    storage: ServiceStorage, mongodb_uri: str, people: int
) -> None:
    segment_ids = await prepared(storage)
    assert segment_ids
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongodb_uri, tz_aware=True, event_listeners=[commands]
    )
    try:
        database = client[storage.database.name]
        watched = ServiceStorage(client, database, Outbox(database, "candidates"))
        created = [
            envelope(
                ATS_APPLICATION_CREATED,
                "acme",
                f"app-{n}",
                email=f"person{n}@example.org",
                applied_at=at(60),
                stage="Application Review",
            )
            for n in range(people)
        ]
        rejected = [
            envelope(
                ATS_APPLICATION_REJECTED,
                "acme",
                f"app-{n}",
                email=f"person{n}@example.org",
                occurred_at=at(50),
                stage="Onsite",
            )
            for n in range(people)
        ]
        memberships = storage.database[MEMBERSHIPS_COLLECTION]
        for events in (created, rejected):
            before = await memberships.count_documents({})
            commands.names.clear()
            await apply_in_batches(watched, events, len(events))
            reads = [name for name in commands.names if name in ("find", "aggregate", "count")]
            # Identity keys, candidates, erasures, segments, memberships.
            assert len(reads) <= 5, commands.names
            # Every write is bulk, segment entries included (the rejected enter three segments:
            # the memberships, their mirror on the candidates, the events, the timeline, the
            # recheck times, the stamp of the evaluation a new segment's catch-up reads), and
            # the commit.
            entries = await memberships.count_documents({}) - before
            assert entries == (3 * people if events is rejected else 0)
            assert len(commands.names) - len(reads) <= 8, " ".join(commands.names)
    finally:
        await client.close()

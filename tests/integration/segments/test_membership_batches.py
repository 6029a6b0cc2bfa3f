"""Segment membership re-evaluated in a batch against SecantusDB leaves exactly what
re-evaluating the same candidates one by one leaves: the same memberships, the same mirror of
them on each candidate (in the same order), the same recheck times, the same `segment.entered`
/ `segment.exited` events in the same order and the same timeline entries. The workload has a
segment referring to another, a relative-date rule, an archived record, members leaving, and
one candidate changed several times within the batch (in, out and in again)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from crm_candidates.application.candidates import MembershipEvaluator
from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.models import (
    Candidate,
    CandidateSource,
    CandidateStatus,
    Segment,
    SegmentStatus,
)
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.collections import (
    CANDIDATES_COLLECTION,
    MEMBERSHIPS_COLLECTION,
    TIMELINE_COLLECTION,
)
from crm_candidates.repositories.indexes import ensure_indexes
from crm_candidates.repositories.segments import SegmentRepository
from crm_shared import Database, Session, in_transaction, utc_now
from helpers import unique
from integration.service_storage import ServiceStorage, service_storage

pytestmark = pytest.mark.integration

TENANT = "acme"
NOW = utc_now()


def segment(segment_id: str, *conditions: dict[str, Any]) -> Segment:
    return Segment(
        id=segment_id,
        tenant_id=TENANT,
        name=f"segment {segment_id}",
        rule={"all": list(conditions)},
        status=SegmentStatus.READY,
        created_by="rita",
    )


SEGMENTS = [
    segment("seg-python", {"field": "skills", "op": "equals", "value": "python"}),
    segment("seg-berlin", {"field": "location", "op": "equals", "value": "Berlin"}),
    # Refers to the Python segment: sees the memberships the same step changed.
    segment(
        "seg-berlin-python",
        {"segment": "seg-python"},
        {"field": "location", "op": "equals", "value": "Berlin"},
    ),
    # Membership changes with time alone: each holder of a date gets a recheck time.
    segment("seg-active", {"field": "last_activity_at", "op": "after", "relative": "-30d"}),
    segment("seg-vip", {"field": "tags", "op": "equals", "value": "vip"}),
]


def person(number: int, **fields: Any) -> Candidate:
    return Candidate(
        id=f"cand-{number:02d}",
        tenant_id=TENANT,
        first_name=f"Person {number}",
        last_name="Doe",
        emails=[f"person{number}@example.org"],
        source=CandidateSource.SOURCED,
        created_by="rita",
        created_at=NOW - timedelta(days=100),
        updated_at=NOW - timedelta(days=100),
        **fields,
    )


def initial() -> list[Candidate]:
    """The candidates as stored (and evaluated) before the batch."""
    return [
        person(1, skills=["python"], location="Berlin", tags=["vip"]),
        person(2, skills=["go"], location="Hamburg"),
        person(3, skills=["python"], location="Munich", last_activity_at=NOW - timedelta(days=5)),
        person(4, location="Berlin", last_activity_at=NOW - timedelta(days=50)),
        person(5, skills=["python"], location="Berlin", tags=["vip"]),
        person(6),
    ]


def steps() -> list[Candidate]:
    """The candidates' states the batch re-evaluates, in order."""
    first, second, third, fourth, fifth, sixth = initial()
    return [
        # Leaves the Python segment and so the one referring to it; stays in Berlin.
        first.model_copy(update={"skills": ["java"]}),
        # Enters Python, Berlin and the segment referring to both, in evaluation order.
        second.model_copy(update={"skills": ["python"], "location": "Berlin"}),
        # Activity moves: still active, a later recheck time.
        third.model_copy(update={"last_activity_at": NOW - timedelta(days=1)}),
        # Archived: leaves every segment.
        fifth.model_copy(update={"status": CandidateStatus.ARCHIVED}),
        # Enters the active segment by a recent activity; recheck set.
        fourth.model_copy(update={"last_activity_at": NOW - timedelta(days=2)}),
        # In, out, and in again within the batch.
        sixth.model_copy(update={"tags": ["vip"], "skills": ["python"]}),
        sixth.model_copy(update={"tags": [], "skills": ["python"]}),
        sixth.model_copy(update={"tags": ["vip"], "skills": ["rust"]}),
        # Out of Berlin and in again: its membership is a new one, last in its mirror.
        first.model_copy(update={"skills": ["java"], "location": "Hamburg"}),
        first.model_copy(update={"skills": ["java"]}),
        # Unchanged: no event, no write.
        second.model_copy(update={"skills": ["python"], "location": "Berlin"}),
        # Activity gone: no recheck time from this step (the earlier one stays, as one by
        # one would leave it).
        fourth.model_copy(update={"last_activity_at": None}),
    ]


async def prepared(storage: ServiceStorage) -> None:
    """The segments and the candidates, each evaluated one by one as any create does."""
    segments = SegmentRepository(storage.database, TENANT)
    for each in SEGMENTS:
        await segments.add(each)
    candidates = CandidateRepository(storage.database, TENANT)
    evaluator = MembershipEvaluator(storage.outbox, candidates, segments)

    async def add(session: Session) -> None:
        for candidate in initial():
            await candidates.add(candidate, session=session)
            recheck_at = await evaluator.reevaluate(candidate, session=session)
            if recheck_at is not None:
                await candidates.set_recheck_at(candidate.id, recheck_at, session=session)

    await in_transaction(storage.mongo, add)


async def one_by_one(storage: ServiceStorage, only: set[str] | None) -> None:
    candidates = CandidateRepository(storage.database, TENANT)
    segments = SegmentRepository(storage.database, TENANT)
    evaluator = MembershipEvaluator(storage.outbox, candidates, segments)

    async def apply(session: Session) -> None:
        for step in steps():
            recheck_at = await evaluator.reevaluate(step, session=session, only=only)
            if recheck_at is not None:
                await candidates.set_recheck_at(step.id, recheck_at, session=session)

    await in_transaction(storage.mongo, apply)


async def batched(storage: ServiceStorage, only: set[str] | None) -> None:
    candidates = CandidateRepository(storage.database, TENANT)
    segments = SegmentRepository(storage.database, TENANT)
    evaluator = MembershipEvaluator(storage.outbox, candidates, segments)

    async def apply(session: Session) -> None:
        rechecks = await evaluator.reevaluate_many(steps(), session=session, only=only)
        await candidates.set_rechecks_at(rechecks, session=session)

    await in_transaction(storage.mongo, apply)


async def membership_rows(database: Database, since: datetime) -> list[Any]:
    """Every segment membership, comparable across two runs: who is in which segment, whether
    they entered by the batch (a new entry time) or before it, and which fields it holds."""
    return sorted(
        (
            m["tenant_id"],
            m["segment_id"],
            m["candidate_id"],
            m["entered_at"] >= since,
            sorted(set(m) - {"_id"}),
        )
        for m in await database[MEMBERSHIPS_COLLECTION].find({}).to_list()
    )


async def timeline_rows(database: Database, position: dict[str, Any]) -> list[Any]:
    """Every timeline entry by the position of its event (`position`: event id -> place), each
    keyed and sorted by its event (its time, then its id), comparable across two runs."""
    return sorted(
        (
            position[entry["_id"]],
            entry.pop("sort_key").endswith(f"|{entry.pop('_id')}")
            and entry.pop("occurred_at") is not None,
            entry,
        )
        for entry in await database[TIMELINE_COLLECTION].find({}).to_list()
    )


async def state(storage: ServiceStorage, since: datetime) -> dict[str, Any]:
    """Every document the re-evaluation writes; generated ids and times as what they mean."""
    database = storage.database
    events = await database["outbox"].find({}).sort("_id", 1).to_list()
    position = {record["event_id"]: n for n, record in enumerate(events)}
    staged = []
    for record in events:
        envelope = json.loads(record["value"])
        staged.append(
            (
                record["topic"],
                record["key"],
                record["tenant_id"],
                record["published"],
                {k: v for k, v in envelope.items() if k not in ("id", "time")},
            )
        )
    candidates = {
        document.pop("_id"): document
        for document in await database[CANDIDATES_COLLECTION].find({}).to_list()
    }
    # When a write evaluated it: whether the batch did (both forms stamp at their own now;
    # stored to the millisecond, so compared with `since` cut to one).
    in_batch = since.replace(microsecond=since.microsecond // 1000 * 1000)
    for document in candidates.values():
        document["segments_evaluated_at"] = document["segments_evaluated_at"] >= in_batch
    memberships = await membership_rows(database, since)
    timeline = await timeline_rows(database, position)
    return {
        "events": staged,
        "candidates": candidates,
        "memberships": memberships,
        "timeline": [(n, has_time, entry) for n, has_time, entry in timeline],
    }


async def run(mongodb_uri: str, form: Any, only: set[str] | None) -> dict[str, Any]:
    settings = CandidatesSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("cands"))
    async with service_storage(settings, ensure_indexes) as storage:
        await prepared(storage)
        since = utc_now()
        await form(storage, only)
        return await state(storage, since)


def topics(events: Sequence[tuple[Any, ...]], candidate_id: str) -> list[tuple[str, str]]:
    return [
        (topic, data["data"]["segment_id"])
        for topic, key, _, _, data in events
        if key == candidate_id and topic.startswith("segment.")
    ]


@pytest.mark.parametrize(
    "only", [None, {"seg-python", "seg-berlin-python"}], ids=["all", "a segment and dependent"]
)
async def test_a_batch_leaves_what_reevaluating_one_by_one_leaves(
    mongodb_uri: str, only: set[str] | None
) -> None:
    expected = await run(mongodb_uri, one_by_one, only)
    assert await run(mongodb_uri, batched, only) == expected

    # And what that is (the workload does what it is meant to).
    events = expected["events"]
    if only is None:
        # Each after the segments it refers to (else by id).
        assert topics(events, "cand-02") == [
            ("segment.entered", "seg-berlin"),
            ("segment.entered", "seg-python"),
            ("segment.entered", "seg-berlin-python"),
        ]
        assert topics(events, "cand-06") == [
            ("segment.entered", "seg-python"),
            ("segment.entered", "seg-vip"),
            ("segment.exited", "seg-vip"),
            ("segment.exited", "seg-python"),
            ("segment.entered", "seg-vip"),
        ]
        assert topics(events, "cand-05")[-4:] == [
            ("segment.exited", "seg-berlin"),
            ("segment.exited", "seg-python"),
            ("segment.exited", "seg-berlin-python"),
            ("segment.exited", "seg-vip"),
        ]
        # Re-entered within the batch: the membership is a new one.
        fields = ["candidate_id", "entered_at", "segment_id", "tenant_id"]
        assert ("acme", "seg-vip", "cand-06", True, fields) in expected["memberships"]
        assert expected["candidates"]["cand-06"]["segment_ids"] == ["seg-vip"]
        assert expected["candidates"]["cand-01"]["segment_ids"] == ["seg-vip", "seg-berlin"]
        assert ("acme", "seg-berlin", "cand-01", True, fields) in expected["memberships"]
        assert expected["candidates"]["cand-04"]["segments_recheck_at"] is not None
    else:
        assert topics(events, "cand-01")[-2:] == [
            ("segment.exited", "seg-python"),
            ("segment.exited", "seg-berlin-python"),
        ]
    # One timeline entry per segment event, before the batch and in it.
    assert len(expected["timeline"]) == len(events)

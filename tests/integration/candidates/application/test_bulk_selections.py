"""A selection added to a pool or tagged at once (one transaction, a few bulk writes) leaves what
adding or tagging each in turn leaves, against SecantusDB: the outcome of each id, the records,
the memberships and their history, the segments entered, the events and the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from crm_candidates.application.candidates import (
    CandidateProfiles,
    CandidateWriter,
    InactiveCandidateError,
    Tagging,
)
from crm_candidates.application.consent_flags import ConsentFlags
from crm_candidates.application.pools import PoolAdditions, PoolCommands
from crm_candidates.domain.models import Candidate, CandidateStatus, Segment, SegmentStatus
from crm_candidates.domain.pools import (
    AlreadyInPoolError,
    CandidateNotActiveError,
    CandidateNotFoundError,
    Pool,
)
from crm_candidates.domain.profile import changed_tags
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.collections import (
    CANDIDATES_COLLECTION,
    MEMBERSHIPS_COLLECTION,
    POOL_MEMBERSHIPS_COLLECTION,
    POOL_STAGE_CHANGES_COLLECTION,
    TIMELINE_COLLECTION,
)
from crm_candidates.repositories.pools import PoolRepository
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_shared import utc_now
from crm_shared.outbox import OUTBOX_COLLECTION
from integration.service_storage import ServiceStorage

pytestmark = pytest.mark.integration

TENANT = "acme"
STAGE = "Contacted"
PEOPLE = ("Ana", "Bo", "Cy", "Dee", "Eve")


def writer(storage: ServiceStorage) -> CandidateWriter:
    database = storage.database
    return CandidateWriter(
        storage.mongo,
        storage.outbox,
        CandidateRepository(database, TENANT),
        SegmentRepository(database, TENANT),
        ConsentFlags(database, storage.outbox, TENANT, recorded_by="rita"),
    )


def profiles(storage: ServiceStorage) -> CandidateProfiles:
    return CandidateProfiles(writer(storage), ProfileRulesRepository(storage.database, TENANT))


def pool_commands(storage: ServiceStorage) -> PoolCommands:
    pools = PoolRepository(storage.database, TENANT)
    return PoolCommands(storage.mongo, storage.outbox, pools, writer(storage))


async def a_group(storage: ServiceStorage, label: str) -> tuple[Pool, dict[str, str]]:
    """A pool with a segment of its `STAGE`, and five people: Dee a member already, Eve
    archived; their ids by name."""
    pool = Pool(
        tenant_id=TENANT,
        name=f"Pool {label}",
        stages=["New", STAGE],
        owner_ids=["rita"],
        created_by="rita",
    )
    await PoolRepository(storage.database, TENANT).add(pool)
    rule = {
        "all": [{"field": "pools", "op": "in_pool", "value": {"pool_id": pool.id, "stage": STAGE}}]
    }
    await SegmentRepository(storage.database, TENANT).add(
        Segment(
            tenant_id=TENANT,
            name=f"Contacted in {label}",
            rule=rule,
            status=SegmentStatus.READY,
            created_by="rita",
        )
    )
    ids = {}
    for name in PEOPLE:
        upserted = await profiles(storage).create(
            {"first_name": name, "last_name": label, "emails": [f"{name}.{label}@example.org"]},
            default_region=None,
            tenant_id=TENANT,
            user_id="rita",
            owner_id=None,
        )
        ids[name] = upserted.candidate.id
    await pool_commands(storage).add(pool, ids["Dee"], "New", by="rita")
    await profiles(storage).set_status(ids["Eve"], CandidateStatus.ARCHIVED)
    return pool, ids


def selection(ids: dict[str, str]) -> list[str]:
    """Everyone, Bo twice, and an id of nobody."""
    return [ids["Ana"], ids["Bo"], ids["Bo"], ids["Dee"], ids["Eve"], "nobody", ids["Cy"]]


async def effects(
    storage: ServiceStorage, ids: dict[str, str], since: datetime, pool: Pool | None = None
) -> dict[str, Any]:
    """What happened to each person since `since`, with ids, times and names of the group left
    out so two groups compare."""
    database = storage.database
    found: dict[str, Any] = {}
    for name, candidate_id in ids.items():
        record = await database[CANDIDATES_COLLECTION].find_one({"_id": candidate_id})
        assert record is not None
        member = await database[POOL_MEMBERSHIPS_COLLECTION].find_one(
            {"pool_id": pool.id if pool else None, "candidate_id": candidate_id}
        )
        events = (
            await database[OUTBOX_COLLECTION]
            .find({"key": candidate_id, "created_at": {"$gte": since}})
            .to_list()
        )
        timeline = (
            await database[TIMELINE_COLLECTION]
            .find({"candidate_id": candidate_id, "occurred_at": {"$gte": since}})
            .to_list()
        )
        segments = (
            await database[MEMBERSHIPS_COLLECTION].find({"candidate_id": candidate_id}).to_list()
        )
        history = (
            await database[POOL_STAGE_CHANGES_COLLECTION]
            .find({"pool_id": pool.id if pool else None, "candidate_id": candidate_id})
            .to_list()
        )
        found[name] = {
            "tags": record.get("tags"),
            "stages": [p.get("stage") for p in record.get("pools", [])],
            "member": (member or {}).get("stage"),
            "history": sorted((h.get("from_stage"), h.get("to_stage")) for h in history),
            "segments": len(segments),
            "events": sorted(event["topic"] for event in events),
            "timeline": sorted(entry["type"] for entry in timeline),
        }
    return found


def named(outcome: PoolAdditions | Tagging, ids: dict[str, str]) -> dict[str, list[str]]:
    names = {candidate_id: name for name, candidate_id in ids.items()}
    return {field: [names.get(one, one) for one in value] for field, value in vars(outcome).items()}


async def test_a_selection_added_at_once_is_as_if_added_one_by_one(
    storage: ServiceStorage,
) -> None:
    bulk_pool, bulk_ids = await a_group(storage, "bulk")
    each_pool, each_ids = await a_group(storage, "each")
    commands = pool_commands(storage)
    since = utc_now()

    at_once = await commands.add_many(bulk_pool, selection(bulk_ids), STAGE, by="rita")

    one_by_one = PoolAdditions([], [], [], [])
    for candidate_id in dict.fromkeys(selection(each_ids)):
        try:
            await commands.add(each_pool, candidate_id, STAGE, by="rita")
        except AlreadyInPoolError:
            one_by_one.already_members.append(candidate_id)
        except CandidateNotFoundError:
            one_by_one.unknown.append(candidate_id)
        except CandidateNotActiveError:
            one_by_one.not_active.append(candidate_id)
        else:
            one_by_one.added.append(candidate_id)

    assert named(at_once, bulk_ids) == {
        "added": ["Ana", "Bo", "Cy"],
        "already_members": ["Dee"],
        "unknown": ["nobody"],
        "not_active": ["Eve"],
    }
    assert named(at_once, bulk_ids) == named(one_by_one, each_ids)
    bulk = await effects(storage, bulk_ids, since, bulk_pool)
    assert bulk == await effects(storage, each_ids, since, each_pool)
    # What an addition is: the stage on the record and the membership, its history, the
    # segment of the stage entered, and the events and timeline entry of each.
    assert bulk["Ana"] == {
        "tags": [],
        "stages": [STAGE],
        "member": STAGE,
        "history": [(None, STAGE)],
        "segments": 1,
        "events": ["candidate.updated", "pool.stage_changed", "segment.entered"],
        "timeline": ["segment.entered"],
    }
    assert bulk["Dee"]["member"] == "New"


async def test_a_selection_tagged_at_once_is_as_if_tagged_one_by_one(
    storage: ServiceStorage,
) -> None:
    _, bulk_ids = await a_group(storage, "bulk")
    _, each_ids = await a_group(storage, "each")
    candidates = profiles(storage)
    for ids in (bulk_ids, each_ids):
        await candidates.change(ids["Dee"], {"tags": ["Shortlist"]}, default_region=None)
    since = utc_now()

    at_once = await candidates.tag(selection(bulk_ids), ["shortlist", "Q1"])
    one_by_one = await tag_each(writer(storage), selection(each_ids), ["shortlist", "Q1"])

    assert named(at_once, bulk_ids) == {
        "tagged": ["Ana", "Bo", "Dee", "Cy"],
        "already_tagged": [],
        "unknown": ["nobody"],
        "not_active": ["Eve"],
    }
    assert named(at_once, bulk_ids) == named(one_by_one, each_ids)
    bulk = await effects(storage, bulk_ids, since)
    assert bulk == await effects(storage, each_ids, since)
    assert bulk["Dee"]["tags"] == ["Shortlist", "Q1"]
    assert bulk["Ana"]["events"] == ["candidate.updated"]
    assert bulk["Ana"]["timeline"] == ["candidate.tags_changed"]
    again = await candidates.tag([bulk_ids["Ana"]], ["SHORTLIST"])
    assert named(again, bulk_ids)["already_tagged"] == ["Ana"]


async def tag_each(writer: CandidateWriter, candidate_ids: list[str], tags: list[str]) -> Tagging:
    """Tagging as it was done before the bulk write: one change (transaction) per person."""
    outcome = Tagging([], [], [], [])
    holding: set[str] = set()

    def apply(candidate: Candidate) -> Candidate:
        if not candidate.is_active:
            raise InactiveCandidateError(candidate)
        tagged = changed_tags(candidate.tags, add=tags, remove=())
        if tagged == candidate.tags:
            holding.add(candidate.id)
        return candidate.model_copy(update={"tags": tagged})

    for candidate_id in dict.fromkeys(candidate_ids):
        try:
            changed = await writer.change(candidate_id, apply)
        except InactiveCandidateError:
            outcome.not_active.append(candidate_id)
            continue
        if changed is None:
            outcome.unknown.append(candidate_id)
        elif candidate_id in holding:
            outcome.already_tagged.append(candidate_id)
        else:
            outcome.tagged.append(candidate_id)
    return outcome

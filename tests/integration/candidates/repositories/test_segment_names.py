"""A segment's name is unique among its tenant's segments not deleted, case and spacing aside
(a unique index, so two saves at once cannot both take it); migration 13 names the segments
stored before, the oldest of several sharing a name keeping it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.models import DuplicateKeyInTenantError, Segment
from crm_candidates.repositories.collections import SEGMENTS_COLLECTION
from crm_candidates.repositories.indexes import ensure_indexes
from crm_candidates.repositories.segments import SegmentRepository, name_segments
from crm_shared import Database, create_mongo_client
from helpers import unique

pytestmark = pytest.mark.integration

RULE = {"all": [{"field": "tags", "op": "equals", "value": "zürich"}]}


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[Database]:
    settings = CandidatesSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("names"))
    mongo = create_mongo_client(settings)
    database = mongo[settings.mongodb_database]
    await ensure_indexes(database)
    yield database
    await mongo.close()


def segment(name: str, tenant: str = "t1") -> Segment:
    return Segment(tenant_id=tenant, name=name, rule=RULE, created_by="alice")


async def test_a_name_is_taken_once_per_tenant_until_its_segment_is_deleted(
    database: Database,
) -> None:
    acme = SegmentRepository(database, "t1")
    first = segment("Développeurs à Zürich")
    await acme.add(first)
    with pytest.raises(DuplicateKeyInTenantError):
        await acme.add(segment("  développeurs   À ZÜRICH "))
    # Another tenant's segments are another matter.
    await SegmentRepository(database, "t2").add(segment("Développeurs à Zürich", "t2"))

    # Renamed onto another's name: refused; renamed to its own name in another case: taken.
    other = segment("Berlin")
    await acme.add(other)
    with pytest.raises(DuplicateKeyInTenantError):
        await acme.redefine(other.model_copy(update={"name": "développeurs à zürich"}))
    await acme.redefine(first.model_copy(update={"name": "DÉVELOPPEURS À ZÜRICH"}))

    # Two saves at once: one takes the name.
    racing = await asyncio.gather(
        acme.add(segment("Paris")), acme.add(segment("paris")), return_exceptions=True
    )
    assert sum(isinstance(outcome, DuplicateKeyInTenantError) for outcome in racing) == 1

    # A deleted segment frees its name.
    assert await acme.mark_deleted(first.id) is not None
    await acme.add(segment("Développeurs à Zürich"))


async def test_segments_stored_before_get_their_names_the_oldest_first(
    database: Database,
) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    stored = [
        ("s-old", "t1", "Nordics", start, "ready"),
        ("s-new", "t1", "nordics ", start + timedelta(days=1), "ready"),
        ("s-gone", "t1", "Nordics", start - timedelta(days=1), "deleting"),
        ("s-t2", "t2", "Nordics", start + timedelta(days=2), "ready"),
    ]
    await database[SEGMENTS_COLLECTION].insert_many(
        [
            {"_id": sid, "tenant_id": tenant, "name": name, "rule": RULE, "status": status}
            | {"created_by": "alice", "created_at": created}
            for sid, tenant, name, created, status in stored
        ]
    )
    await name_segments(database)
    keys = {
        document["_id"]: document.get("name_key")
        for document in await database[SEGMENTS_COLLECTION].find().to_list()
    }
    assert keys == {"s-old": "nordics", "s-new": None, "s-gone": None, "s-t2": "nordics"}
    # The one left without a key takes one when renamed, and may not take the name it shares.
    acme = SegmentRepository(database, "t1")
    [newer] = [s for s in await acme.all() if s.id == "s-new"]
    with pytest.raises(DuplicateKeyInTenantError):
        await acme.redefine(newer)
    await acme.redefine(newer.model_copy(update={"name": "Nordics (2)"}))

"""Candidates stored before segment references get their memberships mirrored at start."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_candidates.repositories.candidates import backfill_segment_ids
from helpers import unique

pytestmark = pytest.mark.integration


async def test_older_candidates_get_their_segment_ids_from_the_memberships(
    mongodb_uri: str,
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[unique("segment_backfill")]
    await database["candidates"].insert_many(
        [
            {"_id": "c1", "tenant_id": "t1", "first_name": "Old"},
            {"_id": "c2", "tenant_id": "t1", "first_name": "Loner"},
            {"_id": "c3", "tenant_id": "t2", "first_name": "New", "segment_ids": ["s9"]},
        ]
    )
    await database["segment_memberships"].insert_many(
        [
            {"tenant_id": "t1", "segment_id": "s2", "candidate_id": "c1"},
            {"tenant_id": "t1", "segment_id": "s1", "candidate_id": "c1"},
            # Another tenant's membership naming the same candidate id is not this candidate's.
            {"tenant_id": "t2", "segment_id": "s3", "candidate_id": "c1"},
        ]
    )
    await backfill_segment_ids(database, batch=1)
    stored = {d["_id"]: d.get("segment_ids") for d in await database["candidates"].find().to_list()}
    assert stored == {"c1": ["s1", "s2"], "c2": [], "c3": ["s9"]}
    await client.close()

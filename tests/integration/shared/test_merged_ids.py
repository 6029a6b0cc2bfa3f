"""The merged-id map every service keeps from `candidate.merged`/`unmerged`: merges of merges
are followed to the survivor now, in both directions, the undo of a merge removes only that
merge's entry, the tenant's other records are never read, and the walk in the database agrees
with the walk in memory (analytics' `MergeMap`) step for step, chain bound included."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_analytics.domain.merge_map import MergeMap
from crm_shared import MAX_MERGE_CHAIN, MergedIds, ensure_merged_id_indexes
from helpers import unique

pytestmark = pytest.mark.integration


async def test_merges_are_followed_undone_one_by_one_and_walk_as_in_memory(
    mongodb_uri: str,
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    collection = client[unique("merged")]["merged_ids"]
    await ensure_merged_id_indexes(collection)
    acme = MergedIds(collection, "acme")
    globex = MergedIds(collection, "globex")
    async with client.start_session() as session:
        await acme.record("b", "a", "m1", session=session)
        await acme.record("c", "b", "m2", session=session)
        await acme.record("c", "b", "m2", session=session)  # a redelivery writes the same
        await acme.record("x", "y", "m3", session=session)
        await globex.record("a", "z", "g1", session=session)

        assert await acme.survivors_of(["a", "b", "c", "x", "q"]) == {
            "b": "a",
            "c": "a",
            "x": "y",
        }
        assert await acme.absorbed_by(["a"]) == {"b": "a", "c": "a"}
        assert await acme.every_merge() == {"b": "a", "c": "b", "x": "y"}
        assert await globex.survivors_of(["b", "c"]) == {}

        # The late undo of an older merge of c (m9) leaves its newer merge in place.
        await acme.forget("m9", "c", session=session)
        assert await acme.survivors_of(["c"]) == {"c": "a"}
        await acme.forget("m1", "b", session=session)
        assert await acme.survivors_of(["b", "c"]) == {"c": "b"}

        chain = [f"r{n:02d}" for n in range(MAX_MERGE_CHAIN + 2)]
        for number, (merged, survivor) in enumerate(pairwise(chain)):
            await globex.record(merged, survivor, f"chain{number}", session=session)
    in_memory = MergeMap(await globex.every_merge())
    asked = [chain[0], chain[5], "a", "nobody"]
    assert await globex.survivors_of(asked) == in_memory.survivors_of(asked)
    assert (await globex.survivors_of([chain[0]]))[chain[0]] == chain[MAX_MERGE_CHAIN]
    assert await globex.absorbed_by([chain[-1]]) == in_memory.absorbed_by([chain[-1]])
    await client.close()

"""Re-keying a service's records when two candidates are merged, and back when undone.

Every service holding data by candidate id consumes `candidate.merged` and moves what it holds
under the merged id to the survivor. Each moved record remembers the merge and the values it had
before (a list, since a record moved by one merge may be moved again by a later one), so
`candidate.unmerged` moves exactly those records back. Both are idempotent.
"""

from __future__ import annotations

from typing import Any

from crm_shared.mongo import Document, Session
from crm_shared.repository import TenantScopedCollection

MERGES_FIELD = "merges"


def moved_by(merge_id: str, before: Document, change: dict[str, Any]) -> dict[str, Any]:
    """The `$push` that records what `change` overwrites in `before`, for an undo."""
    return {MERGES_FIELD: {"merge_id": merge_id, "previous": {k: before.get(k) for k in change}}}


async def move_to_survivor(
    collection: TenantScopedCollection,
    merged_id: str,
    survivor_id: str,
    merge_id: str,
    *,
    session: Session,
    field: str = "candidate_id",
) -> int:
    """Re-keys every record of the merged candidate to the survivor; returns how many."""
    result = await collection.update_many(
        {field: merged_id},
        {
            "$set": {field: survivor_id},
            "$push": {MERGES_FIELD: {"merge_id": merge_id, "previous": {field: merged_id}}},
        },
        session=session,
    )
    return result.modified_count


async def give_back(collection: TenantScopedCollection, merge_id: str, *, session: Session) -> int:
    """Puts back the values a merge changed in the records it moved; returns how many."""
    moved = await collection.find({f"{MERGES_FIELD}.merge_id": merge_id}, session=session)
    for document in moved:
        [entry] = [e for e in document[MERGES_FIELD] if e["merge_id"] == merge_id]
        await collection.update_one(
            {"_id": document["_id"]},
            {"$set": entry["previous"], "$pull": {MERGES_FIELD: {"merge_id": merge_id}}},
            session=session,
        )
    return len(moved)

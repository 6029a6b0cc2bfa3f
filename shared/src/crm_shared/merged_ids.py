"""Which candidate a merged-away id stands for now, kept by a service from `candidate.merged`
and `candidate.unmerged`.

A service that re-keys its records to the survivor (`crm_shared.merges`) no longer holds
anything under the merged id, so without this map a late event about that id, or a request
naming it, would look like one about an unknown candidate. One entry per merged id: the
survivor it was folded into and the merge that did it (so that only that merge's undo removes
it). A survivor merged away later in turn is followed, up to `MAX_MERGE_CHAIN` steps.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from crm_shared.mongo import Document, Session
from crm_shared.repository import TenantScopedCollection

# Merges of merges are rare; a chain longer than this is cut (its end is still a candidate),
# which also keeps a corrupt cycle from looping.
MAX_MERGE_CHAIN = 16
# What following a merge needs of an entry.
_LINK = {"_id": 0, "merged_id": 1, "survivor_id": 1}


async def ensure_merged_id_indexes(collection: AsyncCollection[Document]) -> None:
    """One entry per merged id; found by merge (its undo) and by survivor (the ids it took)."""
    await collection.create_index([("tenant_id", ASCENDING), ("merged_id", ASCENDING)], unique=True)
    await collection.create_index([("tenant_id", ASCENDING), ("merge_id", ASCENDING)])
    await collection.create_index([("tenant_id", ASCENDING), ("survivor_id", ASCENDING)])


class MergedIds:
    """One tenant's merged-away ids in `collection`, each with its survivor and merge."""

    def __init__(self, collection: AsyncCollection[Document], tenant_id: str) -> None:
        self._merged = TenantScopedCollection(collection, tenant_id)

    async def record(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """The merged id stands for the survivor from now on (idempotent: a redelivery writes
        the same)."""
        await self._merged.update_one(
            {"merged_id": merged_id},
            {"$set": {"survivor_id": survivor_id, "merge_id": merge_id}},
            upsert=True,
            session=session,
        )

    async def forget(self, merge_id: str, restored_id: str, *, session: Session) -> None:
        """An undone merge: the restored id stands for itself again. Only this merge's entry
        goes, so the late undo of an older merge leaves a newer merge of the id in place."""
        await self._merged.delete_one(
            {"merged_id": restored_id, "merge_id": merge_id}, session=session
        )

    async def survivors_of(
        self, candidate_ids: Sequence[str], *, session: Session | None = None
    ) -> dict[str, str]:
        """For each of the ids that was merged away, the candidate it stands for now."""
        current = {candidate_id: candidate_id for candidate_id in candidate_ids}
        pending = set(candidate_ids)
        for _ in range(MAX_MERGE_CHAIN):
            if not pending:
                break
            found = await self._merged.find_among(
                "merged_id", sorted(pending), projection=_LINK, session=session
            )
            if not found:
                break
            step = {str(d["merged_id"]): str(d["survivor_id"]) for d in found}
            current = {origin: step.get(now, now) for origin, now in current.items()}
            pending = set(step.values())
        return {origin: now for origin, now in current.items() if origin != now}

    async def absorbed_by(self, survivor_ids: Sequence[str]) -> dict[str, str]:
        """Every id merged (directly or through a chain) into one of the survivors, with the
        survivor it stands for now."""
        absorbed: dict[str, str] = {}
        survivors = set(survivor_ids)
        frontier = {survivor_id: survivor_id for survivor_id in survivor_ids}
        for _ in range(MAX_MERGE_CHAIN):
            if not frontier:
                break
            found = await self._merged.find_among("survivor_id", sorted(frontier), projection=_LINK)
            step = {
                str(d["merged_id"]): frontier[d["survivor_id"]]
                for d in found
                if d["merged_id"] not in absorbed and d["merged_id"] not in survivors
            }
            absorbed |= step
            frontier = step
        return absorbed

    async def every_merge(self) -> dict[str, str]:
        """The tenant's merges now in one read, merged id to survivor: for a report resolving
        more ids than the tenant has merged ones (merged records are a small share)."""
        found = await self._merged.find({}, projection=_LINK)
        return {str(d["merged_id"]): str(d["survivor_id"]) for d in found}

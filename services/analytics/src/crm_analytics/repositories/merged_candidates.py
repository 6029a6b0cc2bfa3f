"""MongoDB access to which candidate a merged record's id stands for now, from
`candidate.merged` and `candidate.unmerged`: a late activity of a merged id is the survivor's
(engagement), and a merged record's registrations and applications are the survivor's (the
event reports, resolved when a report is read)."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING

from crm_analytics.domain.merge_map import MAX_MERGE_CHAIN, MergeMap
from crm_shared import Database, Session, TenantScopedCollection

# The name is deployed state: the engagement score kept this map before the event reports.
MERGED_COLLECTION = "engagement_merged_candidates"
# What following a merge needs of an entry. Many ids at once (a funnel's cohort) read the
# tenant's entries whole when there are fewer of them than ids (`find_among`).
_LINK = {"_id": 0, "merged_id": 1, "survivor_id": 1}


async def ensure_merged_candidate_indexes(database: Database) -> None:
    """One entry per merged id; found by merge (its undo) and by survivor (the ids it took)."""
    merged = database[MERGED_COLLECTION]
    await merged.create_index([("tenant_id", ASCENDING), ("merged_id", ASCENDING)], unique=True)
    await merged.create_index([("tenant_id", ASCENDING), ("merge_id", ASCENDING)])
    await merged.create_index([("tenant_id", ASCENDING), ("survivor_id", ASCENDING)])


class MergedCandidateRepository:
    """One tenant's merged ids, each with the survivor it was folded into and the merge."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._merged = TenantScopedCollection(database[MERGED_COLLECTION], tenant_id)

    async def record(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """The merged id stands for the survivor from now on (idempotent)."""
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
        """For each of the ids that was merged away, the candidate it stands for now (a
        survivor merged away later in turn is followed; each undo removes only its own step)."""
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
            step = {d["merged_id"]: d["survivor_id"] for d in found}
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
                d["merged_id"]: frontier[d["survivor_id"]]
                for d in found
                if d["merged_id"] not in absorbed and d["merged_id"] not in survivors
            }
            absorbed |= step
            frontier = step
        return absorbed

    async def every_merge(self) -> MergeMap:
        """The tenant's merges now, in one read: for a report resolving more ids than the
        tenant has merged ones (merged records are a small share of its candidates)."""
        found = await self._merged.find({}, projection=_LINK)
        return MergeMap({d["merged_id"]: d["survivor_id"] for d in found})

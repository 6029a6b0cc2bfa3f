"""MongoDB access to which candidate each merged-away id was folded into, kept from
`candidate.merged` and `candidate.unmerged` (campaigns moves such an id's recipient away, so
without it a merged-away id would look merely unknown)."""

from __future__ import annotations

from collections.abc import Sequence

from crm_campaigns.repositories.collections import MERGED_CANDIDATES
from crm_shared import Database, Session, TenantScopedCollection

# Merges of merges are few; the bound only keeps a corrupt cycle from looping.
_MAX_CHAIN = 10


class MergedCandidateRepository:
    """One tenant's merged-away ids, each with the survivor it was folded into and the merge."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._merged = TenantScopedCollection(database[MERGED_CANDIDATES], tenant_id)

    async def record(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """The id was merged into the survivor (idempotent: a redelivery writes the same)."""
        await self._merged.update_one(
            {"merged_id": merged_id},
            {"$set": {"survivor_id": survivor_id, "merge_id": merge_id}},
            upsert=True,
            session=session,
        )

    async def forget(self, merge_id: str, restored_id: str, *, session: Session) -> None:
        """An undone merge: the restored id is a record of its own again. Only this merge's
        entry goes, so the late undo of an older merge leaves a newer one in place."""
        await self._merged.delete_one(
            {"merged_id": restored_id, "merge_id": merge_id}, session=session
        )

    async def survivors_of(
        self, candidate_ids: Sequence[str], *, session: Session | None = None
    ) -> dict[str, str]:
        """For each of the ids that was merged away, the record it stands for now (a survivor
        merged away later in turn is followed)."""
        current = {candidate_id: candidate_id for candidate_id in candidate_ids}
        pending = set(candidate_ids)
        for _ in range(_MAX_CHAIN):
            if not pending:
                break
            found = await self._merged.find_in("merged_id", sorted(pending), session=session)
            step = {str(d["merged_id"]): str(d["survivor_id"]) for d in found}
            current = {origin: step.get(now, now) for origin, now in current.items()}
            pending = set(step.values())
        return {origin: now for origin, now in current.items() if origin != now}

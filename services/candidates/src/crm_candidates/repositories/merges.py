"""Merges of candidate records, with what undoing one needs."""

from __future__ import annotations

from typing import Any

from crm_candidates.domain.models import Merge, MergeSnapshot
from crm_candidates.repositories.collections import MERGES_COLLECTION
from crm_shared import Database, Session, TenantScopedCollection, from_document, to_document


class MergeRepository:
    """One tenant's merges, each with the snapshot an undo restores."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._merges = TenantScopedCollection(database[MERGES_COLLECTION], tenant_id)

    async def add(self, merge: Merge, snapshot: MergeSnapshot, *, session: Session) -> None:
        """Stores a merge with the records and identity keys as they were before it."""
        await self._merges.insert_one(
            to_document(merge) | {"snapshot": snapshot.as_document()}, session=session
        )

    async def get(self, merge_id: str, *, session: Session | None = None) -> Merge | None:
        """The merge with this id, if the tenant has it."""
        document = await self._merges.find_one({"_id": merge_id}, session=session)
        return _merge_from_document(document) if document else None

    async def snapshot(self, merge_id: str, *, session: Session) -> MergeSnapshot | None:
        """What the two records were before the merge."""
        document = await self._merges.find_one({"_id": merge_id}, session=session)
        return MergeSnapshot.from_document(document["snapshot"]) if document else None

    async def mark_undone(self, merge: Merge, *, session: Session) -> None:
        """Records that the merge was undone, and by whom."""
        await self._merges.update_one(
            {"_id": merge.id},
            {
                "$set": {
                    "status": merge.status.value,
                    "undone_at": merge.undone_at,
                    "undone_by": merge.undone_by,
                }
            },
            session=session,
        )


def _merge_from_document(document: dict[str, Any]) -> Merge:
    return from_document(Merge, {k: v for k, v in document.items() if k != "snapshot"})

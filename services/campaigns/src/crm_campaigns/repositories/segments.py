"""The projection of segment membership."""

from __future__ import annotations

from crm_campaigns.repositories.collections import (
    SEGMENT_MEMBERS,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    utc_now,
)


class SegmentMemberRepository:
    """The tenant's projection of segment membership, from segment.entered / segment.exited."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._members = TenantScopedCollection(database[SEGMENT_MEMBERS], tenant_id)

    async def enter(self, segment_id: str, candidate_id: str, *, session: Session) -> None:
        await self._members.update_one(
            {"segment_id": segment_id, "candidate_id": candidate_id},
            {"$setOnInsert": {"entered_at": utc_now()}},
            upsert=True,
            session=session,
        )

    async def exit(self, segment_id: str, candidate_id: str, *, session: Session) -> None:
        await self._members.delete_one(
            {"segment_id": segment_id, "candidate_id": candidate_id}, session=session
        )

    async def member_ids(self, segment_id: str) -> list[str]:
        """The candidate ids in a segment now (a broadcast's audience snapshot)."""
        documents = await self._members.find(
            {"segment_id": segment_id}, projection={"candidate_id": 1}
        )
        return [document["candidate_id"] for document in documents]

    async def members(self, segment_id: str, *, session: Session) -> list[str]:
        documents = await self._members.find({"segment_id": segment_id}, session=session)
        return [document["candidate_id"] for document in documents]

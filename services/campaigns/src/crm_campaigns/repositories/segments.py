"""The projection of segment membership."""

from __future__ import annotations

from crm_campaigns.repositories.collections import (
    SEGMENT_ENROLMENT_GUARDS,
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
        self._guards = TenantScopedCollection(database[SEGMENT_ENROLMENT_GUARDS], tenant_id)

    async def guard_enrolments(self, segment_id: str, *, session: Session) -> None:
        """Writes the segment's guard document, so that a transaction enrolling the segment's
        members and one recording a new member cannot both commit: under snapshot isolation
        each reads before the other's write, so the new sequence would miss the new member and
        the member would miss the new sequence. The later of the two meets a write conflict
        and is retried by the driver, now seeing the other's write."""
        await self._guards.update_one(
            {"segment_id": segment_id}, {"$inc": {"writes": 1}}, upsert=True, session=session
        )

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

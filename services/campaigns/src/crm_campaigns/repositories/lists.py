"""The projection of stored list membership (broadcast audiences)."""

from __future__ import annotations

from datetime import datetime

from crm_campaigns.repositories.collections import (
    ARCHIVED_LISTS,
    LIST_MEMBERS,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    utc_now,
)


class StoredListRepository:
    """The tenant's projection of stored static lists (owned by the candidates service): who
    is on each, from list.member_added / list.member_removed, and which were archived."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._members = TenantScopedCollection(database[LIST_MEMBERS], tenant_id)
        self._archived = TenantScopedCollection(database[ARCHIVED_LISTS], tenant_id)

    async def record(
        self,
        list_id: str,
        candidate_id: str,
        *,
        member: bool,
        changed_at: datetime,
        session: Session,
    ) -> None:
        """Records an addition (`member`) or a removal made at `changed_at`, unless a later
        change of the same membership is recorded already.

        Additions and removals arrive on two topics, so a removal may be consumed before the
        addition it undoes; comparing their times keeps the latest, and a removal is kept (as
        `member: false`) for that comparison."""
        key = {"list_id": list_id, "candidate_id": candidate_id}
        # MongoDB keeps milliseconds: compare at that precision.
        at = changed_at.replace(microsecond=changed_at.microsecond // 1000 * 1000)
        current = await self._members.find_one(key, session=session)
        if current is not None and current.get("changed_at") is not None:
            recorded = current["changed_at"]
            if recorded.tzinfo is None:
                recorded = recorded.replace(tzinfo=at.tzinfo)
            if recorded >= at:
                return
        await self._members.update_one(
            key,
            {"$set": {"member": member, "changed_at": at}, "$setOnInsert": {"added_at": utc_now()}},
            upsert=True,
            session=session,
        )

    async def member_ids(self, list_id: str) -> list[str]:
        """The candidate ids on the list now (a broadcast's audience snapshot)."""
        documents = await self._members.find(
            {"list_id": list_id, "member": {"$ne": False}}, projection={"candidate_id": 1}
        )
        return [document["candidate_id"] for document in documents]

    async def archive(self, list_id: str, archived_at: datetime, *, session: Session) -> None:
        await self._archived.update_one(
            {"_id": list_id}, {"$set": {"archived_at": archived_at}}, upsert=True, session=session
        )

    async def is_archived(self, list_id: str) -> bool:
        return await self._archived.find_one({"_id": list_id}) is not None

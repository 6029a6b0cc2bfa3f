"""Messages: every mail rendered for a candidate, and its engagement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_campaigns.domain.models import (
    Message,
    MessageFilter,
    MessageSort,
)
from crm_campaigns.repositories.collections import (
    MESSAGES,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    give_back,
    move_to_survivor,
)


class MessageRepository:
    """The tenant's messages."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._messages = TenantScopedCollection(database[MESSAGES], tenant_id)

    async def get(self, message_id: str, *, session: Session | None = None) -> Message | None:
        document = await self._messages.find_one({"_id": message_id}, session=session)
        return from_document(Message, document) if document else None

    async def page(
        self,
        shown: MessageFilter,
        *,
        after: str | None,
        limit: int,
        sort: MessageSort = MessageSort.CREATED_AT,
    ) -> list[Message]:
        """One page in id order (creation order), oldest or newest first: keyset pages
        resuming after the id `after`."""
        newest_first = sort is MessageSort.NEWEST_FIRST
        query: dict[str, Any] = {}
        if shown.candidate_id:
            query["candidate_id"] = shown.candidate_id
        if shown.broadcast_id:
            query["broadcast_id"] = shown.broadcast_id
        if shown.sequence_id:
            query["sequence_id"] = shown.sequence_id
        if shown.status:
            query["status"] = shown.status.value
        if shown.replied is not None:
            query["replied_at"] = {"$ne": None} if shown.replied else None
        if after:
            query["_id"] = {"$lt" if newest_first else "$gt": after}
        documents = await self._messages.find(
            query, sort=[("_id", DESCENDING if newest_first else ASCENDING)], limit=limit
        )
        return [from_document(Message, d) for d in documents]

    async def fold_into(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """A merge: the merged candidate's messages become the survivor's history."""
        await move_to_survivor(self._messages, merged_id, survivor_id, merge_id, session=session)

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the messages a merge moved go back to their own candidate."""
        await give_back(self._messages, merge_id, session=session)

    async def count_engagement(self, message_id: str, field: str, *, session: Session) -> None:
        """Adds one open or click to a message's tally."""
        await self._messages.update_one({"_id": message_id}, {"$inc": {field: 1}}, session=session)

    async def record_click(
        self,
        message_id: str,
        link_index: int,
        at: datetime,
        automated: bool,
        *,
        session: Session,
    ) -> None:
        """Counts a click and remembers it, so a scanner's burst over every link shows."""
        await self._messages.update_one(
            {"_id": message_id},
            {
                "$inc": {"automated_clicks" if automated else "clicks": 1},
                "$set": {"last_click_index": link_index, "last_click_at": at},
            },
            session=session,
        )

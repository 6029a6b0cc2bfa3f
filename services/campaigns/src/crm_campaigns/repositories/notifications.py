"""In-app notifications of the tenant's users."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from crm_campaigns.domain.models import (
    Notification,
    read_notification_page_key,
)
from crm_campaigns.repositories.collections import (
    NOTIFICATIONS,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    give_back,
    move_to_survivor,
    to_document,
    utc_now,
)


class NotificationRepository:
    """The tenant's notifications for recruiters."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._notifications = TenantScopedCollection(database[NOTIFICATIONS], tenant_id)

    async def add(self, notification: Notification, *, session: Session) -> None:
        await self._notifications.insert_one(to_document(notification), session=session)

    async def exists(self, notification_id: str, *, session: Session) -> bool:
        found = await self._notifications.find_one({"_id": notification_id}, session=session)
        return found is not None

    async def page(
        self, user_id: str, *, unread_only: bool, after: str | None, limit: int
    ) -> list[Notification]:
        """The user's notifications in the order they were made (`after`: the
        `notification_page_key` of the last one of the previous page). Ids do not follow time
        (a step's is its enrolment's, a reply's a digest), so the order is `created_at`, then
        the id."""
        query: dict[str, Any] = {"user_id": user_id}
        if unread_only:
            query["read_at"] = None
        if after:
            at, last_id = read_notification_page_key(after)
            query["$or"] = [
                {"created_at": {"$gt": at}},
                {"created_at": at, "_id": {"$gt": last_id}},
            ]
        documents = await self._notifications.find(
            query, sort=[("created_at", ASCENDING), ("_id", ASCENDING)], limit=limit
        )
        return [from_document(Notification, d) for d in documents]

    async def fold_into(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """A merge: notifications about the merged record (a `notify_owner` step's, a reply's)
        are about the survivor, so their link opens the record that is kept."""
        await move_to_survivor(
            self._notifications, merged_id, survivor_id, merge_id, session=session
        )

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the notifications a merge moved go back to their own candidate."""
        await give_back(self._notifications, merge_id, session=session)

    async def mark_read(self, user_id: str, notification_id: str) -> Notification | None:
        """Marks one of the user's notifications read (once); None if the user has no such one."""
        await self._notifications.update_one(
            {"_id": notification_id, "user_id": user_id, "read_at": None},
            {"$set": {"read_at": utc_now()}},
        )
        document = await self._notifications.find_one({"_id": notification_id, "user_id": user_id})
        return from_document(Notification, document) if document else None

"""In-app notifications of the tenant's users."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from crm_campaigns.domain.models import (
    Notification,
)
from crm_campaigns.repositories.collections import (
    NOTIFICATIONS,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
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
        query: dict[str, Any] = {"user_id": user_id}
        if unread_only:
            query["read_at"] = None
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._notifications.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Notification, d) for d in documents]

    async def mark_read(self, user_id: str, notification_id: str) -> Notification | None:
        """Marks one of the user's notifications read (once); None if the user has no such one."""
        await self._notifications.update_one(
            {"_id": notification_id, "user_id": user_id, "read_at": None},
            {"$set": {"read_at": utc_now()}},
        )
        document = await self._notifications.find_one({"_id": notification_id, "user_id": user_id})
        return from_document(Notification, document) if document else None

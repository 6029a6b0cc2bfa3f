"""What became of each mail to an event's registrant (sent, suppressed, failed)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from crm_campaigns.domain.event_mail import EventMail, EventMailStatus
from crm_campaigns.repositories.collections import EVENT_MAILS
from crm_shared import Database, Session, TenantScopedCollection, from_document, utc_now


class EventMailRepository:
    """One tenant's event mail records."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._mails = TenantScopedCollection(database[EVENT_MAILS], tenant_id)

    async def get(self, mail_id: str, *, session: Session | None = None) -> EventMail | None:
        document = await self._mails.find_one({"_id": mail_id}, session=session)
        return from_document(EventMail, document) if document else None

    async def record(self, mail: EventMail, *, session: Session | None = None) -> None:
        """Stores what was done with a mail, counting the attempt (a retry after a failure
        replaces the failure)."""
        fields = mail.model_dump(exclude={"id", "tenant_id", "attempts"})
        await self._mails.update_one(
            {"_id": mail.id},
            {"$set": fields | {"recorded_at": utc_now()}, "$inc": {"attempts": 1}},
            upsert=True,
            session=session,
        )

    async def page(
        self,
        *,
        event_id: str | None,
        registration_id: str | None,
        status: EventMailStatus | None,
        after: str | None,
        limit: int,
    ) -> list[EventMail]:
        query: dict[str, Any] = {}
        if event_id:
            query["event_id"] = event_id
        if registration_id:
            query["registration_id"] = registration_id
        if status:
            query["status"] = status.value
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._mails.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(EventMail, d) for d in documents]

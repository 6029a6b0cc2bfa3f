"""The suppression list and the soft-bounce counts that feed it."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from crm_campaigns.domain.suppression import ListReason, Suppression
from crm_campaigns.repositories.collections import (
    SOFT_BOUNCES,
    SUPPRESSIONS,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
    utc_now,
)


class SuppressionRepository:
    """The tenant's suppression list (addresses by SHA-256, one entry per reason)."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._entries = TenantScopedCollection(database[SUPPRESSIONS], tenant_id)

    async def add(
        self, suppression: Suppression, *, refresh: bool = False, session: Session | None = None
    ) -> bool:
        """Lists an address for a reason unless it already is; True if newly listed.

        With `refresh`, an existing entry for the reason takes the new source, candidate,
        message and note (its id and creation time stay)."""
        document = {
            key: value
            for key, value in to_document(suppression).items()
            if key not in ("email_sha256", "reason", "tenant_id")
        }
        refreshed = ("source", "candidate_id", "message_id", "note") if refresh else ()
        update: dict[str, Any] = {
            "$setOnInsert": {k: v for k, v in document.items() if k not in refreshed}
        }
        if refresh:
            update["$set"] = {key: document[key] for key in refreshed}
        result = await self._entries.update_one(
            {"email_sha256": suppression.email_sha256, "reason": suppression.reason.value},
            update,
            upsert=True,
            session=session,
        )
        return result.upserted_id is not None

    async def reasons(
        self, email_sha256: str, *, session: Session | None = None
    ) -> set[ListReason]:
        """Every reason the address is suppressed for (empty when it is not)."""
        documents = await self._entries.find({"email_sha256": email_sha256}, session=session)
        return {ListReason(document["reason"]) for document in documents}

    async def remove(
        self, email_sha256: str, reason: ListReason, *, session: Session | None = None
    ) -> bool:
        """Takes an address off the list for one reason; True if it was listed for it."""
        result = await self._entries.delete_one(
            {"email_sha256": email_sha256, "reason": reason.value}, session=session
        )
        return result.deleted_count > 0

    async def get(self, suppression_id: str) -> Suppression | None:
        document = await self._entries.find_one({"_id": suppression_id})
        return from_document(Suppression, document) if document else None

    async def delete(self, suppression_id: str) -> bool:
        result = await self._entries.delete_one({"_id": suppression_id})
        return result.deleted_count > 0

    async def page(
        self,
        *,
        email_sha256: str | None,
        reason: ListReason | None,
        after: str | None,
        limit: int,
    ) -> list[Suppression]:
        query: dict[str, Any] = {}
        if email_sha256:
            query["email_sha256"] = email_sha256
        if reason:
            query["reason"] = reason.value
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._entries.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Suppression, d) for d in documents]


class SoftBounceRepository:
    """How often each address of the tenant bounced softly."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._counters = TenantScopedCollection(database[SOFT_BOUNCES], tenant_id)

    async def count(self, email_sha256: str, *, session: Session) -> int:
        """Adds one soft bounce of the address; returns how many it has had."""
        await self._counters.update_one(
            {"email_sha256": email_sha256},
            {"$inc": {"soft_bounces": 1}, "$set": {"last_bounce_at": utc_now()}},
            upsert=True,
            session=session,
        )
        document = await self._counters.find_one({"email_sha256": email_sha256}, session=session)
        return int(document["soft_bounces"]) if document else 1

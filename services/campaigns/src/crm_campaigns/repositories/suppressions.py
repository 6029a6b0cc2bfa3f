"""The suppression list and the soft-bounce counts that feed it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from crm_campaigns.domain.suppression import LiftedSuppression, ListReason, Suppression
from crm_campaigns.repositories.collections import (
    SOFT_BOUNCES,
    SUPPRESSION_LIFTS,
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
        self._lifts = TenantScopedCollection(database[SUPPRESSION_LIFTS], tenant_id)

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

    async def any_listed(
        self, digests: Sequence[str], reason: ListReason, *, session: Session | None = None
    ) -> bool:
        """Whether one of the addresses is on the list for `reason`."""
        if not digests:
            return False
        found = await self._entries.find_one(
            {"email_sha256": {"$in": list(digests)}, "reason": reason.value}, session=session
        )
        return found is not None

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

    async def lifted(self, suppression_id: str) -> LiftedSuppression | None:
        """An entry as it was when someone lifted it."""
        document = await self._lifts.find_one({"_id": suppression_id})
        return from_document(LiftedSuppression, document) if document else None

    async def lift(self, suppression_id: str, *, lifted_by: str, at: datetime) -> bool:
        """Takes the entry off the list, keeping it as it was listed with who lifted it and
        when; False when there was none. The record is written before the entry goes, so a
        failure in between leaves the entry listed (a retry lifts it), never gone unrecorded."""
        entry = await self.get(suppression_id)
        if entry is None:
            return False
        record = LiftedSuppression(**entry.model_dump(), lifted_at=at, lifted_by=lifted_by)
        await self._lifts.update_one(
            {"_id": suppression_id},
            {"$setOnInsert": {k: v for k, v in to_document(record).items() if k != "tenant_id"}},
            upsert=True,
        )
        result = await self._entries.delete_one({"_id": suppression_id})
        return result.deleted_count > 0

    @staticmethod
    def _query(
        *,
        email_sha256: str | None,
        reason: ListReason | None,
        candidate: tuple[str, Sequence[str]] | None,
    ) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if email_sha256:
            query["email_sha256"] = email_sha256
        if reason:
            query["reason"] = reason.value
        if candidate is not None:
            candidate_id, digests = candidate
            # The entries naming the person, and those of their addresses that name nobody
            # (listed by hand before they were on file, or by an erasure).
            query["$or"] = [{"candidate_id": candidate_id}]
            if digests:
                query["$or"].append({"email_sha256": {"$in": list(digests)}})
        return query

    async def page(
        self,
        *,
        email_sha256: str | None,
        reason: ListReason | None,
        after: str | None,
        limit: int,
        candidate: tuple[str, Sequence[str]] | None = None,
    ) -> list[Suppression]:
        """Up to `limit` entries, oldest first, after the id `after`; `candidate` is a
        candidate id with the digests of their addresses."""
        query = self._query(email_sha256=email_sha256, reason=reason, candidate=candidate)
        if after:
            query["_id"] = {"$gt": after}
        documents = await self._entries.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Suppression, d) for d in documents]

    async def walk(
        self,
        *,
        email_sha256: str | None,
        reason: ListReason | None,
        candidate: tuple[str, Sequence[str]] | None = None,
        batch: int,
    ) -> AsyncIterator[list[Suppression]]:
        """Every matching entry, oldest first, `batch` at a time from one cursor (an export)."""
        query = self._query(email_sha256=email_sha256, reason=reason, candidate=candidate)
        async for documents in self._entries.in_batches(
            query, batch=batch, sort=[("_id", ASCENDING)]
        ):
            yield [from_document(Suppression, d) for d in documents]


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

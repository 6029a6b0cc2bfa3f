"""MongoDB access to a tenant's rejected ATS payloads (`crm_ats_sync.domain.rejected_payloads`):
each expires `RETENTION_DAYS` after it was received (a TTL index), and a connection keeps at
most `MAX_PER_CONNECTION`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_ats_sync.domain.rejected_payloads import (
    MAX_PER_CONNECTION,
    RETENTION_DAYS,
    RejectedPayload,
)
from crm_shared import Database, TenantScopedCollection, from_document, to_document

REJECTED_PAYLOADS = "ats_rejected_payloads"


async def ensure_rejected_payload_indexes(database: Database) -> None:
    """Creates the indexes of the rejected payloads: listed newest first per connection, kept
    once per connection and body, and expired after `RETENTION_DAYS`."""
    collection = database[REJECTED_PAYLOADS]
    await collection.create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("_id", DESCENDING)]
    )
    await collection.create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("digest", ASCENDING)],
        unique=True,
    )
    await collection.create_index(
        "received_at", expireAfterSeconds=int(timedelta(days=RETENTION_DAYS).total_seconds())
    )


class RejectedPayloadRepository:
    """One tenant's rejected ATS payloads."""

    def __init__(
        self, database: Database, tenant_id: str, *, cap: int = MAX_PER_CONNECTION
    ) -> None:
        self._payloads = TenantScopedCollection(database[REJECTED_PAYLOADS], tenant_id)
        self._cap = cap

    async def keep(self, payloads: Sequence[RejectedPayload]) -> int:
        """Stores the payloads not kept before (by connection and body), then forgets the
        oldest of each connection beyond the cap; how many were new."""
        if not payloads:
            return 0
        new = await self._payloads.insert_new([to_document(p) for p in payloads])
        for connection_id in {p.connection_id for p in payloads}:
            await self._trim(connection_id)
        return len(new)

    async def _trim(self, connection_id: str) -> None:
        query = {"connection_id": connection_id}
        excess = await self._payloads.count(query) - self._cap
        if excess <= 0:
            return
        oldest = await self._payloads.find(
            query, sort=[("_id", ASCENDING)], limit=excess, projection={"_id": 1}
        )
        await self._payloads.delete_many({"_id": {"$in": [d["_id"] for d in oldest]}})

    async def of_connection(
        self, connection_id: str, *, before_id: str | None, limit: int
    ) -> list[RejectedPayload]:
        """A connection's payloads, newest first, from just before `before_id`."""
        query: dict[str, Any] = {"connection_id": connection_id}
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        documents = await self._payloads.find(query, sort=[("_id", DESCENDING)], limit=limit)
        return [from_document(RejectedPayload, d) for d in documents]

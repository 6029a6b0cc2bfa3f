"""MongoDB access to the circuit breakers of a tenant's connections (one document each, keyed
by the connection's id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_ats_sync.domain.breaker import BreakerRecord
from crm_shared import Database, TenantScopedCollection

BREAKERS = "connection_breakers"


def _record(document: dict[str, Any] | None) -> BreakerRecord:
    if document is None:
        return BreakerRecord()
    return BreakerRecord(
        consecutive_failures=int(document.get("consecutive_failures", 0)),
        opened_at=document.get("opened_at"),
        trial_started_at=document.get("trial_started_at"),
        last_failure_at=document.get("last_failure_at"),
        last_error=document.get("last_error"),
    )


class BreakerRepository:
    """One tenant's connection breakers; a connection without a document is closed."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._breakers = TenantScopedCollection(database[BREAKERS], tenant_id)

    async def record(self, connection_id: str) -> BreakerRecord:
        return _record(await self._breakers.find_one({"_id": connection_id}))

    async def claim_trial(self, connection_id: str, opened_at: datetime, now: datetime) -> bool:
        result = await self._breakers.update_one(
            {
                "_id": connection_id,
                "opened_at": opened_at,
                "$or": [
                    {"trial_started_at": None},
                    {"trial_started_at": {"$lt": opened_at}},
                ],
            },
            {"$set": {"trial_started_at": now}},
        )
        return result.modified_count == 1

    async def count_failure(self, connection_id: str, now: datetime, error: str) -> BreakerRecord:
        # Upserted: the first failure of a connection creates its breaker document.
        await self._breakers.update_one(
            {"_id": connection_id},
            {
                "$inc": {"consecutive_failures": 1},
                "$set": {"last_failure_at": now, "last_error": error[:500]},
            },
            upsert=True,
        )
        return await self.record(connection_id)

    async def open(self, connection_id: str, now: datetime) -> None:
        await self._breakers.update_one(
            {"_id": connection_id}, {"$set": {"opened_at": now, "trial_started_at": None}}
        )

    async def close(self, connection_id: str) -> None:
        await self._breakers.update_one(
            {"_id": connection_id, "consecutive_failures": {"$gt": 0}},
            {"$set": {"consecutive_failures": 0, "opened_at": None, "trial_started_at": None}},
        )

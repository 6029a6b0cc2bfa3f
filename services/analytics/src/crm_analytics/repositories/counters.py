"""MongoDB access to analytics' per-tenant counters."""

from __future__ import annotations

from pymongo import ASCENDING

from crm_analytics.domain.metrics import TenantMetric
from crm_shared import Database, Session, TenantScopedCollection

COUNTERS_COLLECTION = "tenant_counters"
COUNTED_KEYS_COLLECTION = "counted_keys"


async def ensure_counter_indexes(database: Database) -> None:
    """One counter document per tenant and metric."""
    await database[COUNTERS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("metric", ASCENDING)], unique=True
    )
    await database[COUNTED_KEYS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("metric", ASCENDING), ("key", ASCENDING)], unique=True
    )


class CounterRepository:
    """One tenant's running totals."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._counters = TenantScopedCollection(database[COUNTERS_COLLECTION], tenant_id)
        self._counted = TenantScopedCollection(database[COUNTED_KEYS_COLLECTION], tenant_id)

    async def increment(self, metric: TenantMetric, *, session: Session, by: int = 1) -> None:
        """Adds `by` to a counter, creating it at zero first if needed."""
        await self._counters.update_one(
            {"metric": metric.value}, {"$inc": {"value": by}}, upsert=True, session=session
        )

    async def increment_once(self, metric: TenantMetric, key: str, *, session: Session) -> bool:
        """Adds one to a counter the first time `key` is counted for it; True if it counted."""
        seen = {"metric": metric.value, "key": key}
        if await self._counted.find_one(seen, session=session) is not None:
            return False
        await self._counted.insert_one(seen, session=session)
        await self.increment(metric, session=session)
        return True

    async def totals(self) -> dict[TenantMetric, int]:
        """Every counter of the tenant; metrics never counted read as zero."""
        documents = await self._counters.find({})
        stored = {document["metric"]: int(document["value"]) for document in documents}
        return {metric: stored.get(metric.value, 0) for metric in TenantMetric}

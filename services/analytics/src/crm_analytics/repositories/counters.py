"""MongoDB access to analytics' per-tenant counters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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

    async def increment_each(
        self, increments: Mapping[TenantMetric, int], *, session: Session
    ) -> None:
        """Adds to several counters in one bulk write (`increment` of each)."""
        await self._counters.update_each(
            [({"metric": m.value}, {"$inc": {"value": by}}) for m, by in increments.items()],
            upsert=True,
            session=session,
        )

    async def first_counted(
        self, keys: Sequence[tuple[TenantMetric, str]], *, session: Session
    ) -> list[bool]:
        """Marks each (metric, key) counted, with one query and one write, and tells which
        were counted for the first time: what `increment_once` of each in turn would say."""
        if not keys:
            return []
        found = await self._counted.find(
            {
                "metric": {"$in": sorted({m.value for m, _ in keys})},
                "key": {"$in": sorted({key for _, key in keys})},
            },
            projection={"_id": 0, "metric": 1, "key": 1},
            session=session,
        )
        seen = {(d["metric"], d["key"]) for d in found}
        first: list[bool] = []
        for metric, key in keys:
            new = (metric.value, key) not in seen
            seen.add((metric.value, key))
            first.append(new)
        fresh = [{"metric": m.value, "key": k} for (m, k), new in zip(keys, first, strict=True)]
        fresh = [doc for doc, new in zip(fresh, first, strict=True) if new]
        if fresh:
            await self._counted.insert_batch(fresh, session=session)
        return first

    async def totals(self) -> dict[TenantMetric, int]:
        """Every counter of the tenant; metrics never counted read as zero."""
        documents = await self._counters.find({})
        stored = {document["metric"]: int(document["value"]) for document in documents}
        return {metric: stored.get(metric.value, 0) for metric in TenantMetric}

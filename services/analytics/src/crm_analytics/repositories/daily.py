"""MongoDB access to analytics' per-day counts of each tenant (the time series' source)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from pymongo import ASCENDING

from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.domain.timeseries import DailyCount
from crm_shared import Database, Session, TenantScopedCollection

DAILY_COUNTS_COLLECTION = "daily_counts"


async def ensure_daily_count_indexes(database: Database) -> None:
    """One document per tenant, metric, day and breakdown value."""
    await database[DAILY_COUNTS_COLLECTION].create_index(
        [
            ("tenant_id", ASCENDING),
            ("metric", ASCENDING),
            ("day", ASCENDING),
            ("dimension", ASCENDING),
        ],
        unique=True,
    )


class DailyCountRepository:
    """One tenant's counts per day. Days are stored as ISO text (`2026-12-03`): they sort and
    compare as dates do."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._counts = TenantScopedCollection(database[DAILY_COUNTS_COLLECTION], tenant_id)

    async def increment(
        self, metric: TenantMetric, day: date, dimension: str, *, session: Session
    ) -> None:
        """Adds one to the metric's count of `day` (and of its breakdown value)."""
        await self._counts.update_one(
            {"metric": metric.value, "day": day.isoformat(), "dimension": dimension},
            {"$inc": {"value": 1}},
            upsert=True,
            session=session,
        )

    async def increment_each(
        self, increments: Mapping[tuple[TenantMetric, date, str], int], *, session: Session
    ) -> None:
        """Adds to several (metric, day, breakdown value) counts in one bulk write."""
        await self._counts.update_each(
            [
                (
                    {"metric": metric.value, "day": day.isoformat(), "dimension": dimension},
                    {"$inc": {"value": by}},
                )
                for (metric, day, dimension), by in increments.items()
            ],
            upsert=True,
            session=session,
        )

    async def between(
        self, metrics: list[TenantMetric], start: date, end: date
    ) -> list[DailyCount]:
        """The counts of `metrics` from `start` to `end`, both days included."""
        documents = await self._counts.find(
            {
                "metric": {"$in": [metric.value for metric in metrics]},
                "day": {"$gte": start.isoformat(), "$lte": end.isoformat()},
            }
        )
        return [
            DailyCount(
                TenantMetric(document["metric"]),
                date.fromisoformat(document["day"]),
                str(document.get("dimension") or ""),
                int(document["value"]),
            )
            for document in documents
        ]

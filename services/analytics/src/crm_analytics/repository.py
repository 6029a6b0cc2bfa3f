"""MongoDB access to analytics' per-tenant counters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from pymongo import ASCENDING

from crm_analytics.domain.engagement import Contribution
from crm_analytics.domain.metrics import TenantMetric
from crm_shared import CurrentPrincipal, Database, Session, TenantScopedCollection

COUNTERS_COLLECTION = "tenant_counters"
COUNTED_KEYS_COLLECTION = "counted_keys"
CONTRIBUTIONS_COLLECTION = "engagement_contributions"
SCORES_COLLECTION = "engagement_scores"


async def ensure_indexes(database: Database) -> None:
    """One counter document per tenant and metric."""
    await database[COUNTERS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("metric", ASCENDING)], unique=True
    )
    await database[COUNTED_KEYS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("metric", ASCENDING), ("key", ASCENDING)], unique=True
    )
    # One contribution per candidate, kind of activity and the message or event it is about.
    await database[CONTRIBUTIONS_COLLECTION].create_index(
        [
            ("tenant_id", ASCENDING),
            ("candidate_id", ASCENDING),
            ("kind", ASCENDING),
            ("reference", ASCENDING),
        ],
        unique=True,
    )
    await database[SCORES_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING)], unique=True
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


class EngagementRepository:
    """One tenant's engagement contributions and the last score published per candidate."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._contributions = TenantScopedCollection(database[CONTRIBUTIONS_COLLECTION], tenant_id)
        self._scores = TenantScopedCollection(database[SCORES_COLLECTION], tenant_id)

    async def add(self, contribution: Contribution, *, session: Session) -> bool:
        """Records an activity the first time it happens; False if it was counted before."""
        document = contribution.model_dump()
        key = {name: document.pop(name) for name in ("candidate_id", "kind", "reference")}
        result = await self._contributions.update_one(
            key, {"$setOnInsert": document}, upsert=True, session=session
        )
        return result.upserted_id is not None

    async def of(self, candidate_id: str, *, session: Session | None = None) -> list[Contribution]:
        """Every activity counted for a candidate, oldest first."""
        documents = await self._contributions.find(
            {"candidate_id": candidate_id}, sort=[("occurred_at", ASCENDING)], session=session
        )
        return [
            Contribution.model_validate(
                {k: v for k, v in d.items() if k not in ("_id", "tenant_id")}
            )
            for d in documents
        ]

    async def save_score(
        self, candidate_id: str, score: float, scored_at: datetime, *, session: Session
    ) -> None:
        """Keeps the score last published for a candidate."""
        await self._scores.update_one(
            {"candidate_id": candidate_id},
            {"$set": {"score": score, "scored_at": scored_at}},
            upsert=True,
            session=session,
        )

    async def published(self, candidate_id: str) -> dict[str, Any] | None:
        """The score last published for a candidate and when, if any."""
        return await self._scores.find_one({"candidate_id": candidate_id})


def engagement_repository(request: Request, principal: CurrentPrincipal) -> EngagementRepository:
    """FastAPI dependency: the engagement records of the caller's tenant."""
    return EngagementRepository(request.app.state.platform.require_database(), principal.tenant_id)


EngagementRepo = Annotated[EngagementRepository, Depends(engagement_repository)]


def counter_repository(request: Request, principal: CurrentPrincipal) -> CounterRepository:
    """FastAPI dependency: the counters of the caller's tenant."""
    return CounterRepository(request.app.state.platform.require_database(), principal.tenant_id)


CountersRepo = Annotated[CounterRepository, Depends(counter_repository)]

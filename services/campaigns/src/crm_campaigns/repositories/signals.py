"""What candidates did that sequence branches look at."""

from __future__ import annotations

from pymongo import ASCENDING

from crm_campaigns.domain.models import (
    BranchCondition,
)
from crm_campaigns.domain.sequences import Signal
from crm_campaigns.repositories.collections import (
    SIGNALS,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
)


class SignalRepository:
    """What the tenant's candidates did that sequence branches look at (opens, clicks, ...)."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._signals = TenantScopedCollection(database[SIGNALS], tenant_id)

    async def record(self, candidate_id: str, signal: Signal, *, session: Session) -> None:
        await self._signals.insert_one(
            {
                "candidate_id": candidate_id,
                "kind": signal.kind.value,
                "at": signal.at,
                "message_id": signal.message_id,
                "event_id": signal.event_id,
            },
            session=session,
        )

    async def of_candidate(
        self, candidate_id: str, kind: BranchCondition, *, session: Session | None = None
    ) -> list[Signal]:
        documents = await self._signals.find(
            {"candidate_id": candidate_id, "kind": kind.value},
            sort=[("at", ASCENDING)],
            limit=1000,
            session=session,
        )
        return [
            Signal(
                kind=BranchCondition(d["kind"]),
                at=d["at"],
                message_id=d.get("message_id"),
                event_id=d.get("event_id"),
            )
            for d in documents
        ]

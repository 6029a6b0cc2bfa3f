"""What candidates did that sequence branches look at."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING

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
    give_back,
    move_to_survivor,
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

    async def latest_at(
        self, candidate_id: str, kind: BranchCondition, *, session: Session | None = None
    ) -> datetime | None:
        """When the candidate last gave a signal of `kind`; None if never (or long ago)."""
        documents = await self._signals.find(
            {"candidate_id": candidate_id, "kind": kind.value},
            sort=[("at", DESCENDING)],
            limit=1,
            projection={"at": 1},
            session=session,
        )
        return documents[0]["at"] if documents else None

    async def fold_into(
        self, merged_id: str, survivor_id: str, merge_id: str, *, session: Session
    ) -> None:
        """A merge: what the merged record did counts for the survivor's branches and exits."""
        await move_to_survivor(self._signals, merged_id, survivor_id, merge_id, session=session)

    async def unfold(self, merge_id: str, *, session: Session) -> None:
        """An undone merge: the signals a merge moved go back to their own candidate."""
        await give_back(self._signals, merge_id, session=session)

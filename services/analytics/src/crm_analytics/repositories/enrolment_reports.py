"""MongoDB access to the enrolment reports: the index of each enrolment's facts, and the daily
rollup of each sequence's counts the reports are read from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_analytics.domain.enrolment_report import (
    BREAKDOWNS,
    COUNTS,
    EnrolmentDay,
    EnrolmentEnd,
    EnrolmentFacts,
)
from crm_shared import Database, Session, TenantScopedCollection

ENROLMENT_INDEX_COLLECTION = "enrolment_index"
ENROLMENT_ROLLUP_COLLECTION = "enrolment_report_days"


async def ensure_enrolment_report_indexes(database: Database) -> None:
    """One index document per tenant and enrolment; one rollup row per sequence and day."""
    index = database[ENROLMENT_INDEX_COLLECTION]
    await index.create_index([("tenant_id", ASCENDING), ("enrolment_id", ASCENDING)], unique=True)
    await index.create_index(
        [("tenant_id", ASCENDING), ("sequence_id", ASCENDING), ("named_at", DESCENDING)]
    )
    await database[ENROLMENT_ROLLUP_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("sequence_id", ASCENDING), ("day", ASCENDING)], unique=True
    )


def _facts(document: Mapping[str, Any]) -> EnrolmentFacts:
    ended_at = document.get("ended_at")
    return EnrolmentFacts(
        enrolment_id=document["enrolment_id"],
        sequence_id=document["sequence_id"],
        enrolled_at=document["enrolled_at"],
        sequence_name=document.get("sequence_name"),
        named_at=document.get("named_at"),
        end=EnrolmentEnd(
            ended_at=ended_at,
            outcome=document["outcome"],
            exit_reason=document.get("exit_reason"),
            exit_step=document.get("exit_step"),
        )
        if ended_at is not None
        else None,
    )


def _document(facts: EnrolmentFacts) -> dict[str, Any]:
    document: dict[str, Any] = {
        "sequence_id": facts.sequence_id,
        "enrolled_at": facts.enrolled_at,
        "sequence_name": facts.sequence_name,
        "named_at": facts.named_at,
    }
    if facts.end is not None:
        document |= {
            "ended_at": facts.end.ended_at,
            "outcome": facts.end.outcome,
            "exit_reason": facts.end.exit_reason,
            "exit_step": facts.end.exit_step,
        }
    return document


def _row(document: Mapping[str, Any]) -> EnrolmentDay:
    return EnrolmentDay(
        day=date.fromisoformat(document["day"]),
        counts={name: int(document.get(name, 0)) for name in COUNTS},
        breakdowns={name: dict(document.get(name) or {}) for name in BREAKDOWNS},
    )


class EnrolmentReportRepository:
    """One tenant's enrolment index and daily enrolment rollup."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._index = TenantScopedCollection(database[ENROLMENT_INDEX_COLLECTION], tenant_id)
        self._rollup = TenantScopedCollection(database[ENROLMENT_ROLLUP_COLLECTION], tenant_id)

    async def facts(
        self, enrolment_ids: Sequence[str], *, session: Session
    ) -> dict[str, EnrolmentFacts]:
        """What is known of each of the enrolments (those known at all)."""
        found = await self._index.find(
            {"enrolment_id": {"$in": list(enrolment_ids)}}, session=session
        )
        return {document["enrolment_id"]: _facts(document) for document in found}

    async def record_facts(self, facts: Sequence[EnrolmentFacts], *, session: Session) -> None:
        """Stores each enrolment's facts, merged already with what was stored, in one bulk
        write."""
        if facts:
            await self._index.update_each(
                [({"enrolment_id": f.enrolment_id}, {"$set": _document(f)}) for f in facts],
                upsert=True,
                session=session,
            )

    async def add(
        self, changes: Mapping[tuple[str, date], Mapping[str, int]], *, session: Session
    ) -> None:
        """Adds each (sequence, day)'s differences to its rollup row in one bulk write."""
        updates = [
            ({"sequence_id": sequence_id, "day": day.isoformat()}, {"$inc": dict(by)})
            for (sequence_id, day), by in changes.items()
        ]
        if updates:
            await self._rollup.update_each(updates, upsert=True, session=session)

    async def rows(self, sequence_id: str) -> list[EnrolmentDay]:
        """Every rollup row of the sequence, by day."""
        found = await self._rollup.find({"sequence_id": sequence_id}, sort=[("day", ASCENDING)])
        return [_row(document) for document in found]

    async def latest_name(self, sequence_id: str) -> str | None:
        """The sequence's name as the latest of its enrolment events told it."""
        found = await self._index.find(
            {"sequence_id": sequence_id, "named_at": {"$ne": None}},
            sort=[("named_at", DESCENDING)],
            limit=1,
            projection={"sequence_name": 1},
        )
        return found[0].get("sequence_name") if found else None

"""Candidates' activity timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import DESCENDING

from crm_candidates.domain.models import TimelineEntry
from crm_candidates.repositories.collections import TIMELINE_COLLECTION
from crm_shared import Database, Session, TenantScopedCollection, as_utc


class TimelineRepository:
    """One tenant's activity timelines: one entry per event about a candidate."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._entries = TenantScopedCollection(database[TIMELINE_COLLECTION], tenant_id)

    async def record(self, entry: TimelineEntry, *, session: Session) -> bool:
        """Adds an entry once (keyed by its event id); False if it was recorded before."""
        result = await self._entries.update_one(
            {"_id": entry.event_id}, _recorded(entry), upsert=True, session=session
        )
        return result.upserted_id is not None

    async def record_many(self, entries: list[TimelineEntry], *, session: Session) -> None:
        """`record` of several entries (of distinct events) in one bulk write."""
        await self._entries.update_each(
            [({"_id": entry.event_id}, _recorded(entry)) for entry in entries],
            upsert=True,
            session=session,
        )

    async def mentions(
        self, candidate_id: str, event_type: str, registration_id: str, *, session: Session
    ) -> bool:
        """Whether the candidate's timeline has an entry of `event_type` for a registration."""
        found = await self._entries.find_one(
            {
                "candidate_id": candidate_id,
                "type": event_type,
                "data.registration_id": registration_id,
            },
            session=session,
        )
        return found is not None

    async def moments(
        self,
        candidate_id: str,
        event_type: str,
        registration_id: str,
        field: str,
        *,
        session: Session,
    ) -> list[datetime]:
        """The times (`data.<field>`) of the candidate's entries of `event_type` for a
        registration."""
        documents = await self._entries.find(
            {
                "candidate_id": candidate_id,
                "type": event_type,
                "data.registration_id": registration_id,
            },
            session=session,
        )
        return [
            as_utc(datetime.fromisoformat(document["data"][field]))
            for document in documents
            if document.get("data", {}).get(field)
        ]

    async def page(
        self, candidate_id: str, *, before: str | None, limit: int
    ) -> list[TimelineEntry]:
        """Up to `limit` of the candidate's entries, newest first, older than the key `before`."""
        query: dict[str, Any] = {"candidate_id": candidate_id}
        if before:
            query["sort_key"] = {"$lt": before}
        documents = await self._entries.find(query, sort=[("sort_key", DESCENDING)], limit=limit)
        return [
            TimelineEntry.model_validate(
                {k: v for k, v in document.items() if k not in ("_id", "sort_key")}
                | {"event_id": document["_id"]}
            )
            for document in documents
        ]


def _recorded(entry: TimelineEntry) -> dict[str, Any]:
    """The upsert that stores an entry unless its event's entry exists already."""
    return {"$setOnInsert": entry.model_dump(exclude={"event_id"}) | {"sort_key": entry.sort_key}}

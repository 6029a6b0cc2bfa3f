"""Notes on candidates."""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING

from crm_candidates.domain.notes import Note
from crm_candidates.repositories.collections import NOTES_COLLECTION
from crm_shared import Database, Session, TenantScopedCollection, from_document, to_document


class NoteRepository:
    """One tenant's notes on candidates."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._notes = TenantScopedCollection(database[NOTES_COLLECTION], tenant_id)

    async def add(self, note: Note, *, session: Session | None = None) -> None:
        """Stores a new note."""
        await self._notes.insert_one(to_document(note), session=session)

    async def page(self, candidate_id: str, *, before: str | None, limit: int) -> list[Note]:
        """Up to `limit` notes on a candidate, newest first, older than the note `before`."""
        query: dict[str, Any] = {"candidate_id": candidate_id}
        if before:
            query["_id"] = {"$lt": before}
        documents = await self._notes.find(query, sort=[("_id", DESCENDING)], limit=limit)
        return [from_document(Note, document) for document in documents]

"""Notes on one tenant's candidates."""

from __future__ import annotations

from dataclasses import dataclass

from crm_candidates.domain.notes import Note
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.notes import NoteRepository


@dataclass(frozen=True)
class CandidateNotes:
    """Adds and reads the notes on one tenant's candidates."""

    candidates: CandidateRepository
    notes: NoteRepository

    async def candidate_exists(self, candidate_id: str) -> bool:
        return await self.candidates.get(candidate_id) is not None

    async def add(self, note: Note) -> bool:
        """Stores the note; False (nothing stored) when its candidate is unknown."""
        if not await self.candidate_exists(note.candidate_id):
            return False
        await self.notes.add(note)
        return True

    async def page(self, candidate_id: str, *, before: str | None, limit: int) -> list[Note]:
        """Up to `limit` notes on the candidate, newest first, before the note id `before`."""
        return await self.notes.page(candidate_id, before=before, limit=limit)

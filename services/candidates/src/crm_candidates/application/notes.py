"""Notes on one tenant's candidates."""

from __future__ import annotations

from dataclasses import dataclass

from crm_candidates.application.candidates import InactiveCandidateError
from crm_candidates.domain.models import CandidateStatus
from crm_candidates.domain.notes import Note
from crm_candidates.domain.timeline import note_added_entry
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.notes import NoteRepository
from crm_candidates.repositories.timeline import TimelineRepository
from crm_shared import MongoClient, Session, in_transaction


@dataclass(frozen=True)
class CandidateNotes:
    """Adds and reads the notes on one tenant's candidates."""

    mongo: MongoClient
    candidates: CandidateRepository
    notes: NoteRepository
    timeline: TimelineRepository

    async def candidate_exists(self, candidate_id: str) -> bool:
        return await self.candidates.get(candidate_id) is not None

    async def add(self, note: Note) -> bool:
        """Stores the note; False (nothing stored) when its candidate is unknown. A merged-away
        record takes none (`InactiveCandidateError`): its notes belong on the survivor."""
        candidate = await self.candidates.get(note.candidate_id)
        if candidate is None:
            return False

        async def store(session: Session) -> None:
            # Read again inside the transaction: a merge committed since the read above counts.
            current = await self.candidates.get(note.candidate_id, session=session) or candidate
            if current.status is CandidateStatus.MERGED:
                raise InactiveCandidateError(current)
            # The note and its timeline entry together, or neither.
            await self.notes.add(note, session=session)
            await self.timeline.record(note_added_entry(note), session=session)

        await in_transaction(self.mongo, store)
        return True

    async def page(self, candidate_id: str, *, before: str | None, limit: int) -> list[Note]:
        """Up to `limit` notes on the candidate, newest first, before the note id `before`."""
        return await self.notes.page(candidate_id, before=before, limit=limit)

"""Which segments campaigns' live sequences enrol from, projected from `sequence.saved`."""

from __future__ import annotations

from pymongo import ASCENDING

from crm_candidates.repositories.collections import SEQUENCE_REFERENCES_COLLECTION
from crm_shared import Database, Session, TenantScopedCollection


class SequenceReferenceRepository:
    """One tenant's sequences as far as segments are concerned: which ones each enrols from."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._references = TenantScopedCollection(
            database[SEQUENCE_REFERENCES_COLLECTION], tenant_id
        )

    async def save(
        self,
        sequence_id: str,
        *,
        name: str,
        live: bool,
        version: int,
        segment_ids: list[str],
        session: Session,
    ) -> None:
        """Keeps the sequence's latest state; an older one arriving late changes nothing."""
        state = {"name": name, "live": live, "version": version, "segment_ids": segment_ids}
        current = await self._references.find_one({"_id": sequence_id}, session=session)
        if current is None:
            await self._references.insert_one({"_id": sequence_id, **state}, session=session)
        elif int(current.get("version", 0)) < version:
            await self._references.update_one(
                {"_id": sequence_id}, {"$set": state}, session=session
            )

    async def live_using(self, segment_id: str) -> list[str]:
        """The names of the live (not archived) sequences that enrol from `segment_id`."""
        documents = await self._references.find(
            {"segment_ids": segment_id, "live": True}, sort=[("name", ASCENDING)]
        )
        return [str(d["name"]) for d in documents]

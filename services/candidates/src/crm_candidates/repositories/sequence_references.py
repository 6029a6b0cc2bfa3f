"""Which segments campaigns' live sequences enrol from, and which pool stages they enrol at or
move candidates to, projected from `sequence.saved`."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING

from crm_candidates.domain.pools import stage_key
from crm_candidates.repositories.collections import SEQUENCE_REFERENCES_COLLECTION
from crm_shared import Database, Session, TenantScopedCollection


class SequenceReferenceRepository:
    """One tenant's sequences as far as segments and pools are concerned: which segments each
    enrols from, and which pool stages it names (`stage_key`: ignoring case and spacing)."""

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
        pool_stages: Sequence[tuple[str, str]] = (),
        session: Session,
    ) -> None:
        """Keeps the sequence's latest state; an older one arriving late changes nothing (the
        same version again is taken: campaigns announced every sequence again once, with the
        pool stages it names)."""
        state = {
            "name": name,
            "live": live,
            "version": version,
            "segment_ids": segment_ids,
            "pool_stages": [
                {"pool_id": pool_id, "stage_key": stage_key(stage)}
                for pool_id, stage in pool_stages
            ],
        }
        current = await self._references.find_one({"_id": sequence_id}, session=session)
        if current is None:
            await self._references.insert_one({"_id": sequence_id, **state}, session=session)
        elif int(current.get("version", 0)) <= version:
            await self._references.update_one(
                {"_id": sequence_id}, {"$set": state}, session=session
            )

    async def live_using(self, segment_id: str) -> list[str]:
        """The names of the live (not archived) sequences that enrol from `segment_id`."""
        documents = await self._references.find(
            {"segment_ids": segment_id, "live": True}, sort=[("name", ASCENDING)]
        )
        return [str(d["name"]) for d in documents]

    async def live_naming_stage(self, pool_id: str, stage: str) -> list[str]:
        """The names of the live sequences that enrol at the pool's stage or move candidates
        to it."""
        documents = await self._references.find(
            {
                "live": True,
                "pool_stages": {"$elemMatch": {"pool_id": pool_id, "stage_key": stage_key(stage)}},
            },
            sort=[("name", ASCENDING)],
        )
        return [str(d["name"]) for d in documents]

    async def rename_stage(
        self, pool_id: str, stage: str, renamed: str, *, session: Session
    ) -> None:
        """Sequences naming the renamed stage name it by its new name (campaigns follows the
        rename in their trigger and steps without announcing them again)."""
        old, new = stage_key(stage), stage_key(renamed)
        naming = await self._references.find(
            {"pool_stages": {"$elemMatch": {"pool_id": pool_id, "stage_key": old}}},
            session=session,
        )
        await self._references.update_each(
            [
                (
                    {"_id": document["_id"]},
                    {
                        "$set": {
                            "pool_stages": [
                                entry | {"stage_key": new}
                                if entry == {"pool_id": pool_id, "stage_key": old}
                                else entry
                                for entry in document["pool_stages"]
                            ]
                        }
                    },
                )
                for document in naming
            ],
            session=session,
        )

"""Sequences: the automated journeys candidates are enrolled in."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING

from crm_campaigns.domain.models import (
    Sequence,
    SequenceStatus,
)
from crm_campaigns.domain.pool_stages import with_stage_renamed
from crm_campaigns.repositories.collections import (
    SEQUENCES,
)
from crm_shared import (
    Database,
    PoolStageRenamed,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
    utc_now,
)

_NOT_ARCHIVED: dict[str, Any] = {"status": {"$ne": SequenceStatus.ARCHIVED.value}}


class SequenceRepository:
    """The tenant's sequences."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._sequences = TenantScopedCollection(database[SEQUENCES], tenant_id)

    async def add(self, sequence: Sequence, *, session: Session | None = None) -> None:
        await self._sequences.insert_one(to_document(sequence), session=session)

    async def get(self, sequence_id: str, *, session: Session | None = None) -> Sequence | None:
        document = await self._sequences.find_one({"_id": sequence_id}, session=session)
        return from_document(Sequence, document) if document else None

    async def many(self, sequence_ids: list[str]) -> dict[str, Sequence]:
        """The sequences of these ids (archived ones too) by id; unknown ids are left out."""
        documents = await self._sequences.find({"_id": {"$in": sequence_ids}})
        return {d["_id"]: from_document(Sequence, d) for d in documents}

    async def all(self, *, include_archived: bool = False) -> list[Sequence]:
        query = {} if include_archived else _NOT_ARCHIVED
        documents = await self._sequences.find(query, sort=[("_id", ASCENDING)])
        return [from_document(Sequence, d) for d in documents]

    async def mark_announced(self, sequence_id: str, *, session: Session) -> None:
        await self._sequences.update_one(
            {"_id": sequence_id}, {"$set": {"announced": True}}, session=session
        )

    async def using_template(
        self, template_id: str, *, session: Session | None = None
    ) -> list[Sequence]:
        """The sequences not archived with a step that sends `template_id`."""
        documents = await self._sequences.find(
            {"steps.template_id": template_id} | _NOT_ARCHIVED, session=session
        )
        return [from_document(Sequence, d) for d in documents]

    async def replace(
        self,
        sequence_id: str,
        version: int,
        changes: dict[str, Any],
        *,
        updated_by: str,
        session: Session | None = None,
    ) -> bool:
        """Applies an edit if the sequence is still at `version` (and not archived)."""
        result = await self._sequences.update_one(
            {"_id": sequence_id, "version": version} | _NOT_ARCHIVED,
            {
                "$set": changes | {"updated_by": updated_by, "updated_at": utc_now()},
                "$inc": {"version": 1},
            },
            session=session,
        )
        return result.modified_count == 1

    async def move(
        self,
        sequence_id: str,
        source: SequenceStatus,
        target: SequenceStatus,
        *,
        updated_by: str,
        session: Session,
    ) -> bool:
        """Moves the sequence from `source` to `target`; False if it was not in `source`."""
        current: dict[str, Any] = {"status": source.value}
        if source is SequenceStatus.ACTIVE:
            current = {"status": {"$in": [source.value, None]}}  # sequences from before statuses
        result = await self._sequences.update_one(
            {"_id": sequence_id} | current,
            {
                "$set": {"status": target.value, "updated_by": updated_by, "updated_at": utc_now()},
                "$inc": {"version": 1},
            },
            session=session,
        )
        return result.modified_count == 1

    async def triggered_by(
        self, trigger_type: str, *, session: Session, **fields: str | None
    ) -> list[Sequence]:
        """The sequences not archived whose trigger is of `trigger_type` with these `fields`."""
        query: dict[str, Any] = {"trigger.type": trigger_type} | _NOT_ARCHIVED
        query.update({f"trigger.{name}": value for name, value in fields.items()})
        documents = await self._sequences.find(query, session=session)
        return [from_document(Sequence, d) for d in documents]

    async def rename_pool_stage(self, renamed: PoolStageRenamed, *, session: Session) -> None:
        """Triggers and `move_stage` steps naming the renamed stage name its new name; each
        sequence changed is a new version, so an edit made from the old one is refused."""
        documents = await self._sequences.find(
            {"$or": [{"trigger.pool_id": renamed.pool_id}, {"steps.pool_id": renamed.pool_id}]},
            session=session,
        )
        for document in documents:
            changes = {}
            for part in ("trigger", "steps"):
                value, changed = with_stage_renamed(
                    document.get(part), renamed.pool_id, renamed.from_stage, renamed.to_stage
                )
                if changed:
                    changes[part] = value
            if changes:
                await self._sequences.update_one(
                    {"_id": document["_id"]},
                    {"$set": changes, "$inc": {"version": 1}},
                    session=session,
                )

    async def triggered_by_segment(self, segment_id: str, *, session: Session) -> list[Sequence]:
        """The sequences that enrol candidates entering `segment_id`."""
        return await self.triggered_by("segment_entered", segment_id=segment_id, session=session)

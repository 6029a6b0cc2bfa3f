"""MongoDB access to a tenant's pushes of candidates to its ATSs."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_ats_sync.domain.pushes import Push, PushState
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
    utc_now,
)

PUSHES = "pushes"


async def ensure_push_indexes(database: Database) -> None:
    """Creates the indexes of the pushes collection: one push per key arbitrates repeats."""
    await database[PUSHES].create_index([("tenant_id", ASCENDING), ("key", ASCENDING)], unique=True)
    await database[PUSHES].create_index(
        [("tenant_id", ASCENDING), ("candidate_id", ASCENDING), ("created_at", DESCENDING)]
    )


class PushRepository:
    """One tenant's pushes."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._pushes = TenantScopedCollection(database[PUSHES], tenant_id)

    async def claim(self, push: Push) -> Push | None:
        """Stores a new pending push; None when a push with its key exists already."""
        stored = await self._pushes.insert_new([to_document(push)])
        return push if stored else None

    async def by_key(self, key: str) -> Push | None:
        document = await self._pushes.find_one({"key": key})
        return from_document(Push, document) if document else None

    async def retry(self, push: Push) -> Push | None:
        """Moves a push from `push.state` (as read) back to pending for another attempt; None
        when another request changed it meanwhile."""
        now = utc_now()
        result = await self._pushes.update_one(
            {"_id": push.id, "state": push.state.value, "updated_at": push.updated_at},
            {
                "$set": {"state": PushState.PENDING.value, "error": None, "updated_at": now},
                "$inc": {"attempts": 1},
            },
        )
        if not result.modified_count:
            return None
        return push.model_copy(
            update={
                "state": PushState.PENDING,
                "error": None,
                "updated_at": now,
                "attempts": push.attempts + 1,
            }
        )

    async def release(self, claimed: Push, before: Push | None) -> None:
        """Undoes a claim whose attempt never called the ATS: a new push is deleted, a retried
        one is put back as it was (`before`). Nothing happens if it changed meanwhile."""
        current = {
            "_id": claimed.id,
            "state": PushState.PENDING.value,
            "attempts": claimed.attempts,
        }
        if before is None:
            await self._pushes.delete_one(current)
            return
        await self._pushes.update_one(
            current,
            {
                "$set": {
                    "state": before.state.value,
                    "error": before.error,
                    "updated_at": before.updated_at,
                },
                "$inc": {"attempts": -1},
            },
        )

    async def finish(self, push: Push, *, session: Session | None = None) -> None:
        """Records the outcome of `push`'s attempt (done with the ATS's ids, or failed)."""
        fields: dict[str, Any] = {
            "state": push.state.value,
            "ats_candidate_id": push.ats_candidate_id,
            "ats_application_id": push.ats_application_id,
            "error": push.error,
            "updated_at": push.updated_at,
        }
        await self._pushes.update_one({"_id": push.id}, {"$set": fields}, session=session)

    async def of_connection(
        self, connection_id: str, candidate_id: str | None, *, limit: int
    ) -> list[Push]:
        """A connection's pushes, newest first, optionally of one candidate."""
        query = {"connection_id": connection_id}
        if candidate_id is not None:
            query["candidate_id"] = candidate_id
        documents = await self._pushes.find(
            query, sort=[("created_at", DESCENDING), ("_id", ASCENDING)], limit=limit
        )
        return [from_document(Push, d) for d in documents]

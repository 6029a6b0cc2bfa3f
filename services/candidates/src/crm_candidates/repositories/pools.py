"""Talent pools, their memberships and stage history."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from crm_candidates.domain.models import DuplicateKeyInTenantError
from crm_candidates.domain.pools import FormerStage, Pool, PoolMembership, StageChange
from crm_candidates.repositories.collections import (
    POOL_MEMBERSHIPS_COLLECTION,
    POOL_STAGE_CHANGES_COLLECTION,
    POOLS_COLLECTION,
)
from crm_shared import Database, Session, TenantScopedCollection, from_document, to_document
from crm_shared.windows import page_in_id_windows


def _membership_id(pool_id: str, candidate_id: str) -> str:
    return f"{pool_id}:{candidate_id}"


class PoolRepository:
    """One tenant's talent pools, their memberships and stage history."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._pools = TenantScopedCollection(database[POOLS_COLLECTION], tenant_id)
        self._members = TenantScopedCollection(database[POOL_MEMBERSHIPS_COLLECTION], tenant_id)
        self._changes = TenantScopedCollection(database[POOL_STAGE_CHANGES_COLLECTION], tenant_id)

    async def add(self, pool: Pool, *, session: Session | None = None) -> None:
        """Stores a new pool; raises `DuplicateKeyInTenantError` if the name is taken."""
        try:
            await self._pools.insert_one(to_document(pool), session=session)
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(pool.name) from None

    async def replace(self, pool: Pool, *, session: Session | None = None) -> None:
        """Stores a changed pool as its next version; raises `DuplicateKeyInTenantError` if the
        new name is taken."""
        try:
            await self._pools.update_one(
                {"_id": pool.id},
                {
                    "$set": pool.model_dump(include={"name", "description", "stages", "owner_ids"}),
                    "$inc": {"version": 1},
                },
                session=session,
            )
        except DuplicateKeyError:
            raise DuplicateKeyInTenantError(pool.name) from None

    async def replace_stages(
        self,
        pool: Pool,
        stages: list[str],
        expected_version: int,
        *,
        former: FormerStage | None = None,
        session: Session,
    ) -> bool:
        """Stores the pool's stages as its next version if it is still at `expected_version`,
        remembering the `former` name of a renamed stage."""
        update: dict[str, Any] = {"$set": {"stages": stages}, "$inc": {"version": 1}}
        if former is not None:
            update["$push"] = {"former_stages": former.model_dump()}
        result = await self._pools.update_one(
            {"_id": pool.id, "version": expected_version}, update, session=session
        )
        return result.modified_count == 1

    async def rename_stage_of_members(
        self, pool_id: str, stage: str, new_name: str, *, session: Session
    ) -> None:
        """Every member at `stage` is at `new_name` (the same stage, renamed)."""
        await self._members.update_many(
            {"pool_id": pool_id, "stage": stage}, {"$set": {"stage": new_name}}, session=session
        )

    async def get(self, pool_id: str, *, session: Session | None = None) -> Pool | None:
        """The pool with this id, if the tenant has it."""
        document = await self._pools.find_one({"_id": pool_id}, session=session)
        return from_document(Pool, document) if document else None

    async def all(self, *, session: Session | None = None) -> list[Pool]:
        """Every pool of the tenant, in creation order."""
        documents = await self._pools.find({}, sort=[("_id", ASCENDING)], session=session)
        return [from_document(Pool, document) for document in documents]

    async def stage_counts(self, pool: Pool) -> dict[str, int]:
        """How many members are at each stage of the pool (one indexed count per stage)."""
        return {
            stage: await self._members.count({"pool_id": pool.id, "stage": stage})
            for stage in pool.stages
        }

    async def membership(
        self, pool_id: str, candidate_id: str, *, session: Session | None = None
    ) -> PoolMembership | None:
        """The candidate's place in the pool, if a member."""
        document = await self._members.find_one(
            {"_id": _membership_id(pool_id, candidate_id)}, session=session
        )
        return _membership(document) if document else None

    async def members_among(
        self, pool_id: str, candidate_ids: list[str], *, session: Session | None = None
    ) -> set[str]:
        """Which of these candidates are members of the pool, read as ids only."""
        if not candidate_ids:
            return set()
        documents = await self._members.find(
            {"_id": {"$in": [_membership_id(pool_id, one) for one in candidate_ids]}},
            projection={"candidate_id": 1},
            session=session,
        )
        return {str(document["candidate_id"]) for document in documents}

    async def put_memberships(self, memberships: list[PoolMembership], *, session: Session) -> None:
        """`put_membership` of each, in one bulk write."""
        await self._members.update_each(
            [
                (
                    {"_id": _membership_id(membership.pool_id, membership.candidate_id)},
                    {"$set": membership.model_dump()},
                )
                for membership in memberships
            ],
            upsert=True,
            session=session,
        )

    async def put_membership(self, membership: PoolMembership, *, session: Session) -> None:
        """Stores the candidate's (new) place in the pool."""
        await self._members.update_one(
            {"_id": _membership_id(membership.pool_id, membership.candidate_id)},
            {"$set": membership.model_dump()},
            upsert=True,
            session=session,
        )

    async def remove_membership(self, pool_id: str, candidate_id: str, *, session: Session) -> None:
        """Ends the candidate's membership of the pool."""
        await self._members.delete_one(
            {"_id": _membership_id(pool_id, candidate_id)}, session=session
        )

    async def members(
        self,
        pool_id: str,
        *,
        stage: str | None,
        after: str | None,
        limit: int,
        origin: str | None = None,
    ) -> list[PoolMembership]:
        """Up to `limit` members in candidate id order after `after`, optionally of one stage
        (`origin`: see `page_in_id_windows`)."""
        query: dict[str, Any] = {"pool_id": pool_id}
        if stage is not None:
            query["stage"] = stage
        documents = await page_in_id_windows(
            self._members, query, "candidate_id", after=after or None, origin=origin, limit=limit
        )
        return [_membership(document) for document in documents]

    async def record_change(self, change: StageChange, *, session: Session) -> None:
        """Appends a move to the pool's stage history."""
        await self._changes.insert_one(to_document(change), session=session)

    async def record_changes(self, changes: list[StageChange], *, session: Session) -> None:
        """`record_change` of each, in one write."""
        if changes:
            await self._changes.insert_batch(
                [to_document(change) for change in changes], session=session
            )

    async def history(self, pool_id: str, candidate_id: str) -> list[StageChange]:
        """Every move of the candidate in the pool, oldest first (kept after removal)."""
        documents = await self._changes.find(
            {"pool_id": pool_id, "candidate_id": candidate_id}, sort=[("_id", ASCENDING)]
        )
        return [from_document(StageChange, document) for document in documents]


def _membership(document: dict[str, Any]) -> PoolMembership:
    return PoolMembership.model_validate(
        {key: value for key, value in document.items() if key not in ("_id", "tenant_id")}
    )

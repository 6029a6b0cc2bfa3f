"""MongoDB access to talent pool membership as analytics keeps it for pool health: one
document per pool and candidate record (`pool_members`), the stage renames seen
(`pool_stage_renames`) and each pool's name (`reported_pools`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from crm_analytics.domain.pool_health import Membership, StageRename
from crm_shared import Database, Session, TenantScopedCollection

POOL_MEMBERS_COLLECTION = "pool_members"
POOL_RENAMES_COLLECTION = "pool_stage_renames"
POOLS_COLLECTION = "reported_pools"


async def ensure_pool_member_indexes(database: Database) -> None:
    """One membership per pool and record; one rename per pool, stage and time; one pool."""
    await database[POOL_MEMBERS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("pool_id", ASCENDING), ("candidate_id", ASCENDING)],
        unique=True,
    )
    await database[POOL_RENAMES_COLLECTION].create_index(
        [
            ("tenant_id", ASCENDING),
            ("pool_id", ASCENDING),
            ("from_stage", ASCENDING),
            ("renamed_at", ASCENDING),
        ],
        unique=True,
    )
    await database[POOLS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("pool_id", ASCENDING)], unique=True
    )


def _membership(d: dict[str, Any]) -> Membership:
    return Membership(
        pool_id=d["pool_id"],
        candidate_id=d["candidate_id"],
        stage=d.get("stage"),
        moved_at=d.get("moved_at"),
        added=tuple(d.get("added", [])),
        removed=tuple(d.get("removed", [])),
    )


class PoolMemberRepository:
    """One tenant's pool memberships, stage renames and pool names."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._members = TenantScopedCollection(database[POOL_MEMBERS_COLLECTION], tenant_id)
        self._renames = TenantScopedCollection(database[POOL_RENAMES_COLLECTION], tenant_id)
        self._pools = TenantScopedCollection(database[POOLS_COLLECTION], tenant_id)

    async def memberships(
        self,
        pool_ids: Sequence[str],
        candidate_ids: Sequence[str] | None = None,
        *,
        stage: str | None = None,
        session: Session | None = None,
    ) -> list[Membership]:
        """The memberships of the pools (of the candidates, or at the stage, when given), past
        ones included (growth counts removals)."""
        query: dict[str, Any] = {"pool_id": {"$in": list(pool_ids)}}
        if stage is not None:
            query["stage"] = stage
        # Not the ids nor the tenant: decoding them was a fifth of reading every pool's members.
        projection = {"_id": 0, "tenant_id": 0}
        if candidate_ids is None:
            found = await self._members.find(query, projection=projection, session=session)
        else:
            found = await self._members.find_in(
                "candidate_id", candidate_ids, query, projection=projection, session=session
            )
        return [_membership(d) for d in found]

    async def save(self, memberships: Sequence[Membership], *, session: Session) -> None:
        """Stores each membership as folded, in one bulk write."""
        await self._members.update_each(
            [
                (
                    {"pool_id": m.pool_id, "candidate_id": m.candidate_id},
                    {
                        "$set": {
                            "stage": m.stage,
                            "moved_at": m.moved_at,
                            "added": list(m.added),
                            "removed": list(m.removed),
                        }
                    },
                )
                for m in memberships
            ],
            upsert=True,
            session=session,
        )

    async def renames(
        self, pool_ids: Sequence[str], *, session: Session | None = None
    ) -> list[StageRename]:
        """The stage renames of the pools analytics has seen."""
        found = await self._renames.find({"pool_id": {"$in": list(pool_ids)}}, session=session)
        return [
            StageRename(d["pool_id"], d["from_stage"], d["to_stage"], d["renamed_at"])
            for d in found
        ]

    async def record_renames(self, renames: Sequence[StageRename], *, session: Session) -> None:
        await self._renames.update_each(
            [
                (
                    {"pool_id": r.pool_id, "from_stage": r.from_stage, "renamed_at": r.renamed_at},
                    {"$set": {"to_stage": r.to_stage}},
                )
                for r in renames
            ],
            upsert=True,
            session=session,
        )

    async def name_pools(
        self, names: Sequence[tuple[str, str, datetime]], *, session: Session
    ) -> None:
        """Keeps each pool's name as announced last, (pool id, name, when announced), and
        counts a change of each pool named (`changes`), so two transactions changing one
        pool's members always conflict."""
        latest: dict[str, tuple[datetime, str]] = {}
        for pool_id, name, at in names:
            latest[pool_id] = max(latest.get(pool_id, (at, name)), (at, name))
        if not latest:
            return
        stored = {
            d["pool_id"]: d
            for d in await self._pools.find({"pool_id": {"$in": list(latest)}}, session=session)
        }
        updates: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for pool_id, (at, name) in latest.items():
            update: dict[str, Any] = {"$inc": {"changes": 1}}
            known = stored.get(pool_id)
            if known is None or known["named_at"] < at:
                update["$set"] = {"name": name, "named_at": at}
            updates.append(({"pool_id": pool_id}, update))
        await self._pools.update_each(updates, upsert=True, session=session)

    async def pools(self, pool_ids: Sequence[str] | None = None) -> dict[str, str]:
        """The tenant's pools analytics has seen (or those of them asked for), with names."""
        query: dict[str, Any] = {} if pool_ids is None else {"pool_id": {"$in": list(pool_ids)}}
        return {d["pool_id"]: d["name"] for d in await self._pools.find(query)}

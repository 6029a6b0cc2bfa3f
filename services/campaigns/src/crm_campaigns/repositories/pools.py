"""The projection of pool membership and its stage renames."""

from __future__ import annotations

from crm_campaigns.domain.pool_stages import KnownPool, StageRename, stage_key
from crm_campaigns.repositories.collections import (
    POOL_MEMBERS,
    POOL_STAGE_RENAMES,
    POOLS,
)
from crm_shared import (
    Database,
    PoolSaved,
    PoolStageRenamed,
    Session,
    TenantScopedCollection,
    utc_now,
)


class PoolMemberRepository:
    """The tenant's projection of talent pool membership and stage, from pool.stage_changed."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._members = TenantScopedCollection(database[POOL_MEMBERS], tenant_id)
        self._renames = TenantScopedCollection(database[POOL_STAGE_RENAMES], tenant_id)

    async def place(
        self, pool_id: str, candidate_id: str, stage: str | None, *, session: Session
    ) -> None:
        """Records the candidate's current stage in the pool; no stage means they left it."""
        key = {"pool_id": pool_id, "candidate_id": candidate_id}
        if stage is None:
            await self._members.delete_one(key, session=session)
            return
        await self._members.update_one(
            key, {"$set": {"stage": stage, "updated_at": utc_now()}}, upsert=True, session=session
        )

    async def rename_stage(self, renamed: PoolStageRenamed, *, session: Session) -> None:
        """Members at the renamed stage are at its new name; the rename is kept so a move made
        before it but delivered after it can follow it (`stage_now_called`)."""
        await self._members.update_many(
            {"pool_id": renamed.pool_id, "stage": renamed.from_stage},
            {"$set": {"stage": renamed.to_stage}},
            session=session,
        )
        await self._renames.update_one(
            {"_id": f"{renamed.pool_id}:{renamed.renamed_at.isoformat()}"},
            {
                "$set": {
                    "pool_id": renamed.pool_id,
                    "from_stage": renamed.from_stage,
                    "to_stage": renamed.to_stage,
                    "renamed_at": renamed.renamed_at,
                }
            },
            upsert=True,
            session=session,
        )

    async def renames(self, pool_id: str, *, session: Session) -> list[StageRename]:
        """The pool's stage renames campaigns has seen."""
        documents = await self._renames.find({"pool_id": pool_id}, session=session)
        return [
            StageRename(
                from_stage=document["from_stage"],
                to_stage=document["to_stage"],
                renamed_at=document["renamed_at"],
            )
            for document in documents
        ]

    async def members(self, pool_id: str, stage: str | None) -> list[str]:
        """The pool's members, or those at `stage`, matched as the candidates service matches
        stages (ignoring case and spacing: `stage_key`); the pool's members are read whole for
        that, once per broadcast."""
        documents = await self._members.find(
            {"pool_id": pool_id}, projection={"candidate_id": 1, "stage": 1}
        )
        wanted = None if stage is None else stage_key(stage)
        return [
            document["candidate_id"]
            for document in documents
            if wanted is None or stage_key(str(document.get("stage") or "")) == wanted
        ]


class KnownPoolRepository:
    """The tenant's talent pools (name and stages) as the candidates service last announced
    them, from `pool.saved`."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._pools = TenantScopedCollection(database[POOLS], tenant_id)

    async def learn(self, saved: PoolSaved, *, session: Session) -> None:
        """Keeps the pool's definition unless a later version is held (a redelivered older
        one must not bring back stages since renamed). In the consumer's transaction."""
        held = await self._pools.find_one({"_id": saved.pool_id}, session=session)
        if held is not None and int(held["version"]) > saved.version:
            return
        await self._pools.update_one(
            {"_id": saved.pool_id},
            {"$set": {"name": saved.name, "stages": saved.stages, "version": saved.version}},
            upsert=True,
            session=session,
        )

    async def among(
        self, pool_ids: list[str], *, session: Session | None = None
    ) -> dict[str, KnownPool]:
        """The pools of `pool_ids` campaigns knows, by id."""
        if not pool_ids:
            return {}
        documents = await self._pools.find({"_id": {"$in": pool_ids}}, session=session)
        return {
            str(document["_id"]): KnownPool(
                pool_id=str(document["_id"]),
                name=str(document["name"]),
                stages=[str(stage) for stage in document["stages"]],
            )
            for document in documents
        }

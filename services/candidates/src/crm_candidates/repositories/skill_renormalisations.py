"""Re-normalisations of stored skills after a tenant's vocabulary changed."""

from __future__ import annotations

from typing import Any

from crm_candidates.repositories.collections import SKILL_RENORMALISATIONS_COLLECTION
from crm_shared import Database, TenantScopedCollection, utc_now


class SkillRenormalisationRepository:
    """The progress of re-normalising one tenant's stored skills after a vocabulary change."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._jobs = TenantScopedCollection(database[SKILL_RENORMALISATIONS_COLLECTION], tenant_id)

    async def start(self, version: str) -> None:
        """Starts the job of `version`, replacing any earlier one (its vocabulary is gone)."""
        job = {
            "version": version,
            "status": "running",
            "after": None,
            "processed": 0,
            "changed": 0,
            "started_at": utc_now(),
            "finished_at": None,
        }
        await self._jobs.update_one({"_id": self.tenant_id}, {"$set": job}, upsert=True)

    async def get(self) -> dict[str, Any] | None:
        return await self._jobs.find_one({"_id": self.tenant_id})

    async def advance(self, version: str, after: str, processed: int, changed: int) -> bool:
        """Records a batch done; False if a newer vocabulary replaced this job meanwhile."""
        result = await self._jobs.update_one(
            {"_id": self.tenant_id, "version": version, "status": "running"},
            {"$set": {"after": after}, "$inc": {"processed": processed, "changed": changed}},
        )
        return result.matched_count == 1

    async def finish(self, version: str) -> None:
        await self._jobs.update_one(
            {"_id": self.tenant_id, "version": version, "status": "running"},
            {"$set": {"status": "completed", "finished_at": utc_now()}},
        )


async def unfinished_skill_renormalisations(database: Database) -> list[tuple[str, str]]:
    """(tenant, version) of every running re-normalisation, to resume at service start.

    Deliberately cross-tenant, like the other jobs resumed at start.
    """
    documents = (
        await database[SKILL_RENORMALISATIONS_COLLECTION].find({"status": "running"}).to_list()
    )
    return [(str(d["tenant_id"]), str(d["version"])) for d in documents]

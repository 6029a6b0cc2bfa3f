"""MongoDB access to a tenant's embedding settings: the sites that may frame its forms."""

from __future__ import annotations

from datetime import datetime

from crm_shared import Database, TenantScopedCollection, utc_now

EMBEDDING_SETTINGS = "embedding_settings"


class EmbeddingSettingsRepository:
    """One document per tenant (its `_id` is the tenant), written only by an admin's edit."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._settings = TenantScopedCollection(database[EMBEDDING_SETTINGS], tenant_id)

    async def site_origins(self) -> list[str]:
        """The origins stored, in the order given; none before the first edit."""
        document = await self._settings.find_one({"_id": self.tenant_id})
        return list(document.get("site_origins", [])) if document else []

    async def replace_site_origins(self, origins: list[str], by: str) -> datetime:
        """Stores `origins` (already checked) in place of the previous list; when it did."""
        now = utc_now()
        await self._settings.update_one(
            {"_id": self.tenant_id},
            {"$set": {"site_origins": origins, "updated_at": now, "updated_by": by}},
            upsert=True,
        )
        return now

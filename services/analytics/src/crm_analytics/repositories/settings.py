"""MongoDB access to the tenant's analytics settings (the time zone its periods are days in)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from crm_shared import Database, TenantScopedCollection

ANALYTICS_SETTINGS_COLLECTION = "analytics_settings"


async def ensure_settings_indexes(database: Database) -> None:
    """One settings document per tenant."""
    await database[ANALYTICS_SETTINGS_COLLECTION].create_index(
        [("tenant_id", ASCENDING)], unique=True
    )


class AnalyticsSettingsRepository:
    """One tenant's analytics settings: a document once an admin saved them, else none."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._settings = TenantScopedCollection(database[ANALYTICS_SETTINGS_COLLECTION], tenant_id)

    async def stored(self) -> dict[str, Any] | None:
        return await self._settings.find_one({})

    async def save(self, time_zone: str, updated_by: str, updated_at: datetime) -> None:
        await self._settings.update_one(
            {},
            {"$set": {"time_zone": time_zone, "updated_by": updated_by, "updated_at": updated_at}},
            upsert=True,
        )

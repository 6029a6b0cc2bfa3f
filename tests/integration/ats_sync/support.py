"""What the ats-sync use-case tests read back: the events a tenant's writes staged."""

from __future__ import annotations

import json
from typing import Any

from crm_ats_sync.application import connections
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.models import Connection, Provider
from helpers import unique


async def connected(storage: AtsStorage, *, api_key: str | None = "lever-key") -> Connection:
    """A new tenant's Lever connection, with an API key unless told otherwise."""
    return await connections.create_connection(
        storage, unique("tenant"), "admin-1", Provider.LEVER, "Lever", api_key=api_key
    )


async def staged(storage: AtsStorage, tenant_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) of every event the tenant's writes staged, in the order staged."""
    records = await storage.outbox.records.find({"tenant_id": tenant_id}).sort("_id").to_list()
    return [(r["topic"], json.loads(r["value"])["data"]) for r in records]

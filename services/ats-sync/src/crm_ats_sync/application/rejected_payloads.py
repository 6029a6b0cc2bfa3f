"""Use cases of rejected payloads: what an ATS sent (or answered) that the CRM could not map or
store is kept for the connection's admins, and listed for them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crm_ats_sync.application.connections import find_connection
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.models import Connection
from crm_ats_sync.domain.rejected_payloads import (
    PayloadSource,
    RejectedPayload,
    rejected_payload,
)


@dataclass(frozen=True)
class Rejection:
    """One payload to keep, and why it was rejected."""

    reason: str
    payload: bytes
    ats_id: str | None = None


async def keep_rejected(
    storage: AtsStorage,
    connection: Connection,
    source: PayloadSource,
    rejections: Sequence[Rejection],
) -> None:
    """Keeps the connection's rejected payloads (each once, capped: see the domain module)."""
    await storage.rejected_payloads(connection.tenant_id).keep(
        [
            rejected_payload(
                connection.tenant_id,
                connection.id,
                source,
                rejection.reason,
                rejection.payload,
                ats_id=rejection.ats_id,
            )
            for rejection in rejections
        ]
    )


async def list_rejected(
    storage: AtsStorage,
    tenant_id: str,
    connection_id: str,
    *,
    before_id: str | None,
    limit: int,
) -> tuple[list[RejectedPayload], str | None]:
    """A connection's rejected payloads, newest first, at most `limit` from just before
    `before_id`, and where the next page starts (None: no more); `ConnectionNotFound`."""
    await find_connection(storage, tenant_id, connection_id)
    found = await storage.rejected_payloads(tenant_id).of_connection(
        connection_id, before_id=before_id, limit=limit + 1
    )
    if len(found) > limit:
        return found[:limit], found[limit - 1].id
    return found, None

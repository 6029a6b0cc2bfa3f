"""The sites a tenant lets frame its events' registration forms (the console's embeddable
form names them in its `Content-Security-Policy: frame-ancestors`)."""

from __future__ import annotations

from collections.abc import Iterable

from crm_events.application.storage import EventsStorage
from crm_shared import site_origins


async def embedding_origins(storage: EventsStorage, tenant_id: str) -> list[str]:
    """The site origins allowed to frame the tenant's forms; none until an admin names one."""
    return await storage.embedding(tenant_id).site_origins()


async def set_embedding_origins(
    storage: EventsStorage, tenant_id: str, origins: Iterable[str], by: str
) -> list[str]:
    """Replaces the tenant's list with `origins`, each checked and written in its one spelling
    (`crm_shared.site_origin`: a `ValueError` names the first that is not a site origin)."""
    checked = site_origins(origins)
    await storage.embedding(tenant_id).replace_site_origins(checked, by)
    return checked

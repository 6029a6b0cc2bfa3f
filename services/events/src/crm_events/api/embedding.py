"""The tenant's embedding settings: which sites may frame its events' registration forms."""

from __future__ import annotations

from fastapi import APIRouter

from crm_events.api.deps import Storage
from crm_events.api.schemas import EmbeddingSettings, EmbeddingSettingsUpdate
from crm_events.application.embedding import embedding_origins, set_embedding_origins
from crm_shared import CurrentPrincipal, require_permission

embedding_router = APIRouter(prefix="/settings/event-embedding", tags=["events"])


@embedding_router.get(
    "", dependencies=[require_permission("settings:read")], response_model=EmbeddingSettings
)
async def read_embedding_settings(
    principal: CurrentPrincipal, storage: Storage
) -> EmbeddingSettings:
    """The site origins that may frame the tenant's embeddable registration forms."""
    return EmbeddingSettings(site_origins=await embedding_origins(storage, principal.tenant_id))


@embedding_router.put(
    "", dependencies=[require_permission("settings:write")], response_model=EmbeddingSettings
)
async def replace_embedding_settings(
    body: EmbeddingSettingsUpdate, principal: CurrentPrincipal, storage: Storage
) -> EmbeddingSettings:
    """Replaces the list of site origins that may frame the forms (an empty list: none may).
    An entry that is not a site origin (a path, `http` off the local computer, a wildcard
    anywhere but `https://*.example.com`) is a 422 naming `site_origins.<index>`."""
    stored = await set_embedding_origins(
        storage, principal.tenant_id, body.site_origins, principal.user_id
    )
    return EmbeddingSettings(site_origins=stored)

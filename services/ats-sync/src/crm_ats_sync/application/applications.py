"""Reading the applications the ATS reported."""

from __future__ import annotations

from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.models import Application


async def list_applications(
    storage: AtsStorage, tenant_id: str, candidate_id: str | None
) -> list[Application]:
    """Applications the ATS reported, optionally of one candidate (first 1000)."""
    return await storage.applications(tenant_id).applications(candidate_id=candidate_id)

"""Reading the applications the ATS reported."""

from __future__ import annotations

from dataclasses import dataclass

from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.changes import ApplicationStatus
from crm_ats_sync.domain.models import Application


@dataclass(frozen=True)
class ApplicationFilters:
    """Which applications to list: of one candidate, one connection, in one status."""

    candidate_id: str | None = None
    connection_id: str | None = None
    status: ApplicationStatus | None = None


async def list_applications(
    storage: AtsStorage,
    tenant_id: str,
    filters: ApplicationFilters,
    *,
    after_id: str | None = None,
    limit: int = 1000,
) -> tuple[list[Application], str | None]:
    """One page of the applications the ATS reported, in id order, and the id the next page
    starts after (None on the last page)."""
    found = await storage.applications(tenant_id).applications(
        candidate_id=filters.candidate_id,
        connection_id=filters.connection_id,
        status=filters.status,
        after_id=after_id,
        limit=limit + 1,
    )
    page = found[:limit]
    return page, page[-1].id if len(found) > limit else None

"""Reading the jobs the connected ATSs hold."""

from __future__ import annotations

from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.changes import JobStatus
from crm_ats_sync.domain.jobs import StoredJob

MAX_JOBS = 1000


async def list_jobs(
    storage: AtsStorage, tenant_id: str, *, connection_id: str | None, status: JobStatus | None
) -> list[StoredJob]:
    """The tenant's ATS jobs by name, optionally of one connection or status (first 1000)."""
    return await storage.jobs(tenant_id).jobs(
        connection_id=connection_id, status=status, limit=MAX_JOBS
    )

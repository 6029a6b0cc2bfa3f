"""The jobs projection: open jobs of the tenant's ATS that templates can offer recipients."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from crm_campaigns.domain.jobs import Job
from crm_campaigns.domain.templates import BlockSource, uses_open_jobs
from crm_campaigns.repositories.jobs import JobRepository
from crm_shared import Database, JobChanged, Session


async def project_job(
    database: Database, tenant_id: str, change: JobChanged, at: datetime, session: Session
) -> bool:
    """Keeps the job's newest state (by the ATS's change time, or the event's when the ATS gave
    none); an older state arriving late is ignored. True when the job was stored."""
    job = Job.model_validate(
        change.model_dump(exclude={"created"})
        | {"tenant_id": tenant_id, "changed_at": change.changed_at or at}
    )
    jobs = JobRepository(database, tenant_id)
    stored = await jobs.get(job.connection_id, job.ats_job_id, session=session)
    if stored is not None and not job.is_newer_than(stored):
        return False
    await jobs.save(job, session=session)
    return True


async def jobs_for(
    jobs: JobRepository,
    parts: Iterable[str],
    blocks: Mapping[str, BlockSource],
    *,
    session: Session | None = None,
) -> list[Job]:
    """The tenant's open jobs if a template's `parts` (or a block) may list them, else none:
    most templates do not, and they need not read the jobs."""
    sources = [*parts, *(part for block in blocks.values() for part in (block.html, block.text))]
    if not uses_open_jobs(*sources):
        return []
    return await jobs.open_jobs(session=session)

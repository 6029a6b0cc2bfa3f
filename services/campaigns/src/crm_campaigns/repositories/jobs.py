"""Jobs: the projection of the jobs of the tenant's connected ATSs that mails can offer."""

from __future__ import annotations

from crm_campaigns.domain.jobs import Job
from crm_campaigns.repositories.collections import JOBS
from crm_shared import Database, Session, TenantScopedCollection

# The open jobs a render matches recipients against, newest first: a tenant with more open
# jobs than this offers from its newest ones, and a broadcast holds no more than these in memory.
OPEN_JOBS_CONSIDERED = 500


class JobRepository:
    """One tenant's copy of its ATS jobs, one document per connection and ATS job id."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._jobs = TenantScopedCollection(database[JOBS], tenant_id)

    async def get(
        self, connection_id: str, ats_job_id: str, *, session: Session | None = None
    ) -> Job | None:
        document = await self._jobs.find_one(
            {"connection_id": connection_id, "ats_job_id": ats_job_id}, session=session
        )
        return Job.model_validate(document) if document else None

    async def save(self, job: Job, *, session: Session) -> None:
        """Stores the job's latest state."""
        await self._jobs.update_one(
            {"connection_id": job.connection_id, "ats_job_id": job.ats_job_id},
            {"$set": job.model_dump(exclude={"tenant_id"})},
            upsert=True,
            session=session,
        )

    async def open_jobs(
        self, *, limit: int = OPEN_JOBS_CONSIDERED, session: Session | None = None
    ) -> list[Job]:
        """The tenant's open jobs, newest first."""
        documents = await self._jobs.find(
            {"status": "open"},
            sort=[("changed_at", -1), ("_id", 1)],
            limit=limit,
            session=session,
        )
        return [Job.model_validate(document) for document in documents]

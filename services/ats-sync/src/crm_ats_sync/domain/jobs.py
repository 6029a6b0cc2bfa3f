"""The ATS's jobs as the CRM keeps them, and when one counts as changed."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from crm_ats_sync.domain.changes import AtsJob, JobStatus, is_stale
from crm_ats_sync.domain.models import Connection, Provider
from crm_shared import new_id, utc_now

# What a job is, for the CRM: a change of anything else (the ATS's time alone) is not news.
_COMPARED = ("name", "status", "departments", "locations")


class StoredJob(BaseModel):
    """A job (requisition, posting) of a connected ATS."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    connection_id: str
    provider: Provider
    ats_job_id: str
    name: str
    status: JobStatus
    departments: list[str] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    # When the ATS last changed it.
    ats_changed_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utc_now)

    @classmethod
    def of(cls, connection: Connection, job: AtsJob, before: StoredJob | None) -> StoredJob:
        """The job as the ATS lists it now, keeping the id it was stored under."""
        return cls(
            id=before.id if before else new_id(),
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            provider=connection.provider,
            ats_job_id=job.ats_job_id,
            name=job.name,
            status=job.status,
            departments=list(job.departments),
            locations=list(job.locations),
            ats_changed_at=job.changed_at,
        )


def job_changed(before: StoredJob | None, after: StoredJob) -> bool:
    """Whether `after` is news against the stored `before`: a new job, or one whose name,
    status, departments or locations differ, unless the ATS dates it before what is stored."""
    if before is None:
        return True
    if is_stale(after.ats_changed_at, before.ats_changed_at):
        return False
    return any(getattr(before, name) != getattr(after, name) for name in _COMPARED)


def closed_with_connection_at(job: StoredJob, deleted_at: datetime) -> datetime:
    """The time `job.changed` gives a job closed because its connection was deleted: the
    deletion's, or the ATS's last change if its clock runs ahead, so consumers that keep the
    latest state by this time take the closing over every state the ATS announced."""
    if job.ats_changed_at is not None and job.ats_changed_at > deleted_at:
        return job.ats_changed_at
    return deleted_at

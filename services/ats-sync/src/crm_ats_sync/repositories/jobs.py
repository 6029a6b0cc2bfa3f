"""MongoDB access to the jobs a tenant's ATS connections hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from crm_ats_sync.domain.changes import AtsJob, JobStatus
from crm_ats_sync.domain.jobs import StoredJob, job_changed
from crm_ats_sync.domain.models import Connection
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
)

JOBS = "jobs"


async def ensure_job_indexes(database: Database) -> None:
    """Creates the indexes of the jobs collection."""
    await database[JOBS].create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING), ("ats_job_id", ASCENDING)],
        unique=True,
    )
    await database[JOBS].create_index([("tenant_id", ASCENDING), ("status", ASCENDING)])


class JobRepository:
    """One tenant's ATS jobs, as its connections' APIs list them."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._jobs = TenantScopedCollection(database[JOBS], tenant_id)

    async def save(
        self, connection: Connection, job: AtsJob, *, session: Session
    ) -> tuple[StoredJob, bool] | None:
        """Stores the job as the ATS lists it: the job stored and whether it is new; None when
        it is unchanged or older than what is stored."""
        key = {"connection_id": connection.id, "ats_job_id": job.ats_job_id}
        document = await self._jobs.find_one(key, session=session)
        before = from_document(StoredJob, document) if document else None
        after = StoredJob.of(connection, job, before)
        if not job_changed(before, after):
            return None
        fields = {k: v for k, v in to_document(after).items() if k not in ("_id", "tenant_id")}
        await self._jobs.update_one(
            key,
            {"$set": fields, "$setOnInsert": {"_id": after.id}},
            upsert=True,
            session=session,
        )
        return after, before is None

    async def close_connection_jobs(
        self, connection_id: str, at: datetime, *, session: Session
    ) -> list[StoredJob]:
        """Marks every job of the connection not closed yet as closed (its connection is being
        deleted); the jobs as they are after, for announcing."""
        query = {"connection_id": connection_id, "status": {"$ne": JobStatus.CLOSED.value}}
        documents = await self._jobs.find(query, sort=[("_id", ASCENDING)], session=session)
        if not documents:
            return []
        closed = [
            from_document(StoredJob, document).model_copy(
                update={"status": JobStatus.CLOSED, "updated_at": at}
            )
            for document in documents
        ]
        await self._jobs.update_many(
            {"_id": {"$in": [job.id for job in closed]}},
            {"$set": {"status": JobStatus.CLOSED.value, "updated_at": at}},
            session=session,
        )
        return closed

    async def job(self, connection_id: str, ats_job_id: str) -> StoredJob | None:
        """One job of a connection, as last listed."""
        document = await self._jobs.find_one(
            {"connection_id": connection_id, "ats_job_id": ats_job_id}
        )
        return from_document(StoredJob, document) if document else None

    async def jobs(
        self, *, connection_id: str | None, status: JobStatus | None, limit: int
    ) -> list[StoredJob]:
        """The tenant's jobs, by name."""
        query: dict[str, Any] = {}
        if connection_id is not None:
            query["connection_id"] = connection_id
        if status is not None:
            query["status"] = status.value
        documents = await self._jobs.find(
            query, sort=[("name", ASCENDING), ("_id", ASCENDING)], limit=limit
        )
        return [from_document(StoredJob, d) for d in documents]

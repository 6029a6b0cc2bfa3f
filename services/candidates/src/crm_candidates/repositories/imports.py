"""CSV imports of candidates: the jobs, their leases, their row errors and merged rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from crm_candidates.domain.models import (
    CandidateImport,
    ImportCounts,
    ImportDateColumn,
    ImportStatus,
)
from crm_candidates.repositories.collections import (
    IMPORT_ERRORS_COLLECTION,
    IMPORT_MERGED_ROWS_COLLECTION,
    IMPORTS_COLLECTION,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    from_document,
    new_id,
    to_document,
    utc_now,
)

# Fields of an import document the job keeps, beside the model's.
_IMPORT_LEASE_FIELDS = (
    "lease_owner",
    "lease_until",
    "uploading",
    "upload_seen_at",
    "failures",
    "turn_at",
    "progressed_at",
)
# An import taking up one of its tenant's concurrent-import slots.
_ACTIVE_IMPORT = {"status": {"$in": [ImportStatus.QUEUED.value, ImportStatus.RUNNING.value]}}


async def ensure_import_indexes(database: Database) -> None:
    """Indexes of imports, their row errors and their merged rows."""
    await database[IMPORTS_COLLECTION].create_index(
        [("status", ASCENDING), ("lease_until", ASCENDING)]
    )
    await database[IMPORTS_COLLECTION].create_index(
        [("status", ASCENDING), ("uploading", ASCENDING), ("turn_at", ASCENDING)]
    )
    await database[IMPORTS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("status", ASCENDING)]
    )
    await database[IMPORTS_COLLECTION].create_index(
        [("status", ASCENDING), ("uploading", ASCENDING), ("upload_seen_at", ASCENDING)]
    )
    await database[IMPORTS_COLLECTION].create_index([("tenant_id", ASCENDING), ("_id", ASCENDING)])
    await database[IMPORT_ERRORS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("import_id", ASCENDING), ("row", ASCENDING), ("_id", ASCENDING)]
    )
    await database[IMPORT_MERGED_ROWS_COLLECTION].create_index(
        [("tenant_id", ASCENDING), ("import_id", ASCENDING), ("row", ASCENDING)], unique=True
    )


def _import_from_document(document: dict[str, Any]) -> CandidateImport:
    return from_document(
        CandidateImport, {k: v for k, v in document.items() if k not in _IMPORT_LEASE_FIELDS}
    )


class ImportRepository:
    """One tenant's CSV imports: the job with its progress, and its row errors (the file itself
    is in the upload store)."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._imports = TenantScopedCollection(database[IMPORTS_COLLECTION], tenant_id)
        self._errors = TenantScopedCollection(database[IMPORT_ERRORS_COLLECTION], tenant_id)
        self._merged = TenantScopedCollection(database[IMPORT_MERGED_ROWS_COLLECTION], tenant_id)

    async def add(self, job: CandidateImport) -> None:
        """Stores a new import."""
        await self._imports.insert_one(
            to_document(job) | {"lease_owner": None, "lease_until": None}
        )

    async def get(
        self, import_id: str, *, session: Session | None = None
    ) -> CandidateImport | None:
        """The import with this id, if the tenant has it."""
        document = await self._imports.find_one({"_id": import_id}, session=session)
        return _import_from_document(document) if document else None

    async def start_upload(self, import_id: str) -> bool:
        """Claims the import's one upload; False if a file was already sent."""
        result = await self._imports.update_one(
            {"_id": import_id, "status": ImportStatus.AWAITING_FILE.value},
            {
                "$set": {
                    "status": ImportStatus.QUEUED.value,
                    "uploading": True,
                    "upload_seen_at": utc_now(),
                }
            },
        )
        return result.modified_count == 1

    async def release_upload(self, import_id: str) -> None:
        """Gives back an upload claimed but not received (refused by the tenant's quota): the
        import awaits its file again."""
        await self._imports.update_one(
            {"_id": import_id, "status": ImportStatus.QUEUED.value, "uploading": True},
            {"$set": {"status": ImportStatus.AWAITING_FILE.value, "uploading": False}},
        )

    async def page(self, *, before: str | None, limit: int) -> list[CandidateImport]:
        """The tenant's imports, newest first, before the import id `before`."""
        query: dict[str, Any] = {} if before is None else {"_id": {"$lt": before}}
        documents = await self._imports.find(query, sort=[("_id", DESCENDING)], limit=limit)
        return [_import_from_document(document) for document in documents]

    async def active_count(self) -> int:
        """How many of the tenant's imports are uploading, queued or being processed."""
        return await self._imports.count(_ACTIVE_IMPORT)

    async def touch_upload(self, import_id: str) -> None:
        """Records that the upload is still receiving data."""
        await self._imports.update_one({"_id": import_id}, {"$set": {"upload_seen_at": utc_now()}})

    async def finish_upload(
        self,
        import_id: str,
        chunks_total: int,
        *,
        rows_read: int,
        delimiter: str,
        encoding: str,
        encoding_note: str | None = None,
        date_columns: Sequence[ImportDateColumn] = (),
    ) -> None:
        """The whole file is stored: the job may process it. Records the dialect it was read in
        and what its date columns say about the order of day and month."""
        await self._imports.update_one(
            {"_id": import_id},
            {
                "$set": {
                    "chunks_total": chunks_total,
                    "counts.rows_read": rows_read,
                    "uploading": False,
                    "progressed_at": utc_now(),
                    "delimiter": delimiter,
                    "encoding": encoding,
                    "encoding_note": encoding_note,
                    "date_columns": [column.model_dump() for column in date_columns],
                }
            },
        )

    async def fail(self, import_id: str, error: str, *, session: Session | None = None) -> None:
        """Ends the import with an error (its file is deleted by the caller)."""
        await self._imports.update_one(
            {"_id": import_id},
            {
                "$set": {
                    "status": ImportStatus.FAILED.value,
                    "error": error,
                    "uploading": False,
                    "finished_at": utc_now(),
                    "lease_until": None,
                }
            },
            session=session,
        )

    async def complete_chunk(
        self, job: CandidateImport, counts: ImportCounts, *, session: Session
    ) -> bool:
        """Records one processed chunk and its counts; False if another worker did it first."""
        increments = counts.model_dump()
        del increments["rows_read"]
        done = job.next_chunk + 1
        finished = job.chunks_total is not None and done >= job.chunks_total
        # The lease ends with the chunk: the next turn may go to another tenant.
        changes: dict[str, Any] = {
            "next_chunk": done,
            "lease_until": None,
            "progressed_at": utc_now(),
        }
        if finished:
            changes |= {
                "status": ImportStatus.COMPLETED.value,
                "finished_at": utc_now(),
                "lease_until": None,
            }
        result = await self._imports.update_one(
            {"_id": job.id, "next_chunk": job.next_chunk},
            {"$set": changes, "$inc": {f"counts.{k}": v for k, v in increments.items()}},
            session=session,
        )
        return result.modified_count == 1

    async def release(self, import_id: str) -> None:
        """Gives up the lease after a failed chunk; the import fails after repeated failures."""
        await self._imports.update_one(
            {"_id": import_id}, {"$inc": {"failures": 1}, "$set": {"lease_until": None}}
        )
        document = await self._imports.find_one({"_id": import_id})
        if document is not None and document.get("failures", 0) >= MAX_IMPORT_FAILURES:
            await self.fail(import_id, "processing failed repeatedly; see the service log")

    async def add_errors(self, errors: list[dict[str, Any]], *, session: Session) -> None:
        """Stores row errors of a chunk."""
        if errors:
            await self._errors.insert_batch(errors, session=session)

    async def errors(
        self, import_id: str, *, after: tuple[int, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Row errors of an import in row order, after `(row, id)`."""
        query: dict[str, Any] = {"import_id": import_id}
        if after is not None:
            row, error_id = after
            query["$or"] = [{"row": {"$gt": row}}, {"row": row, "_id": {"$gt": error_id}}]
        return await self._errors.find(
            query, sort=[("row", ASCENDING), ("_id", ASCENDING)], limit=limit
        )

    async def add_merged_rows(
        self, import_id: str, merged: list[tuple[int, str]], *, session: Session
    ) -> None:
        """Stores which candidate each merged row of a chunk ended on, as (row, candidate id)."""
        if merged:
            await self._merged.insert_batch(
                [
                    {"_id": new_id(), "import_id": import_id, "row": row, "candidate_id": target}
                    for row, target in merged
                ],
                session=session,
            )

    async def merged_rows(
        self, import_id: str, *, after: int | None, limit: int
    ) -> list[dict[str, Any]]:
        """The merged rows of an import in row order, after row `after`."""
        query: dict[str, Any] = {"import_id": import_id}
        if after is not None:
            query["row"] = {"$gt": after}
        return await self._merged.find(query, sort=[("row", ASCENDING)], limit=limit)


IMPORT_LEASE = timedelta(seconds=60)
MAX_IMPORT_FAILURES = 3


async def claim_import(database: Database, owner: str) -> CandidateImport | None:
    """Leases the next chunk of any tenant's uploaded, unfinished import to `owner`.

    Deliberately cross-tenant: the import job serves every tenant; the claimed import is then
    processed within its own tenant. Tenants take turns: the import whose tenant waited longest
    (`turn_at`, stamped on all of a tenant's active imports at each of its turns; a new import
    has none and goes first) is claimed, so no tenant's big import holds back another tenant's
    small one. The lease lasts one chunk (`complete_chunk` ends it); a lease whose owner died
    expires, so a restarted or other replica resumes the import at its next chunk.
    """
    now = utc_now()
    document = await database[IMPORTS_COLLECTION].find_one_and_update(
        {
            **_ACTIVE_IMPORT,
            "uploading": False,
            "$or": [{"lease_until": None}, {"lease_until": {"$lte": now}}],
        },
        {
            "$set": {
                "status": ImportStatus.RUNNING.value,
                "lease_owner": owner,
                "lease_until": now + IMPORT_LEASE,
            },
            "$min": {"started_at": now},
        },
        sort=[("turn_at", ASCENDING), ("_id", ASCENDING)],
        return_document=ReturnDocument.AFTER,
    )
    if document is None:
        return None
    # The tenant's turn is taken: its other imports wait behind every other tenant's too.
    await database[IMPORTS_COLLECTION].update_many(
        {"tenant_id": document["tenant_id"], **_ACTIVE_IMPORT}, {"$set": {"turn_at": now}}
    )
    if document.get("started_at") is None:
        # Set once, by the first claim: `$min` cannot do it, as null sorts before any date.
        await database[IMPORTS_COLLECTION].update_one(
            {"_id": document["_id"], "started_at": None}, {"$set": {"started_at": now}}
        )
        document["started_at"] = now
    return _import_from_document(document)


async def fail_stalled_uploads(
    database: Database, *, stalled_for: timedelta
) -> list[tuple[str, str]]:
    """Fails the uploads of any tenant that stored nothing for `stalled_for`; (tenant, id) of each.

    Deliberately cross-tenant, like `claim_import`: an upload whose process was killed leaves
    its import `queued` with `uploading` set, which no worker would ever take. Each is failed
    within its own tenant (the caller deletes whatever of its file was stored).
    """
    collection = database[IMPORTS_COLLECTION]
    uploading = {"status": ImportStatus.QUEUED.value, "uploading": True}
    # Uploads started before uploads were timed get the clock started now.
    await collection.update_many(
        {**uploading, "upload_seen_at": None}, {"$set": {"upload_seen_at": utc_now()}}
    )
    stalled = await collection.find(
        {**uploading, "upload_seen_at": {"$lt": utc_now() - stalled_for}},
        projection={"_id": 1, "tenant_id": 1},
    ).to_list()
    minutes = stalled_for.total_seconds() / 60
    reason = (
        f"the upload was interrupted: no data arrived for {minutes:g} minutes (the connection "
        "or the service went away); send the file again with a new import"
    )
    for document in stalled:
        await ImportRepository(database, document["tenant_id"]).fail(document["_id"], reason)
    return [(document["tenant_id"], document["_id"]) for document in stalled]


async def active_import_figures(database: Database) -> tuple[dict[ImportStatus, int], float]:
    """How many imports are queued or running, and the longest any of those whose file is in
    has gone without progress (seconds since its upload finished or its last chunk was
    processed; 0 when there is none): a worker taking turns keeps that to seconds, so a long
    one means the imports are not being worked on.

    Deliberately cross-tenant, like `claim_import`: these are the service's figures for
    `/metrics`, no tenant's."""
    active = await (
        database[IMPORTS_COLLECTION]
        .find(
            _ACTIVE_IMPORT,
            {"status": 1, "uploading": 1, "progressed_at": 1, "started_at": 1, "created_at": 1},
        )
        .to_list()
    )
    by_status = {ImportStatus.QUEUED: 0, ImportStatus.RUNNING: 0}
    now = utc_now()
    longest = 0.0
    for document in active:
        by_status[ImportStatus(document["status"])] += 1
        if document.get("uploading"):
            continue  # still receiving its file: `fail_stalled_uploads` watches those
        # Imports stored before progress was recorded fall back to when they started.
        since = (
            document.get("progressed_at") or document.get("started_at") or document["created_at"]
        )
        longest = max(longest, (now - since).total_seconds())
    return by_status, longest

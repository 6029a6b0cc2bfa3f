"""MongoDB access to the backfill and reconciliation runs of a tenant's connections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from crm_ats_sync.domain.sync import (
    MAX_RUN_ERRORS,
    SyncCounts,
    SyncError,
    SyncKind,
    SyncPhase,
    SyncRun,
    SyncRunningError,
    SyncState,
)
from crm_shared import Database, TenantScopedCollection, from_document, to_document, utc_now

SYNC_RUNS = "sync_runs"


async def ensure_sync_run_indexes(database: Database) -> None:
    """Creates the indexes of the sync_runs collection."""
    # At most one run of a connection runs at a time: a second start is refused.
    await database[SYNC_RUNS].create_index(
        [("tenant_id", ASCENDING), ("connection_id", ASCENDING)],
        unique=True,
        partialFilterExpression={"state": SyncState.RUNNING.value},
        name="one_running_run_per_connection",
    )
    await database[SYNC_RUNS].create_index(
        [
            ("tenant_id", ASCENDING),
            ("connection_id", ASCENDING),
            ("kind", ASCENDING),
            ("started_at", DESCENDING),
        ]
    )
    await database[SYNC_RUNS].create_index([("state", ASCENDING), ("due_at", ASCENDING)])


class SyncRunRepository:
    """One tenant's sync runs."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._runs = TenantScopedCollection(database[SYNC_RUNS], tenant_id)

    async def start(self, run: SyncRun) -> SyncRun:
        """Stores a new running run; `SyncRunningError` if the connection has one already."""
        try:
            await self._runs.insert_one(to_document(run))
        except DuplicateKeyError:
            running = await self.running(run.connection_id)
            if running is None:
                raise
            raise SyncRunningError(running) from None
        return run

    async def resume(self, run: SyncRun) -> SyncRun | None:
        """Sets a failed run running again from its stored cursor; None if it is no longer the
        failed run it was (or another run of the connection runs)."""
        try:
            result = await self._runs.update_one(
                {"_id": run.id, "state": SyncState.FAILED.value},
                {
                    "$set": {
                        "state": SyncState.RUNNING.value,
                        "failures": 0,
                        "due_at": utc_now(),
                        "finished_at": None,
                    }
                },
            )
        except DuplicateKeyError:
            return None
        return await self.get(run.id) if result.modified_count == 1 else None

    async def get(self, run_id: str) -> SyncRun | None:
        document = await self._runs.find_one({"_id": run_id})
        return from_document(SyncRun, document) if document else None

    async def running(self, connection_id: str) -> SyncRun | None:
        document = await self._runs.find_one(
            {"connection_id": connection_id, "state": SyncState.RUNNING.value}
        )
        return from_document(SyncRun, document) if document else None

    async def latest(self, connection_id: str, kind: SyncKind | None) -> SyncRun | None:
        """The connection's last started run of `kind` (of either kind: None)."""
        query: dict[str, Any] = {"connection_id": connection_id}
        if kind is not None:
            query["kind"] = kind.value
        found = await self._runs.find(
            query,
            sort=[("started_at", DESCENDING)],
            limit=1,
        )
        return from_document(SyncRun, found[0]) if found else None

    async def last_succeeded(self, connection_id: str) -> SyncRun | None:
        """The connection's last started run, of either kind, that succeeded."""
        found = await self._runs.find(
            {"connection_id": connection_id, "state": SyncState.SUCCEEDED.value},
            sort=[("started_at", DESCENDING)],
            limit=1,
        )
        return from_document(SyncRun, found[0]) if found else None

    async def record_page(
        self,
        run: SyncRun,
        *,
        phase: SyncPhase,
        cursor: str | None,
        counted: SyncCounts,
        errors: list[SyncError],
        finished: bool,
    ) -> bool:
        """Records one page: the cursor of the next (in `phase`), the counts it adds and its
        errors; `finished` ends the run as succeeded. False if the run moved on meanwhile (a
        runner whose lease ran out and was taken over did the page too)."""
        # The run goes behind the other due runs: connections take turns, page by page.
        changes: dict[str, Any] = {
            "phase": phase.value,
            "cursor": cursor,
            "failures": 0,
            "due_at": utc_now(),
        }
        if finished:
            changes |= {"state": SyncState.SUCCEEDED.value, "finished_at": utc_now()}
        update: dict[str, Any] = {
            "$set": changes,
            "$inc": {f"counts.{name}": value for name, value in counted.model_dump().items()},
        }
        if errors:
            update["$push"] = {
                "errors": {"$each": [e.model_dump() for e in errors], "$slice": -MAX_RUN_ERRORS}
            }
        result = await self._runs.update_one(
            {
                "_id": run.id,
                "state": SyncState.RUNNING.value,
                "phase": run.phase.value,
                "cursor": run.cursor,
            },
            update,
        )
        return result.modified_count == 1

    async def record_failure(
        self, run: SyncRun, error: SyncError, *, retry_at: datetime, give_up: bool
    ) -> None:
        """Records a page the ATS did not answer: retried at `retry_at`, or, with `give_up`,
        the run failed (a later start resumes it from the same cursor)."""
        changes: dict[str, Any] = {"due_at": retry_at}
        if give_up:
            changes |= {"state": SyncState.FAILED.value, "finished_at": utc_now()}
        await self._runs.update_one(
            {"_id": run.id, "state": SyncState.RUNNING.value},
            {
                "$set": changes,
                "$inc": {"failures": 1, "counts.errors": 1},
                "$push": {"errors": {"$each": [error.model_dump()], "$slice": -MAX_RUN_ERRORS}},
            },
        )

    async def fail(self, run: SyncRun, error: SyncError) -> None:
        """Ends a run that cannot go on (its connection was deleted or lost its API key)."""
        await self._runs.update_one(
            {"_id": run.id, "state": SyncState.RUNNING.value},
            {
                "$set": {"state": SyncState.FAILED.value, "finished_at": utc_now()},
                "$inc": {"counts.errors": 1},
                "$push": {"errors": {"$each": [error.model_dump()], "$slice": -MAX_RUN_ERRORS}},
            },
        )


async def due_runs(database: Database, *, limit: int) -> list[SyncRun]:
    """Running runs of any tenant whose next page is due, the longest waiting first.

    Deliberately cross-tenant: one runner serves every tenant's connections; each run is then
    advanced within its own tenant."""
    documents = (
        await database[SYNC_RUNS]
        .find({"state": SyncState.RUNNING.value, "due_at": {"$lte": utc_now()}})
        .sort([("due_at", ASCENDING)])
        .limit(limit)
        .to_list()
    )
    return [from_document(SyncRun, document) for document in documents]

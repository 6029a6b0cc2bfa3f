"""The audit log's use cases: recording entries off the request path, and reading them back.

Recording never waits for the database. `AuditTrail.record` appends to a bounded in-process
buffer (microseconds); a background task writes the buffer in batches. While the store is
unreachable the buffer keeps the entries and the batch is retried with backoff; once the buffer
is full, new entries are dropped, counted in `crm_audit_entries_dropped_total` and logged (at
most every `DROP_LOG_INTERVAL_SECONDS`). Requests are never refused because the audit store is
down: the gateway stays available, and the loss is visible (docs/security.md, "Audit log").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import replace

from prometheus_client import CollectorRegistry, Counter, Gauge

from crm_gateway.domain.audit import AuditEntry, AuditQuery
from crm_gateway.repositories.audit import AuditLog

logger = logging.getLogger(__name__)

DROP_LOG_INTERVAL_SECONDS = 30.0
MAX_RETRY_SECONDS = 30.0
# What a stop may take to write the buffer out before the process ends.
STOP_FLUSH_SECONDS = 3.0
EXPORT_BATCH = 500


class AuditTrail:
    """A bounded buffer of audit entries, written to the audit log in batches."""

    def __init__(
        self,
        log: AuditLog,
        registry: CollectorRegistry,
        *,
        capacity: int,
        batch_size: int,
        flush_interval_seconds: float,
    ) -> None:
        self._log = log
        self._capacity = capacity
        self._batch_size = batch_size
        self._interval = flush_interval_seconds
        self._buffer: deque[AuditEntry] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._dropped_unlogged = 0
        self._last_drop_log = float("-inf")
        self._recorded = Counter(
            "crm_audit_entries_recorded",
            "Audit entries written to the audit log",
            registry=registry,
        )
        self._dropped = Counter(
            "crm_audit_entries_dropped",
            "Audit entries lost: the buffer was full while the audit store was unreachable",
            registry=registry,
        )
        self._failures = Counter(
            "crm_audit_flush_failures", "Batches the audit store did not accept", registry=registry
        )
        self._buffered = Gauge(
            "crm_audit_buffer_entries", "Audit entries waiting to be written", registry=registry
        )
        self._buffered.set_function(lambda: len(self._buffer))

    def record(self, entry: AuditEntry) -> None:
        """Queues an entry for the next batch; never blocks, never raises."""
        if len(self._buffer) >= self._capacity:
            self._dropped.inc()
            self._dropped_unlogged += 1
            now = time.monotonic()
            if now - self._last_drop_log >= DROP_LOG_INTERVAL_SECONDS:
                logger.error(
                    "audit buffer full (%d entries): %d audit entries dropped",
                    self._capacity,
                    self._dropped_unlogged,
                )
                self._last_drop_log = now
                self._dropped_unlogged = 0
            return
        self._buffer.append(entry)
        if len(self._buffer) >= self._batch_size:
            self._wake.set()

    def start(self) -> None:
        """Starts the background writer (in the running event loop)."""
        if self._task is None:
            # A fresh event per start: an app may be started again in another event loop.
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="audit-trail")

    async def stop(self) -> None:
        """Stops the writer and writes what is buffered, each within `STOP_FLUSH_SECONDS`:
        a write that ignores its cancel (a database call that does not return) is abandoned,
        not waited for, so the process's shutdown always ends."""
        if self._task is not None:
            self._task.cancel()
            # asyncio.wait, not gather or wait_for: both wait for a cancel to be honoured.
            await asyncio.wait({self._task}, timeout=STOP_FLUSH_SECONDS)
            self._task = None
        flushing = asyncio.create_task(self.flush(), name="audit-final-flush")
        await asyncio.wait({flushing}, timeout=STOP_FLUSH_SECONDS)
        if not flushing.done():
            flushing.cancel()
            logger.error(
                "audit entries not written at shutdown: %d (the store did not answer within "
                "%.0f s)",
                len(self._buffer),
                STOP_FLUSH_SECONDS,
            )
        elif flushing.exception() is not None:  # shutting down: say what is lost, do not raise
            logger.error(
                "audit entries not written at shutdown: %d",
                len(self._buffer),
                exc_info=flushing.exception(),
            )

    async def flush(self) -> None:
        """Writes every buffered entry, batch by batch; raises when the store refuses one (the
        batch stays buffered, in order)."""
        while self._buffer:
            batch = [self._buffer[i] for i in range(min(self._batch_size, len(self._buffer)))]
            await self._log.append(batch)
            for _ in batch:
                self._buffer.popleft()
            self._recorded.inc(len(batch))

    async def _run(self) -> None:
        backoff = self._interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), backoff)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # any store failure: keep the entries, retry
                self._failures.inc()
                logger.warning(
                    "audit store unreachable; %d entries buffered", len(self._buffer), exc_info=True
                )
                backoff = min(max(backoff * 2, 0.5), MAX_RETRY_SECONDS)
            else:
                backoff = self._interval


async def search_audit_log(
    log: AuditLog, tenant_id: str, query: AuditQuery, limit: int
) -> tuple[list[AuditEntry], str | None]:
    """One page of the tenant's audit log, newest first, and the id to resume after (None on
    the last page)."""
    found = await log.search(tenant_id, query, limit + 1)
    page = found[:limit]
    return page, (page[-1].id if len(found) > limit else None)


async def export_audit_log(
    log: AuditLog, tenant_id: str, query: AuditQuery
) -> AsyncIterator[AuditEntry]:
    """Every entry of the tenant's audit log matching `query`, newest first, read in batches."""
    while True:
        batch = await log.search(tenant_id, query, EXPORT_BATCH)
        for entry in batch:
            yield entry
        if len(batch) < EXPORT_BATCH:
            return
        query = replace(query, before_id=batch[-1].id)


class AuditLogQueries:
    """The audit log's reads the HTTP edge offers: a page of a search, and an export."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    async def search(
        self, tenant_id: str, query: AuditQuery, limit: int
    ) -> tuple[list[AuditEntry], str | None]:
        """One page of the tenant's audit log (see `search_audit_log`)."""
        return await search_audit_log(self._log, tenant_id, query, limit)

    def export(self, tenant_id: str, query: AuditQuery) -> AsyncIterator[AuditEntry]:
        """Every matching entry of the tenant's audit log (see `export_audit_log`)."""
        return export_audit_log(self._log, tenant_id, query)

"""Backfill and reconciliation: a connection's history pulled from its ATS's read API page by
page, each application applied as a snapshot and each job stored, in a background runner that
resumes from the last stored cursor after a restart.

A run stores its cursor and counts after each page (`sync_runs`). The runner takes one page of
one due run per turn, the runs of all connections taking turns, under a lease per connection
(`crm_shared.NamedLease`): two replicas never pull the same connection at once, and a lease
left by a killed process expires so another resumes the run. A page applied but not recorded
(the process died in between) is read again on resume: its snapshots then equal the stored
state and change nothing, so nothing is created or announced twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from crm_ats_sync.application.breaker import CircuitBreaker
from crm_ats_sync.application.connections import find_connection
from crm_ats_sync.application.ports import (
    AtsApiFactory,
    AtsCredentialsRefused,
    AtsUnavailableError,
)
from crm_ats_sync.application.rejected_payloads import Rejection, keep_rejected
from crm_ats_sync.application.snapshots import (
    SnapshotOutcome,
    SnapshotResult,
    apply_snapshots,
)
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.changes import ApplicationSnapshot, AtsJob, Page
from crm_ats_sync.domain.models import Connection, Provider
from crm_ats_sync.domain.rejected_payloads import PayloadSource, as_json_bytes
from crm_ats_sync.domain.sync import (
    SyncCounts,
    SyncError,
    SyncKind,
    SyncPhase,
    SyncRun,
    SyncRunningError,
    SyncState,
    reconcile_since,
    retry_delay,
)
from crm_ats_sync.publishers import to_job_changed
from crm_ats_sync.repositories.connections import connections_with_api
from crm_ats_sync.repositories.sync_runs import due_runs
from crm_shared import BatchWorker, NamedLease, Session, Wakeup, new_id, utc_now

logger = logging.getLogger(__name__)

_DELETED = "the connection was deleted"
_SOURCES = {SyncKind.BACKFILL: PayloadSource.BACKFILL, SyncKind.RECONCILE: PayloadSource.RECONCILE}


class ApiNotConnected(Exception):
    """The connection has no API key (or its ATS has no read adapter yet): it takes webhooks
    only, and cannot be backfilled or reconciled."""


@dataclass(frozen=True)
class SyncPolicy:
    """How the runner paces itself."""

    # How long a runner holds a connection while it pulls one page.
    lease: timedelta = timedelta(seconds=120)
    # Pages the ATS does not answer in a row before the run fails (resumable by a new start).
    max_failures: int = 5
    retry_base: timedelta = timedelta(seconds=30)
    retry_ceiling: timedelta = timedelta(minutes=15)
    # Every connection with an API key is reconciled this often.
    reconcile_every: timedelta = timedelta(minutes=15)
    # A reconciliation reads again what changed this long before the last good run started.
    overlap: timedelta = timedelta(minutes=5)
    # How often the runner looks for connections due a reconciliation.
    schedule_check: timedelta = timedelta(seconds=60)
    # Snapshots of a page applied in one transaction (with their events): a Harvest page of
    # 500 at once by default.
    apply_batch: int = 500


@dataclass(frozen=True)
class SyncStatus:
    """A connection's last backfill and last reconciliation."""

    backfill: SyncRun | None
    reconcile: SyncRun | None


def _readable(connection: Connection, factories: Mapping[Provider, AtsApiFactory]) -> AtsApiFactory:
    factory = factories.get(connection.provider)
    if connection.api_key is None:
        raise ApiNotConnected("the connection has no API key; it takes webhooks only")
    if factory is None:
        raise ApiNotConnected(f"reading the {connection.provider.value} API is not supported yet")
    return factory


async def start_backfill(
    storage: AtsStorage,
    factories: Mapping[Provider, AtsApiFactory],
    tenant_id: str,
    connection_id: str,
    *,
    requested_by: str | None,
) -> SyncRun:
    """Starts importing the connection's whole history, or resumes its last backfill from its
    stored cursor if that one failed. `ConnectionNotFound`, `ApiNotConnected`, or
    `SyncRunningError` while a run of the connection is in progress."""
    connection = await find_connection(storage, tenant_id, connection_id)
    _readable(connection, factories)
    runs = storage.sync_runs(tenant_id)
    last = await runs.latest(connection_id, SyncKind.BACKFILL)
    if last is not None and last.state is SyncState.FAILED:
        resumed = await runs.resume(last)
        if resumed is not None:
            return resumed
    return await runs.start(
        SyncRun(
            tenant_id=tenant_id,
            connection_id=connection_id,
            kind=SyncKind.BACKFILL,
            requested_by=requested_by,
        )
    )


async def start_first_backfill(
    storage: AtsStorage,
    factories: Mapping[Provider, AtsApiFactory],
    connection: Connection,
    *,
    requested_by: str,
) -> SyncRun | None:
    """Starts a new connection's first backfill at once, not at the schedule's next look (up
    to `schedule_check`): whoever connected sees its progress, or the ATS refusing the key,
    right away. None for a connection whose ATS cannot be read (no API key, or an ATS whose
    API the CRM does not read yet), or whose backfill the schedule started first."""
    if connection.api_key is None or connection.provider not in factories:
        return None
    try:
        return await start_backfill(
            storage, factories, connection.tenant_id, connection.id, requested_by=requested_by
        )
    except (SyncRunningError, ApiNotConnected):
        return None


async def start_reconcile(
    storage: AtsStorage,
    factories: Mapping[Provider, AtsApiFactory],
    tenant_id: str,
    connection_id: str,
    *,
    overlap: timedelta,
    requested_by: str | None,
) -> SyncRun:
    """Starts pulling what the ATS changed since the connection's last successful run started
    (less `overlap`; everything if none succeeded). Refusals as `start_backfill`'s."""
    connection = await find_connection(storage, tenant_id, connection_id)
    _readable(connection, factories)
    runs = storage.sync_runs(tenant_id)
    last_good = await runs.last_succeeded(connection_id)
    return await runs.start(
        SyncRun(
            tenant_id=tenant_id,
            connection_id=connection_id,
            kind=SyncKind.RECONCILE,
            updated_after=reconcile_since(last_good.started_at if last_good else None, overlap),
            requested_by=requested_by,
        )
    )


async def sync_status(storage: AtsStorage, tenant_id: str, connection_id: str) -> SyncStatus:
    """The connection's last backfill and reconciliation; `ConnectionNotFound` if none."""
    await find_connection(storage, tenant_id, connection_id)
    runs = storage.sync_runs(tenant_id)
    return SyncStatus(
        backfill=await runs.latest(connection_id, SyncKind.BACKFILL),
        reconcile=await runs.latest(connection_id, SyncKind.RECONCILE),
    )


class _ConnectionDeleted(Exception):
    """The connection was deleted while its run stored a page: nothing more is stored."""


@dataclass
class _PageResult:
    counts: SyncCounts
    errors: list[SyncError] = field(default_factory=list)
    announced: bool = False
    # The connection was deleted while the page was stored.
    deleted: bool = False


class SyncRunner:
    """Advances every tenant's running backfills and reconciliations, one page per turn, and
    starts the scheduled reconciliations."""

    def __init__(
        self,
        storage: AtsStorage,
        factories: Mapping[Provider, AtsApiFactory],
        policy: SyncPolicy,
        *,
        poll_seconds: float = 2.0,
        owner: str | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._storage = storage
        self._factories = factories
        # Every call to a connection's API goes through its breaker: an ATS that keeps failing
        # is left alone for a while instead of being asked on every turn.
        self._breaker = breaker or CircuitBreaker(storage.breakers)
        self._policy = policy
        self._owner = owner or new_id()
        self._next_schedule = 0.0
        self.wakeup = Wakeup()
        self._worker = BatchWorker(
            "ats-sync-runs",
            self.run_once,
            batch_size=1,
            wakeup=self.wakeup,
            poll_interval_seconds=poll_seconds,
        )

    async def run_once(self) -> int:
        """Pulls one page of the run that waited longest and whose connection no other runner
        holds; 1 if it did. Every `schedule_check` it first starts the due reconciliations."""
        if monotonic() >= self._next_schedule:
            self._next_schedule = monotonic() + self._policy.schedule_check.total_seconds()
            await self.schedule_reconciliations()
        for run in await due_runs(self._storage.database, limit=20):
            lease = NamedLease(
                self._storage.database,
                f"ats-sync:{run.connection_id}",
                owner=self._owner,
                lease=self._policy.lease,
            )
            if not await lease.claim():
                continue
            try:
                # Read again under the lease: another runner may have moved it on since.
                current = await self._storage.sync_runs(run.tenant_id).get(run.id)
                if current is None or current.state is not SyncState.RUNNING:
                    continue
                await self._advance(current)
            finally:
                await lease.release()
            return 1
        return 0

    async def schedule_reconciliations(self) -> int:
        """Starts a reconciliation of every connection with an API key whose last run started
        `reconcile_every` ago or more (a backfill for one never pulled); how many it started.
        One replica at a time does this."""
        schedule = NamedLease(
            self._storage.database,
            "ats-sync:reconcile-schedule",
            owner=self._owner,
            lease=self._policy.schedule_check,
        )
        if not await schedule.claim():
            return 0
        started = 0
        for connection in await connections_with_api(self._storage.database, self._storage.keyring):
            if connection.provider not in self._factories:
                continue
            runs = self._storage.sync_runs(connection.tenant_id)
            last = await runs.latest(connection.id, None)
            if last is not None and last.started_at > utc_now() - self._policy.reconcile_every:
                continue
            try:
                if last is None:
                    await start_backfill(
                        self._storage,
                        self._factories,
                        connection.tenant_id,
                        connection.id,
                        requested_by=None,
                    )
                else:
                    await start_reconcile(
                        self._storage,
                        self._factories,
                        connection.tenant_id,
                        connection.id,
                        overlap=self._policy.overlap,
                        requested_by=None,
                    )
            except SyncRunningError:
                continue
            started += 1
        return started

    async def _advance(self, run: SyncRun) -> None:
        """Pulls and applies the run's next page, then records where the next one starts."""
        runs = self._storage.sync_runs(run.tenant_id)
        connection = await self._storage.connections(run.tenant_id).connection(run.connection_id)
        try:
            if connection is None:
                raise ApiNotConnected(_DELETED)
            factory = _readable(connection, self._factories)
        except ApiNotConnected as gone:
            await runs.fail(run, SyncError(at=utc_now(), reason=str(gone)))
            return
        assert connection.api_key is not None
        api = factory(base_url=connection.api_base_url, api_key=connection.api_key)
        try:
            if run.phase is SyncPhase.APPLICATIONS:
                applications = await self._breaker.call(
                    connection,
                    lambda: api.applications_page(
                        updated_after=run.updated_after, cursor=run.cursor
                    ),
                )
            else:
                jobs = await self._breaker.call(
                    connection,
                    lambda: api.jobs_page(updated_after=run.updated_after, cursor=run.cursor),
                )
        except Exception as unread:
            # The ATS did not answer, or answered what its adapter cannot read: either way the
            # page is asked for again later, and the run says why it is stuck.
            # Refused credentials stay refused until someone changes them: no asking again.
            final = isinstance(unread, AtsCredentialsRefused)
            await self._record_failure(run, _reason(unread), final=final)
            return
        finally:
            await api.aclose()
        source = _SOURCES[run.kind]
        if run.phase is SyncPhase.APPLICATIONS:
            next_cursor = applications.next_cursor
            result = await self._apply_applications(connection, applications, source)
        else:
            next_cursor = jobs.next_cursor
            result = await self._apply_jobs(connection, jobs, source)
        if result.deleted:
            await runs.fail(run, SyncError(at=utc_now(), reason=_DELETED))
            if result.announced:
                self._storage.outbox.notify_committed()
            return
        finished = next_cursor is None and run.phase is SyncPhase.JOBS
        next_phase = SyncPhase.JOBS if next_cursor is None else run.phase
        if not await runs.record_page(
            run,
            phase=next_phase,
            cursor=next_cursor,
            counted=result.counts,
            errors=result.errors,
            finished=finished,
        ):
            logger.info("sync run %s moved on meanwhile; its page was applied twice", run.id)
        if result.announced:
            self._storage.outbox.notify_committed()
        if not finished:
            self.wakeup.notify()

    async def _apply_applications(
        self, connection: Connection, page: Page[ApplicationSnapshot], source: PayloadSource
    ) -> _PageResult:
        """Applies the page's snapshots `apply_batch` at a time, each batch in one transaction
        (`apply_snapshots`); a record the adapter could not map, and a snapshot the CRM cannot
        store, is recorded as the run's error, kept among the connection's rejected payloads
        and skipped (the next run reads it again if the ATS changes it)."""
        created = updated = 0
        errors = await self._unmapped(connection, page, source)
        rejections: list[Rejection] = []
        received_at = utc_now()
        size = self._policy.apply_batch
        for first in range(0, len(page.items), size):
            batch = page.items[first : first + size]
            try:
                results = await self._apply_batch(connection, batch, received_at)
            except ValueError:
                # Not one snapshot's fault that could be told apart: each on its own, so the
                # others are stored and the one that fails is named.
                results = []
                for snapshot in batch:
                    results += await self._apply_batch(
                        connection, [snapshot], received_at, raises=False
                    )
            for snapshot, result in zip(batch, results, strict=True):
                if isinstance(result, ValueError):
                    error = _item_error(snapshot.ats_application_id, result)
                    errors.append(error)
                    rejections.append(
                        Rejection(
                            error.reason,
                            as_json_bytes(snapshot.source or snapshot),
                            snapshot.ats_application_id,
                        )
                    )
                    continue
                created += result == SnapshotOutcome.CREATED
                updated += result == SnapshotOutcome.UPDATED
        await keep_rejected(self._storage, connection, source, rejections)
        counts = SyncCounts(
            pages=1,
            applications_seen=len(page.items) + len(page.rejected),
            applications_created=created,
            applications_updated=updated,
            errors=len(errors),
        )
        return _PageResult(counts, errors, announced=created + updated > 0)

    async def _apply_batch(
        self,
        connection: Connection,
        batch: list[ApplicationSnapshot],
        received_at: datetime,
        *,
        raises: bool = True,
    ) -> list[SnapshotResult]:
        """Applies the snapshots in one transaction; with `raises` False a `ValueError` that
        escapes it (nothing written) is the result of each."""

        async def apply(session: Session) -> list[SnapshotResult]:
            return await apply_snapshots(
                self._storage, connection, batch, received_at=received_at, session=session
            )

        try:
            return await self._storage.in_transaction(apply)
        except ValueError as invalid:
            if raises:
                raise
            return [invalid] * len(batch)

    async def _unmapped(
        self, connection: Connection, page: Page[Any], source: PayloadSource
    ) -> list[SyncError]:
        """The run's errors for the page's records the adapter could not map, each kept among
        the connection's rejected payloads."""
        errors = [
            SyncError(at=utc_now(), reason=record.reason, ats_id=record.ats_id)
            for record in page.rejected
        ]
        for error in errors:
            logger.warning("ATS record %s not mapped: %s", error.ats_id, error.reason)
        await keep_rejected(
            self._storage,
            connection,
            source,
            [
                Rejection(record.reason, as_json_bytes(record.payload), record.ats_id)
                for record in page.rejected
            ],
        )
        return errors

    async def _apply_jobs(
        self, connection: Connection, page: Page[AtsJob], source: PayloadSource
    ) -> _PageResult:
        """Stores each job in its own transaction, announcing the new and changed ones; a job
        not mapped or not stored is an error of the run, kept among the rejected payloads."""
        changed = 0
        errors = await self._unmapped(connection, page, source)
        rejections: list[Rejection] = []
        jobs = self._storage.jobs(connection.tenant_id)
        connections = self._storage.connections(connection.tenant_id)
        for job in page.items:

            async def save(session: Session, job: AtsJob = job) -> bool:
                saved = await jobs.save(connection, job, session=session)
                if saved is None:
                    return False
                if not await connections.hold_for_jobs(connection.id, session=session):
                    raise _ConnectionDeleted(connection.id)
                stored, created = saved
                await to_job_changed(self._storage.outbox, stored, created=created, session=session)
                return True

            try:
                changed += await self._storage.in_transaction(save)
            except ValueError as invalid:
                error = _item_error(job.ats_job_id, invalid)
                errors.append(error)
                rejections.append(Rejection(error.reason, as_json_bytes(job), job.ats_job_id))
            except _ConnectionDeleted:
                # Its deletion closed its jobs: none of them may be stored open after it.
                return _PageResult(SyncCounts(), errors, announced=changed > 0, deleted=True)
        await keep_rejected(self._storage, connection, source, rejections)
        counts = SyncCounts(
            pages=1,
            jobs_seen=len(page.items) + len(page.rejected),
            jobs_changed=changed,
            errors=len(errors),
        )
        return _PageResult(counts, errors, announced=changed > 0)

    async def _record_failure(self, run: SyncRun, reason: str, *, final: bool = False) -> None:
        failures = run.failures + 1
        give_up = final or failures >= self._policy.max_failures
        delay = retry_delay(
            failures, base=self._policy.retry_base, ceiling=self._policy.retry_ceiling
        )
        logger.warning("sync run %s: page not read (%s); failure %d", run.id, reason, failures)
        await self._storage.sync_runs(run.tenant_id).record_failure(
            run,
            SyncError(at=utc_now(), reason=f"{run.phase.value} page not read: {reason}"),
            retry_at=utc_now() + delay,
            give_up=give_up,
        )

    def start(self) -> None:
        """Starts the runner in the background; runs a stopped process left are resumed."""
        self._worker.start()

    async def stop(self) -> None:
        """Stops the runner; an interrupted page is read again by the next turn."""
        await self._worker.stop()


def _reason(error: Exception) -> str:
    """What a run records of a page it could not read."""
    if isinstance(error, AtsUnavailableError):
        return str(error)
    logger.exception("the ATS's answer could not be read")
    return f"the ATS's answer could not be read ({type(error).__name__}: {error})"


def _item_error(ats_id: str, invalid: ValueError) -> SyncError:
    logger.warning("ATS record %s not stored: %s", ats_id, invalid)
    return SyncError(at=utc_now(), reason=f"not stored: {invalid}", ats_id=ats_id)

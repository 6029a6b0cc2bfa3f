"""Backfill and reconciliation against SecantusDB with an in-memory ATS behind the `AtsApi`
port: the whole history imported page by page with its progress stored; a runner killed
mid-page resumed by another from the stored cursor with nothing duplicated; a run the ATS
stops answering failed with the reason and resumed; a reconciliation that repairs missed and
out-of-order webhooks; reconciliations started on schedule; a deleted connection's jobs
announced closed, also when a run was reading them."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from ats_fake import FakeAts, FakeAtsApi

from crm_ats_sync.application.connections import delete_connection
from crm_ats_sync.application.jobs import list_jobs
from crm_ats_sync.application.recording import record_change, record_new_application
from crm_ats_sync.application.rejected_payloads import list_rejected
from crm_ats_sync.application.snapshots import apply_snapshot
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.application.sync import (
    SyncPolicy,
    SyncRunner,
    start_backfill,
    start_reconcile,
    sync_status,
)
from crm_ats_sync.domain.changes import (
    ApplicationChange,
    ApplicationSnapshot,
    ApplicationStatus,
    ChangeKind,
    JobStatus,
    UnmappedRecord,
)
from crm_ats_sync.domain.models import Application, Connection, Provider
from crm_ats_sync.domain.rejected_payloads import PayloadSource
from crm_ats_sync.domain.snapshots import as_new_application
from crm_ats_sync.domain.sync import SyncKind, SyncPhase, SyncRun, SyncRunningError, SyncState
from crm_shared import NamedLease, Session, utc_now
from integration.ats_sync.support import connected, staged

pytestmark = pytest.mark.integration

POLICY = SyncPolicy(
    lease=timedelta(seconds=1),
    max_failures=2,
    retry_base=timedelta(0),
    overlap=timedelta(minutes=5),
    # Scheduling is tested on its own; elsewhere the runner only advances started runs.
    schedule_check=timedelta(days=1),
)
STAGES = ["Application Review", "Phone Screen", "Onsite", "Offer"]


def history(ats: FakeAts, count: int, start: datetime) -> None:
    """`count` past applicants, a day apart: some in progress, some rejected, some hired."""
    for n in range(count):
        at = start + timedelta(days=n)
        application_id = f"a-{n:03}"
        ats.add(application_id, email=f"person{n}@example.org", stage=STAGES[0], at=at)
        stage = STAGES[n % len(STAGES)]
        if n % 3 == 1:
            ats.change(
                application_id,
                at=at + timedelta(hours=5),
                stage=stage,
                status=ApplicationStatus.REJECTED,
                rejection_reason="Not a fit",
            )
        elif n % 5 == 0:
            ats.change(
                application_id,
                at=at + timedelta(hours=6),
                stage="Offer",
                status=ApplicationStatus.HIRED,
            )
        else:
            ats.change(application_id, at=at + timedelta(hours=4), stage=stage)
    ats.add_job("job-1", "Data Engineer", at=start)
    ats.add_job("job-2", "Designer", at=start, status=JobStatus.CLOSED)
    ats.add_job("job-3", "Recruiter", at=start + timedelta(days=1))


def runner(storage: AtsStorage, ats: FakeAts, owner: str = "runner-1") -> SyncRunner:
    return SyncRunner(storage, {Provider.LEVER: ats.open_api}, POLICY, owner=owner)


async def run_all(sync: SyncRunner, *, limit: int = 200) -> int:
    """Turns of the runner until nothing is due; how many pages it pulled."""
    pages = 0
    while await sync.run_once():
        pages += 1
        assert pages < limit
    return pages


async def backfill(storage: AtsStorage, ats: FakeAts, connection: Connection) -> SyncRun:
    return await start_backfill(
        storage,
        {Provider.LEVER: ats.open_api},
        connection.tenant_id,
        connection.id,
        requested_by="admin-1",
    )


async def status_of(storage: AtsStorage, connection: Connection) -> tuple[SyncRun, SyncRun | None]:
    status = await sync_status(storage, connection.tenant_id, connection.id)
    assert status.backfill is not None
    return status.backfill, status.reconcile


def assert_matches(ats: FakeAts, stored: list[Application]) -> None:
    """The stored applications are the ATS's, in the same stage and status."""
    expected = {
        (s.ats_application_id, s.stage, s.status, s.rejection_reason)
        for s in ats.applications.values()
    }
    held = {(a.ats_application_id, a.stage, a.status, a.rejection_reason) for a in stored}
    assert held == expected


async def test_a_backfill_imports_the_whole_history_page_by_page(storage: AtsStorage) -> None:
    connection = await connected(storage)
    ats = FakeAts(page_size=4)
    history(ats, 18, utc_now() - timedelta(days=1000))
    run = await backfill(storage, ats, connection)
    assert (run.state, run.phase, run.cursor) == (SyncState.RUNNING, SyncPhase.APPLICATIONS, None)
    with pytest.raises(SyncRunningError):
        await backfill(storage, ats, connection)

    assert await run_all(runner(storage, ats)) == 5 + 1
    done, reconcile = await status_of(storage, connection)
    assert reconcile is None
    assert done.state is SyncState.SUCCEEDED
    assert done.finished_at is not None
    counts = done.counts
    assert (counts.pages, counts.applications_seen, counts.applications_created) == (6, 18, 18)
    assert (counts.applications_updated, counts.jobs_seen, counts.jobs_changed) == (0, 3, 3)
    assert_matches(
        ats, await storage.applications(connection.tenant_id).applications(candidate_id=None)
    )

    topics = Counter(topic for topic, _ in await staged(storage, connection.tenant_id))
    rejected = sum(1 for s in ats.applications.values() if s.status is ApplicationStatus.REJECTED)
    hired = sum(1 for s in ats.applications.values() if s.status is ApplicationStatus.HIRED)
    assert topics == {
        "ats.application_created": 18,
        "ats.application_rejected": rejected,
        "ats.application_hired": hired,
        "job.changed": 3,
    }
    open_jobs = await list_jobs(
        storage, connection.tenant_id, connection_id=connection.id, status=JobStatus.OPEN
    )
    assert [job.name for job in open_jobs] == ["Data Engineer", "Recruiter"]

    # Backfilling again reads everything again and announces nothing.
    await backfill(storage, ats, connection)
    await run_all(runner(storage, ats))
    again, _ = await status_of(storage, connection)
    assert (again.counts.applications_seen, again.counts.applications_created) == (18, 0)
    assert (again.counts.applications_updated, again.counts.jobs_changed) == (0, 0)
    assert len(await staged(storage, connection.tenant_id)) == sum(topics.values())


async def test_a_runner_killed_mid_page_is_resumed_by_another_with_nothing_duplicated(
    storage: AtsStorage,
) -> None:
    connection = await connected(storage)
    ats = FakeAts(page_size=5)
    history(ats, 20, utc_now() - timedelta(days=800))
    await backfill(storage, ats, connection)
    first = runner(storage, ats, owner="killed")
    assert await first.run_once() == 1
    assert await first.run_once() == 1

    # The killed runner held the connection's lease and had applied half of its third page
    # (read with the cursor it stored) when it died: neither its lease nor the page was
    # recorded.
    progress, _ = await status_of(storage, connection)
    assert progress.counts.applications_seen == 10
    api = ats.open_api(base_url=None, api_key="lever-key")
    page = await api.applications_page(updated_after=None, cursor=progress.cursor)
    for snapshot in page.items[:3]:

        async def apply(session: Session, snapshot: ApplicationSnapshot = snapshot) -> object:
            return await apply_snapshot(
                storage, connection, snapshot, received_at=utc_now(), session=session
            )

        await storage.in_transaction(apply)
    lease = NamedLease(
        storage.database, f"ats-sync:{connection.id}", owner="killed", lease=POLICY.lease
    )
    assert await lease.claim()

    second = runner(storage, ats, owner="successor")
    assert await second.run_once() == 0, "the lease of the killed runner still holds"
    while not await second.run_once():
        pass  # the lease expires within a second
    await run_all(second)

    done, _ = await status_of(storage, connection)
    assert done.state is SyncState.SUCCEEDED
    assert done.counts.applications_seen == 20
    # The three applied before the kill were found current: created by the killed runner.
    assert done.counts.applications_created == 17
    assert_matches(
        ats, await storage.applications(connection.tenant_id).applications(candidate_id=None)
    )
    events = Counter(
        (topic, data.get("ats_application_id", data.get("ats_job_id")))
        for topic, data in await staged(storage, connection.tenant_id)
    )
    assert len([t for t, _ in events if t == "ats.application_created"]) == 20
    assert set(events.values()) == {1}, "an event was staged twice"


async def test_records_not_mapped_or_not_stored_are_skipped_and_kept(storage: AtsStorage) -> None:
    connection = await connected(storage)
    ats = FakeAts(page_size=10)
    history(ats, 4, utc_now() - timedelta(days=100))
    # One record the adapter could not map, and one the CRM cannot key (no address, no id).
    ats.unmapped.append(
        UnmappedRecord("x-1", "application not mapped: 'status'", {"id": "x-1", "status": "?"})
    )
    unkeyed = ats.add("unkeyed", email="u@example.org", stage="New", at=utc_now())
    ats.applications["unkeyed"] = replace(unkeyed, emails=[], ats_candidate_id="")
    await backfill(storage, ats, connection)
    await run_all(runner(storage, ats))

    done, _ = await status_of(storage, connection)
    assert done.state is SyncState.SUCCEEDED
    counts = done.counts
    assert (counts.applications_seen, counts.applications_created, counts.errors) == (6, 4, 2)
    assert sorted(str(e.ats_id) for e in done.errors) == ["unkeyed", "x-1"]
    kept, _ = await list_rejected(
        storage, connection.tenant_id, connection.id, before_id=None, limit=10
    )
    by_id = {p.ats_id: p for p in kept}
    assert {p.source for p in kept} == {PayloadSource.BACKFILL}
    assert json.loads(by_id["x-1"].body) == {"id": "x-1", "status": "?"}
    assert by_id["x-1"].reason == "application not mapped: 'status'"
    # Without the ATS's own record at hand, the snapshot it was mapped into is kept.
    assert json.loads(by_id["unkeyed"].body)["ats_application_id"] == "unkeyed"
    assert by_id["unkeyed"].reason.startswith("not stored: ")


async def test_a_backfill_the_ats_stops_answering_fails_with_the_reason_and_resumes(
    storage: AtsStorage,
) -> None:
    connection = await connected(storage)
    ats = FakeAts(page_size=5, fail_after_pages=2, failing_pages=2)
    history(ats, 12, utc_now() - timedelta(days=500))
    await backfill(storage, ats, connection)
    await run_all(runner(storage, ats))

    failed, _ = await status_of(storage, connection)
    assert failed.state is SyncState.FAILED
    assert failed.counts.applications_seen == 10
    assert failed.counts.errors == 2
    assert [e.reason for e in failed.errors] == [
        "applications page not read: GET /applications answered 503 (5 attempts)"
    ] * 2

    resumed = await backfill(storage, ats, connection)
    assert (resumed.id, resumed.state, resumed.cursor) == (
        failed.id,
        SyncState.RUNNING,
        failed.cursor,
    )
    await run_all(runner(storage, ats))
    done, _ = await status_of(storage, connection)
    assert (done.id, done.state) == (failed.id, SyncState.SUCCEEDED)
    assert (done.counts.applications_seen, done.counts.applications_created) == (12, 12)
    created = [t for t, _ in await staged(storage, connection.tenant_id) if t.endswith("created")]
    assert len(created) == 12


async def test_a_backfill_whose_credentials_are_refused_fails_at_once(storage: AtsStorage) -> None:
    """A wrong key stays wrong until someone changes it: the run fails at its first page with
    the reason, instead of asking again for minutes."""
    connection = await connected(storage)
    ats = FakeAts(page_size=5, credentials_refused=True)
    history(ats, 3, utc_now() - timedelta(days=10))
    await backfill(storage, ats, connection)
    await run_all(runner(storage, ats))

    failed, _ = await status_of(storage, connection)
    assert failed.state is SyncState.FAILED
    assert ats.pages_served == 1
    assert [e.reason for e in failed.errors] == [
        "applications page not read: GET /applications was refused (401): check the API key"
    ]


async def test_a_reconcile_repairs_missed_and_out_of_order_webhooks(storage: AtsStorage) -> None:
    connection = await connected(storage)
    ats = FakeAts(page_size=7)
    history(ats, 15, utc_now() - timedelta(days=300))
    await backfill(storage, ats, connection)
    await run_all(runner(storage, ats))
    before = len(await staged(storage, connection.tenant_id))

    # After the backfill the ATS moves on: 12 changes (new applications, moves, rejections,
    # hires), of which the webhooks deliver two thirds, shuffled; a third are lost.
    now = utc_now()
    reports: list[ApplicationChange | tuple[str, datetime]] = []
    in_progress = [
        s.ats_application_id
        for s in ats.applications.values()
        if s.status is ApplicationStatus.ACTIVE
    ]
    for n, application_id in enumerate(in_progress[:4]):
        at = now + timedelta(seconds=n)
        reports.append(_change(ats, application_id, ChangeKind.STAGE_CHANGED, "Offer", at))
        later = at + timedelta(minutes=1)
        kind = ChangeKind.HIRED if n % 2 else ChangeKind.REJECTED
        reports.append(_change(ats, application_id, kind, "Offer", later))
    for n in range(4):
        at = now + timedelta(minutes=2, seconds=n)
        ats.add(f"new-{n}", email=f"new{n}@example.org", stage="Application Review", at=at)
        reports.append((f"new-{n}", at))
    shuffled = random.Random(21).sample(reports, len(reports))
    delivered, lost = shuffled[:8], shuffled[8:]
    for report in delivered:
        await _deliver(storage, connection, ats, report)
    stale_or_missing = {
        a.ats_application_id
        for a in await storage.applications(connection.tenant_id).applications(candidate_id=None)
        if (a.stage, a.status)
        != (
            ats.applications[a.ats_application_id].stage,
            ats.applications[a.ats_application_id].status,
        )
    } | {r[0] for r in lost if isinstance(r, tuple)}
    assert stale_or_missing, "the lost deliveries left the CRM behind the ATS"
    delivered_events = len(await staged(storage, connection.tenant_id))

    run = await start_reconcile(
        storage,
        {Provider.LEVER: ats.open_api},
        connection.tenant_id,
        connection.id,
        overlap=POLICY.overlap,
        requested_by="admin-1",
    )
    backfill_run, _ = await status_of(storage, connection)
    assert run.updated_after == backfill_run.started_at - POLICY.overlap
    await run_all(runner(storage, ats))

    _, reconciled = await status_of(storage, connection)
    assert reconciled is not None
    assert (reconciled.kind, reconciled.state) == (SyncKind.RECONCILE, SyncState.SUCCEEDED)
    # Only what changed since the backfill was read.
    assert reconciled.counts.applications_seen == 8
    assert_matches(
        ats, await storage.applications(connection.tenant_id).applications(candidate_id=None)
    )
    repairs = (await staged(storage, connection.tenant_id))[delivered_events:]
    assert {d["ats_application_id"] for _, d in repairs} == stale_or_missing
    assert before < delivered_events < delivered_events + len(repairs)


def _change(
    ats: FakeAts, application_id: str, kind: ChangeKind, stage: str, at: datetime
) -> ApplicationChange:
    """Makes the change in the ATS; the webhook it sends."""
    status = {
        ChangeKind.REJECTED: ApplicationStatus.REJECTED,
        ChangeKind.HIRED: ApplicationStatus.HIRED,
    }.get(kind, ApplicationStatus.ACTIVE)
    reason = "Withdrew" if kind is ChangeKind.REJECTED else None
    snapshot = ats.change(
        application_id, at=at, stage=stage, status=status, rejection_reason=reason
    )
    return ApplicationChange(
        kind=kind,
        ats_application_id=application_id,
        ats_candidate_id=snapshot.ats_candidate_id,
        emails=snapshot.emails,
        job_name=snapshot.job_name,
        stage=stage,
        occurred_at=at,
        rejection_reason=reason,
    )


async def _deliver(
    storage: AtsStorage,
    connection: Connection,
    ats: FakeAts,
    report: ApplicationChange | tuple[str, datetime],
) -> None:
    """What receiving the webhook does once verified (see `receive_webhook`)."""
    if isinstance(report, ApplicationChange):
        await storage.in_transaction(
            lambda session: record_change(storage, connection, report, utc_now(), session)
        )
        return
    new = as_new_application(ats.applications[report[0]])
    await storage.in_transaction(
        lambda session: record_new_application(storage, connection, new, session)
    )


async def test_reconciliations_start_on_schedule_for_connections_with_an_api_key(
    storage: AtsStorage,
) -> None:
    with_key = await connected(storage)
    webhooks_only = await connected(storage, api_key=None)
    ats = FakeAts()
    history(ats, 3, utc_now() - timedelta(days=10))
    # Long enough that the backfill (a few transactions) is over before a reconciliation is due,
    # even on a loaded machine: at 200 ms one was scheduled behind it under CI's load.
    policy = SyncPolicy(reconcile_every=timedelta(seconds=3), schedule_check=timedelta(0))
    sync = SyncRunner(storage, {Provider.LEVER: ats.open_api}, policy, owner="scheduler")

    # Never pulled: the first scheduled run is a backfill.
    assert await sync.schedule_reconciliations() >= 1
    await run_all(sync)
    backfilled, reconcile = await status_of(storage, with_key)
    assert (backfilled.requested_by, backfilled.state, reconcile) == (
        None,
        SyncState.SUCCEEDED,
        None,
    )
    assert (await sync_status(storage, webhooks_only.tenant_id, webhooks_only.id)).backfill is None

    ats.change("a-000", at=utc_now(), stage="Onsite")
    await _wait(policy.reconcile_every)
    assert await sync.schedule_reconciliations() >= 1
    await run_all(sync)
    _, reconciled = await status_of(storage, with_key)
    assert reconciled is not None
    assert reconciled.state is SyncState.SUCCEEDED
    assert reconciled.updated_after == backfilled.started_at - policy.overlap
    assert reconciled.counts.applications_updated == 1
    # Not due again yet.
    assert await _scheduled_for(sync, storage, with_key) is False


async def _wait(period: timedelta) -> None:
    await asyncio.sleep(period.total_seconds() * 1.5)


async def _scheduled_for(sync: SyncRunner, storage: AtsStorage, connection: Connection) -> bool:
    before = await sync_status(storage, connection.tenant_id, connection.id)
    await sync.schedule_reconciliations()
    after = await sync_status(storage, connection.tenant_id, connection.id)
    return before.reconcile != after.reconcile


async def test_deleting_a_connection_announces_its_jobs_closed(storage: AtsStorage) -> None:
    connection = await connected(storage)
    ats = FakeAts()
    history(ats, 2, utc_now() - timedelta(days=10))
    await backfill(storage, ats, connection)
    await run_all(runner(storage, ats))
    announced = len(await staged(storage, connection.tenant_id))

    await delete_connection(storage, connection.tenant_id, connection.id)

    closing = (await staged(storage, connection.tenant_id))[announced:]
    # The two open jobs; the one closed already is not announced again.
    assert sorted((topic, data["ats_job_id"], data["status"]) for topic, data in closing) == [
        ("job.changed", "job-1", "closed"),
        ("job.changed", "job-3", "closed"),
    ]
    for _, data in closing:
        # Later than the open state the ATS dated, so consumers keeping the latest close it.
        dated = ats.jobs[data["ats_job_id"]].changed_at
        assert dated is not None
        assert datetime.fromisoformat(data["changed_at"]) > dated
    jobs = await list_jobs(storage, connection.tenant_id, connection_id=connection.id, status=None)
    assert {job.status for job in jobs} == {JobStatus.CLOSED}


async def test_a_run_reading_jobs_while_its_connection_is_deleted_stores_none_open(
    storage: AtsStorage,
) -> None:
    connection = await connected(storage)
    ats = FakeAts()
    history(ats, 2, utc_now() - timedelta(days=10))

    def deleting_while_jobs_are_read(
        *, base_url: str | None, api_key: str, on_behalf_of: str | None = None
    ) -> FakeAtsApi:
        """The ATS answers the jobs page after the runner loaded the connection, and before
        it stores the page the connection is deleted."""
        api = ats.open_api(base_url=base_url, api_key=api_key)
        read_jobs = api.jobs_page

        async def jobs_page(*, updated_after: datetime | None, cursor: str | None) -> Any:
            page = await read_jobs(updated_after=updated_after, cursor=cursor)
            await delete_connection(storage, connection.tenant_id, connection.id)
            return page

        api.jobs_page = jobs_page  # type: ignore[method-assign]
        return api

    factories = {Provider.LEVER: deleting_while_jobs_are_read}
    await start_backfill(
        storage, factories, connection.tenant_id, connection.id, requested_by="admin-1"
    )
    await run_all(SyncRunner(storage, factories, POLICY, owner="racing"))

    assert (
        await list_jobs(storage, connection.tenant_id, connection_id=connection.id, status=None)
        == []
    )
    topics = {topic for topic, _ in await staged(storage, connection.tenant_id)}
    assert "job.changed" not in topics
    run = await storage.sync_runs(connection.tenant_id).latest(connection.id, SyncKind.BACKFILL)
    assert run is not None
    assert run.state is SyncState.FAILED
    assert [error.reason for error in run.errors][-1] == "the connection was deleted"

"""Where a reconciliation starts, how long a run waits after a page the ATS did not answer, and
when a job read from the ATS is news."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_ats_sync.domain.changes import AtsJob, JobStatus
from crm_ats_sync.domain.jobs import StoredJob, job_changed
from crm_ats_sync.domain.models import Connection, Provider
from crm_ats_sync.domain.sync import reconcile_since, retry_delay

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
CONNECTION = Connection(
    tenant_id="acme", provider=Provider.LEVER, name="Lever", webhook_secret="s", created_by="ada"
)


def test_a_reconciliation_rereads_an_overlap_before_the_last_good_run_or_everything() -> None:
    assert reconcile_since(T0, timedelta(minutes=5)) == T0 - timedelta(minutes=5)
    assert reconcile_since(None, timedelta(minutes=5)) is None


def test_the_wait_after_failed_pages_doubles_up_to_a_ceiling() -> None:
    base, ceiling = timedelta(seconds=30), timedelta(minutes=4)
    waits = [retry_delay(n, base=base, ceiling=ceiling).total_seconds() for n in range(1, 6)]
    assert waits == [30, 60, 120, 240, 240]


def job(name: str, status: JobStatus = JobStatus.OPEN, *, at: datetime = T0) -> AtsJob:
    return AtsJob(ats_job_id="j-1", name=name, status=status, changed_at=at)


def test_a_job_is_news_when_new_or_changed_but_not_when_only_its_time_moved() -> None:
    first = StoredJob.of(CONNECTION, job("Data Engineer"), None)
    assert job_changed(None, first)
    later = T0 + timedelta(days=1)
    retimed = StoredJob.of(CONNECTION, job("Data Engineer", at=later), first)
    assert not job_changed(first, retimed)
    closed = StoredJob.of(CONNECTION, job("Data Engineer", JobStatus.CLOSED, at=later), first)
    assert job_changed(first, closed)
    assert closed.id == first.id
    older = StoredJob.of(CONNECTION, job("Renamed", at=T0 - timedelta(days=1)), first)
    assert not job_changed(first, older)

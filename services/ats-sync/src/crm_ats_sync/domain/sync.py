"""Backfill and reconciliation runs: pulling an ATS's history page by page, resumably."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crm_shared import new_id, utc_now

# The errors a run keeps (the latest ones); its counts say how many there were.
MAX_RUN_ERRORS = 50


class SyncKind(StrEnum):
    # The whole history, from the first page.
    BACKFILL = "backfill"
    # What changed since the last successful run started (minus an overlap).
    RECONCILE = "reconcile"


class SyncState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class SyncPhase(StrEnum):
    """What a run pulls: applications (and prospects) first, then jobs."""

    APPLICATIONS = "applications"
    JOBS = "jobs"


class SyncCounts(BaseModel):
    """How far a run got."""

    model_config = ConfigDict(frozen=True)

    pages: int = 0
    applications_seen: int = 0
    applications_created: int = 0
    applications_updated: int = 0
    jobs_seen: int = 0
    jobs_changed: int = 0
    errors: int = 0


class SyncError(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    reason: str
    # The application or job it concerns; None for a page the ATS did not answer.
    ats_id: str | None = None


class SyncRun(BaseModel):
    """One backfill or reconciliation of a connection, with the cursor it resumes from."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    connection_id: str
    kind: SyncKind
    state: SyncState = SyncState.RUNNING
    # Only what the ATS changed after this (None: everything).
    updated_after: datetime | None = None
    phase: SyncPhase = SyncPhase.APPLICATIONS
    # The ATS's opaque cursor of the next page of `phase` (None: its first page).
    cursor: str | None = None
    counts: SyncCounts = Field(default_factory=SyncCounts)
    errors: list[SyncError] = Field(default_factory=list)
    # Pages the ATS did not answer in a row; the run fails after too many.
    failures: int = 0
    # When the next page is due (a page the ATS did not answer is retried later).
    due_at: datetime = Field(default_factory=utc_now)
    started_at: datetime = Field(default_factory=utc_now)
    finished_at: datetime | None = None
    requested_by: str | None = None


class SyncRunningError(Exception):
    """The connection already has a backfill or reconciliation in progress."""

    def __init__(self, running: SyncRun) -> None:
        super().__init__(running.id)
        self.running = running


def reconcile_since(
    last_success_started_at: datetime | None, overlap: timedelta
) -> datetime | None:
    """Where a reconciliation starts: when the last successful run started, less `overlap`, so
    a change the ATS dated just before that start (clock skew, a slow write) is read again;
    everything when no run ever succeeded. Reading a change twice is harmless: a snapshot
    equal to the stored state changes nothing."""
    if last_success_started_at is None:
        return None
    return last_success_started_at - overlap


def retry_delay(failures: int, *, base: timedelta, ceiling: timedelta) -> timedelta:
    """How long a run waits before asking again for a page the ATS did not answer the
    `failures`-th time in a row: doubling from `base`, at most `ceiling`."""
    delay: timedelta = base * 2 ** max(0, failures - 1)
    return min(ceiling, delay)

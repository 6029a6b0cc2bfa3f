"""The weekly report: a lease-held periodic job finds the tenants whose report is due, compiles
each one's last complete week (its figures, the change against the week before, the funnel of
the week's new candidates) and publishes it once as `report.compiled` for campaigns to mail.

One replica at a time runs the job (a named lease). A report is recorded, published (staged in
the outbox) and the tenant's schedule moved on in one transaction; its id is the tenant and the
ISO week, so compiling a week again records and publishes nothing. A tenant whose report fails
to compile is logged, the error recorded on its settings (`last_report_error`) and tried again
later (`MAX_ATTEMPTS` in all, then that week is skipped); the other tenants go on."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, uuid4, uuid5
from zoneinfo import ZoneInfo

from crm_analytics.application.funnels import PeriodRefused, funnel_report
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.funnel import FunnelBy
from crm_analytics.domain.time_zone import DEFAULT_TIME_ZONE
from crm_analytics.domain.weekly_report import (
    FunnelLine,
    ReportWeek,
    WeekFigures,
    changes,
    next_report_at,
    render,
    report_id,
    source_changes,
    week_before,
)
from crm_analytics.repositories.week_figures import WeekFigureReader
from crm_analytics.repositories.weekly_reports import (
    WeeklyReportRepository,
    due_reports,
    schedule_of,
)
from crm_shared import (
    REPORT_COMPILED,
    BatchWorker,
    MongoClient,
    NamedLease,
    ReportCompiled,
    ReportPeriod,
    Session,
    Wakeup,
    in_transaction,
    utc_now,
)

logger = logging.getLogger(__name__)

WEEKLY_REPORT_LEASE = "analytics-weekly-reports"


class ReportNotCompiled(Exception):
    """A report that cannot be compiled (say, a week with too many new candidates)."""


async def _funnel(
    storage: AnalyticsStorage, tenant_id: str, week: ReportWeek, zone: ZoneInfo
) -> list[FunnelLine]:
    """The funnel of the week's new candidates (to now), beside the week before's cohort."""
    try:
        current = await funnel_report(
            storage, tenant_id, week.first_day, week.last_day, FunnelBy.NONE
        )
        before = week.previous(zone)
        previous = await funnel_report(
            storage, tenant_id, before.first_day, before.last_day, FunnelBy.NONE
        )
    except PeriodRefused as refused:
        raise ReportNotCompiled(f"the funnel: {refused}") from None
    earlier = {s.step.value: s.count for f in previous.funnels for s in f.steps}
    return [
        FunnelLine(s.step.value, s.count, earlier.get(s.step.value, 0), s.from_previous)
        for f in current.funnels
        for s in f.steps
    ]


def _figures_document(figures: WeekFigures) -> dict[str, Any]:
    return {**figures.scalars(), "by_source": dict(figures.by_source)}


@dataclass(frozen=True)
class CompiledReport:
    document: dict[str, Any]
    payload: ReportCompiled


async def compile_report(
    storage: AnalyticsStorage,
    tenant_id: str,
    due_at: datetime,
    recipients: list[str],
    zone: ZoneInfo,
    compiled_at: datetime,
) -> CompiledReport:
    """The report of the last complete week before `due_at` in the zone."""
    week = week_before(due_at, zone)
    previous_week = week.previous(zone)
    reader = WeekFigureReader(storage.database, tenant_id)
    current = await reader.figures(week.start, week.end)
    previous = await reader.figures(previous_week.start, previous_week.end)
    funnel = await _funnel(storage, tenant_id, week, zone)
    rendered = render(week, zone.key, current, previous, funnel)
    period = ReportPeriod(
        first_day=week.first_day, last_day=week.last_day, start=week.start, end=week.end
    )
    identifier = report_id(tenant_id, week)
    payload = ReportCompiled(
        report_id=identifier,
        period=period,
        time_zone=zone.key,
        recipients=recipients,
        subject=rendered.subject,
        text_body=rendered.text,
        html_body=rendered.html,
        compiled_at=compiled_at,
    )
    document = {
        "report_id": identifier,
        "week": week.iso_week,
        "first_day": week.first_day.isoformat(),
        "last_day": week.last_day.isoformat(),
        "start": week.start,
        "end": week.end,
        "time_zone": zone.key,
        "recipients": recipients,
        "subject": rendered.subject,
        "compiled_at": compiled_at,
        "due_at": due_at,
        "figures": _figures_document(current),
        "previous": _figures_document(previous),
        "change": {name: c.delta for name, c in changes(current, previous).items()},
        "by_source_change": {n: c.delta for n, c in source_changes(current, previous).items()},
        "funnel": [
            {
                "step": line.step,
                "count": line.count,
                "previous": line.previous,
                "conversion_from_previous": line.conversion_from_previous,
            }
            for line in funnel
        ],
    }
    return CompiledReport(document, payload)


class WeeklyReportJob:
    """Compiles the due reports of every tenant, under a lease one replica holds at a time."""

    def __init__(
        self,
        mongo: MongoClient,
        storage: AnalyticsStorage,
        lease: NamedLease,
        *,
        batch_size: int = 50,
        retry_after: timedelta = timedelta(hours=1),
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._mongo = mongo
        self._storage = storage
        self._lease = lease
        self._batch_size = batch_size
        self._retry_after = retry_after
        self._clock = clock

    async def run_due(self) -> int:
        """Compiles up to a batch of due reports; returns how many tenants it handled (0 when
        another replica holds the lease)."""
        if not await self._lease.claim():
            return 0
        now = self._clock()
        handled = 0
        for settings in await due_reports(self._storage.database, now, self._batch_size):
            await self._run_one(settings, now)
            handled += 1
            if not await self._lease.renew():
                logger.warning("weekly reports: lease lost; another replica goes on")
                break
        return handled

    async def _run_one(self, settings: dict[str, Any], now: datetime) -> None:
        tenant_id = str(settings["tenant_id"])
        schedule = schedule_of(settings)
        zone = ZoneInfo(str(settings.get("time_zone") or DEFAULT_TIME_ZONE))
        due_at: datetime = settings.get("report_due_at") or settings["next_report_at"]
        next_due = next_report_at(schedule, zone, max(now, due_at))
        reports = WeeklyReportRepository(self._storage.database, tenant_id)
        try:
            compiled = await compile_report(
                self._storage, tenant_id, due_at, list(schedule.recipients), zone, now
            )

            async def record(session: Session) -> bool:
                new = await reports.compiled(compiled.document, due_at, next_due, session=session)
                if new:
                    envelope = self._storage.outbox.envelope(
                        REPORT_COMPILED,
                        tenant_id=tenant_id,
                        subject=tenant_id,
                        data=compiled.payload,
                    )
                    # One envelope id per report: even a second publication is one event.
                    envelope = envelope.model_copy(
                        update={"id": uuid5(NAMESPACE_URL, f"report:{compiled.payload.report_id}")}
                    )
                    await self._storage.outbox.add(envelope, session=session)
                return new

            published = await in_transaction(self._mongo, record)
        except Exception as error:
            attempts = await reports.failed(
                due_at, repr(error)[:500], now, now + self._retry_after, next_due
            )
            logger.exception(
                "weekly report of tenant %s (due %s) failed, attempt %d",
                tenant_id,
                due_at.isoformat(),
                attempts,
            )
            return
        logger.info(
            "weekly report %s of tenant %s %s",
            compiled.payload.report_id,
            tenant_id,
            "published" if published else "was published before",
        )


async def weekly_reports_page(
    storage: AnalyticsStorage, tenant_id: str, before: date | None, limit: int
) -> list[dict[str, Any]]:
    """The tenant's compiled reports, newest week first (weeks before `before` if given)."""
    return await WeeklyReportRepository(storage.database, tenant_id).page(before, limit)


async def weekly_report_of(
    storage: AnalyticsStorage, tenant_id: str, first_day: date
) -> dict[str, Any] | None:
    """The tenant's report of the week starting on `first_day`, if compiled."""
    return await WeeklyReportRepository(storage.database, tenant_id).of_week(first_day)


def weekly_report_worker(
    mongo: MongoClient,
    storage: AnalyticsStorage,
    *,
    service_name: str,
    interval_seconds: float,
    lease_seconds: float,
    retry_seconds: float,
) -> BatchWorker:
    """The periodic job: every `interval_seconds` (at once again after a full batch), under
    the named lease `analytics-weekly-reports`."""
    owner = f"{service_name}-{socket.gethostname()}-{uuid4().hex[:12]}"
    lease = NamedLease(
        storage.database, WEEKLY_REPORT_LEASE, owner=owner, lease=timedelta(seconds=lease_seconds)
    )
    job = WeeklyReportJob(
        mongo, storage, lease, batch_size=BATCH_SIZE, retry_after=timedelta(seconds=retry_seconds)
    )
    return BatchWorker(
        "weekly-reports",
        job.run_due,
        batch_size=BATCH_SIZE,
        wakeup=Wakeup(),
        poll_interval_seconds=interval_seconds,
    )


# Tenants one run of the job compiles before it renews its lease and looks again.
BATCH_SIZE = 50

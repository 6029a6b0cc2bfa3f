"""When a tenant's weekly report is due: saved with its recipients, weekday and hour, and moved
whenever those or the tenant's time zone change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from crm_analytics.domain.time_zone import DEFAULT_TIME_ZONE
from crm_analytics.domain.weekly_report import WeeklySchedule, next_report_at
from crm_analytics.repositories.weekly_reports import WeeklyReportRepository, schedule_of
from crm_shared import Database


@dataclass(frozen=True)
class WeeklyReportSettings:
    schedule: WeeklySchedule
    time_zone: str
    next_report_at: datetime | None
    last_report_at: datetime | None
    last_report_id: str | None
    last_report_error: dict[str, Any] | None
    updated_at: datetime | None


def _zone(document: dict[str, Any] | None) -> str:
    return str((document or {}).get("time_zone") or DEFAULT_TIME_ZONE)


def _settings(document: dict[str, Any] | None) -> WeeklyReportSettings:
    found = document or {}
    return WeeklyReportSettings(
        schedule=schedule_of(found),
        time_zone=_zone(found),
        next_report_at=found.get("next_report_at"),
        last_report_at=found.get("last_report_at"),
        last_report_id=found.get("last_report_id"),
        last_report_error=found.get("last_report_error"),
        updated_at=found.get("updated_at"),
    )


async def weekly_report_settings(database: Database, tenant_id: str) -> WeeklyReportSettings:
    return _settings(await WeeklyReportRepository(database, tenant_id).settings())


async def save_weekly_report_settings(
    database: Database, tenant_id: str, schedule: WeeklySchedule, updated_by: str
) -> WeeklyReportSettings:
    """Saves who gets the report and when; the next one is due at the first such hour from now
    (none without recipients)."""
    reports = WeeklyReportRepository(database, tenant_id)
    now = datetime.now(UTC)
    zone = ZoneInfo(_zone(await reports.settings()))
    next_at = next_report_at(schedule, zone, now) if schedule.enabled else None
    await reports.save_schedule(schedule, next_at, updated_by, now)
    return await weekly_report_settings(database, tenant_id)


async def reschedule_weekly_report(database: Database, tenant_id: str) -> None:
    """After the tenant's time zone changed: the next report at the hour in the new zone."""
    reports = WeeklyReportRepository(database, tenant_id)
    stored = await reports.settings()
    schedule = schedule_of(stored)
    if schedule.enabled:
        zone = ZoneInfo(_zone(stored))
        await reports.reschedule(next_report_at(schedule, zone, datetime.now(UTC)))

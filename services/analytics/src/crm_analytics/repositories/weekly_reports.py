"""MongoDB access to the weekly report: its schedule (fields of the tenant's analytics settings
document: `weekly_report`, `next_report_at`, `report_due_at`, `report_attempts`,
`last_report_*`) and the compiled reports (`weekly_reports`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from crm_analytics.domain.weekly_report import DEFAULT_HOUR, DEFAULT_WEEKDAY, WeeklySchedule
from crm_analytics.repositories.settings import ANALYTICS_SETTINGS_COLLECTION
from crm_shared import Database, Session, TenantScopedCollection

WEEKLY_REPORTS_COLLECTION = "weekly_reports"


async def ensure_weekly_report_indexes(database: Database) -> None:
    """Due tenants by `next_report_at` (across tenants: the job's query); one report per tenant
    and week, listed newest first."""
    await database[ANALYTICS_SETTINGS_COLLECTION].create_index(
        [("next_report_at", ASCENDING)],
        partialFilterExpression={"next_report_at": {"$type": "date"}},
    )
    reports = database[WEEKLY_REPORTS_COLLECTION]
    await reports.create_index([("tenant_id", ASCENDING), ("report_id", ASCENDING)], unique=True)
    await reports.create_index([("tenant_id", ASCENDING), ("first_day", DESCENDING)])


def schedule_of(document: Mapping[str, Any] | None) -> WeeklySchedule:
    stored = (document or {}).get("weekly_report") or {}
    hour = stored.get("hour")
    return WeeklySchedule(
        recipients=tuple(stored.get("recipients") or ()),
        weekday=int(stored.get("weekday") or DEFAULT_WEEKDAY),
        hour=DEFAULT_HOUR if hour is None else int(hour),
    )


async def due_reports(database: Database, now: datetime, limit: int) -> list[dict[str, Any]]:
    """The settings of the tenants whose next report is due, the longest due first."""
    cursor = (
        database[ANALYTICS_SETTINGS_COLLECTION]
        .find({"next_report_at": {"$lte": now}})
        .sort([("next_report_at", ASCENDING)])
        .limit(limit)
    )
    return await cursor.to_list()


class WeeklyReportRepository:
    """One tenant's report schedule and compiled reports."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._settings = TenantScopedCollection(database[ANALYTICS_SETTINGS_COLLECTION], tenant_id)
        self._reports = TenantScopedCollection(database[WEEKLY_REPORTS_COLLECTION], tenant_id)

    async def settings(self) -> dict[str, Any] | None:
        return await self._settings.find_one({})

    async def save_schedule(
        self,
        schedule: WeeklySchedule,
        next_at: datetime | None,
        updated_by: str,
        updated_at: datetime,
    ) -> None:
        """Stores who gets the report and when, and when it is next due (unset: off)."""
        fields: dict[str, Any] = {
            "weekly_report": {
                "recipients": list(schedule.recipients),
                "weekday": schedule.weekday,
                "hour": schedule.hour,
            },
            "updated_by": updated_by,
            "updated_at": updated_at,
        }
        update = _next_update(next_at)
        update["$set"] = {**update.get("$set", {}), **fields}
        await self._settings.update_one({}, update, upsert=True)

    async def reschedule(self, next_at: datetime | None) -> None:
        """A new next due time (the zone or the schedule changed); a retry pending is dropped."""
        await self._settings.update_one({}, _next_update(next_at))

    async def compiled(
        self,
        report: Mapping[str, Any],
        due_at: datetime,
        next_at: datetime,
        *,
        session: Session,
    ) -> bool:
        """Records the report and moves the schedule on; False (nothing recorded) when the
        report of that week was recorded already."""
        # Looked up first: a duplicate key error would abort the transaction.
        known = await self._reports.find_one({"report_id": report["report_id"]}, session=session)
        new = known is None
        if new:
            await self._reports.insert_one(dict(report), session=session)
        await self._settings.update_one(
            {"report_due_at": due_at},
            {
                "$set": {
                    "next_report_at": next_at,
                    "report_due_at": next_at,
                    "last_report_at": report["compiled_at"],
                    "last_report_id": report["report_id"],
                },
                "$unset": {"last_report_error": "", "report_attempts": ""},
            },
            session=session,
        )
        return new

    async def failed(
        self, due_at: datetime, error: str, at: datetime, retry_at: datetime, next_due: datetime
    ) -> int:
        """Records a failed compilation: tried again at `retry_at`, or (after the last attempt)
        the week is given up and the next report is `next_due`. Returns the attempts made."""
        found = await self._settings.find_one({"report_due_at": due_at})
        attempts = int((found or {}).get("report_attempts") or 0) + 1
        retrying = attempts < MAX_ATTEMPTS
        await self._settings.update_one(
            {"report_due_at": due_at},
            {
                "$set": {
                    "last_report_error": {"at": at, "error": error, "week_due_at": due_at},
                    "next_report_at": retry_at if retrying else next_due,
                    "report_due_at": due_at if retrying else next_due,
                    "report_attempts": attempts if retrying else 0,
                }
            },
        )
        return attempts

    async def of_week(self, first_day: date) -> dict[str, Any] | None:
        """The report of the week starting on `first_day`, if compiled."""
        found = await self._reports.find(
            {"first_day": first_day.isoformat()}, limit=1, projection={"_id": 0}
        )
        return found[0] if found else None

    async def page(self, before: date | None, limit: int) -> list[dict[str, Any]]:
        """Compiled reports, newest week first, those of weeks before `before` if given."""
        query: dict[str, Any] = {}
        if before is not None:
            query["first_day"] = {"$lt": before.isoformat()}
        return await self._reports.find(
            query, sort=[("first_day", DESCENDING)], limit=limit, projection={"_id": 0}
        )


# A tenant's report that fails to compile is tried this many times, then that week is skipped.
MAX_ATTEMPTS = 3


def _next_update(next_at: datetime | None) -> dict[str, Any]:
    if next_at is None:
        return {"$unset": {"next_report_at": "", "report_due_at": "", "report_attempts": ""}}
    return {
        "$set": {"next_report_at": next_at, "report_due_at": next_at},
        "$unset": {"report_attempts": ""},
    }

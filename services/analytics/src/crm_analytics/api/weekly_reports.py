"""Routes of the weekly report: its settings (a sub-resource of the analytics settings) and
the reports compiled."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from crm_analytics.api.deps import Container
from crm_analytics.api.exports import (
    JSON_OR_CSV,
    Format,
    ReportFormat,
    Separator,
    cell,
    csv_file,
)
from crm_analytics.application.report_schedule import (
    WeeklyReportSettings,
    save_weekly_report_settings,
    weekly_report_settings,
)
from crm_analytics.application.weekly_reports import weekly_report_of, weekly_reports_page
from crm_analytics.domain.weekly_report import (
    DEFAULT_HOUR,
    DEFAULT_WEEKDAY,
    MAX_RECIPIENTS,
    WeeklySchedule,
    monday_of,
    valid_recipients,
)
from crm_shared import (
    MAX_PAGE_SIZE,
    CurrentPrincipal,
    EveryFieldRequired,
    Page,
    ProblemError,
    decode_cursor,
    first_page_of,
    problem_responses,
    reject_unknown_query_params,
    require_permission,
)
from crm_shared.csv_export import CsvSeparator

weekly_report_router = APIRouter(prefix="/analytics", tags=["analytics"])


class WeeklyReportSettingsUpdate(EveryFieldRequired):
    """Who gets the weekly report and when (in the tenant's analytics time zone)."""

    model_config = ConfigDict(extra="forbid")

    recipients: list[str] = Field(
        default_factory=list,
        max_length=MAX_RECIPIENTS * 5,
        description=f"0 to {MAX_RECIPIENTS} staff e-mail addresses (duplicates in any case are "
        "dropped); none turns the report off.",
    )
    weekday: int = Field(
        default=DEFAULT_WEEKDAY, ge=1, le=7, description="ISO weekday: 1 Monday .. 7 Sunday."
    )
    hour: int = Field(default=DEFAULT_HOUR, ge=0, le=23, description="Hour of the day, 0-23.")

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return valid_recipients(value)


class ReportErrorPublic(BaseModel):
    at: datetime = Field(description="When the compilation failed.")
    error: str
    week_due_at: datetime = Field(description="The scheduled time of the report that failed.")


class WeeklyReportSettingsPublic(BaseModel):
    recipients: list[str]
    weekday: int
    hour: int
    time_zone: str = Field(description="The tenant's analytics zone (`PUT /analytics/settings`).")
    enabled: bool = Field(description="Whether any recipient gets it.")
    next_report_at: datetime | None = Field(
        description="When the job next compiles it (null: off); a retry after a failure too."
    )
    last_report_at: datetime | None
    last_report_id: str | None
    last_report_error: ReportErrorPublic | None = Field(
        description="The last compilation's failure, until a report compiles again."
    )
    updated_at: datetime | None


def _settings_public(found: WeeklyReportSettings) -> WeeklyReportSettingsPublic:
    error = found.last_report_error
    return WeeklyReportSettingsPublic(
        recipients=list(found.schedule.recipients),
        weekday=found.schedule.weekday,
        hour=found.schedule.hour,
        time_zone=found.time_zone,
        enabled=found.schedule.enabled,
        next_report_at=found.next_report_at,
        last_report_at=found.last_report_at,
        last_report_id=found.last_report_id,
        last_report_error=ReportErrorPublic.model_validate(error) if error else None,
        updated_at=found.updated_at,
    )


@weekly_report_router.get(
    "/settings/weekly-report",
    dependencies=[require_permission("settings:read")],
    response_model=WeeklyReportSettingsPublic,
)
async def read_weekly_report_settings(
    principal: CurrentPrincipal, container: Container
) -> WeeklyReportSettingsPublic:
    """Who gets the weekly report, when, when it is next due, and the last one's outcome."""
    found = await weekly_report_settings(container.storage.database, principal.tenant_id)
    return _settings_public(found)


@weekly_report_router.put(
    "/settings/weekly-report",
    dependencies=[require_permission("settings:write")],
    response_model=WeeklyReportSettingsPublic,
    responses=problem_responses(422),
)
async def replace_weekly_report_settings(
    body: WeeklyReportSettingsUpdate, principal: CurrentPrincipal, container: Container
) -> WeeklyReportSettingsPublic:
    """Sets who gets the weekly report and on which weekday and hour of the tenant's zone
    (admins); no recipients turns it off. An address that is not one, more than 20, a weekday
    outside 1-7 or an hour outside 0-23 is a 422 naming the field."""
    schedule = WeeklySchedule(tuple(body.recipients), body.weekday, body.hour)
    saved = await save_weekly_report_settings(
        container.storage.database, principal.tenant_id, schedule, principal.user_id
    )
    return _settings_public(saved)


class FiguresPublic(BaseModel):
    new_candidates: int
    by_source: dict[str, int]
    messages_sent: int
    messages_opened: int
    messages_clicked: int
    event_registrations: int
    applications: int
    hires: int
    enrolments_started: int | None = Field(
        default=None, description="Null in a report compiled before it was counted (2026-12-06)."
    )
    enrolments_completed: int | None = Field(
        default=None, description="Null in a report compiled before it was counted."
    )
    enrolments_exited: int | None = Field(
        default=None, description="Null in a report compiled before it was counted."
    )


class FunnelLinePublic(BaseModel):
    step: str
    count: int = Field(description="People of the week's cohort who reached it (to now).")
    previous: int = Field(description="The same of the week before's cohort.")
    conversion_from_previous: float | None


class WeeklyReportPublic(BaseModel):
    report_id: str = Field(description="`<tenant>:<ISO week>`.")
    week: str = Field(description="ISO week, `2026-W48`.")
    first_day: date
    last_day: date
    start: datetime
    end: datetime
    time_zone: str
    recipients: list[str]
    subject: str
    compiled_at: datetime
    figures: FiguresPublic
    previous: FiguresPublic = Field(description="The week before's figures.")
    change: dict[str, int] = Field(description="`figures - previous`, per figure.")
    by_source_change: dict[str, int]
    funnel: list[FunnelLinePublic]


@weekly_report_router.get(
    "/weekly-reports",
    dependencies=[require_permission("analytics:read"), Depends(reject_unknown_query_params)],
    response_model=Page[WeeklyReportPublic],
)
async def list_weekly_reports(
    principal: CurrentPrincipal,
    container: Container,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Page[WeeklyReportPublic]:
    """The weekly reports compiled for the tenant, newest week first, with their figures."""
    before: date | None = None
    if cursor:
        try:
            before = date.fromisoformat(decode_cursor(cursor))
        except ValueError:
            raise ProblemError(
                400, "the cursor is not valid", problem_type="invalid-cursor"
            ) from None
    found: list[dict[str, Any]] = await weekly_reports_page(
        container.storage, principal.tenant_id, before, limit + 1
    )
    items, next_cursor = first_page_of(
        [WeeklyReportPublic.model_validate(d) for d in found],
        limit,
        key=lambda report: report.first_day.isoformat(),
    )
    return Page[WeeklyReportPublic](items=items, next_cursor=next_cursor)


WEEKLY_REPORT_COLUMNS = ("section", "name", "this_week", "week_before", "change")


def weekly_report_rows(report: WeeklyReportPublic) -> Iterator[Sequence[object]]:
    """`section,name,this_week,week_before,change`: each figure, then each source of new
    candidates, then each funnel step (its count of the week's cohort and of the week before's)."""
    yield WEEKLY_REPORT_COLUMNS
    this_week, week_before = report.figures, report.previous
    for name, value in this_week.model_dump(exclude={"by_source"}).items():
        previous = getattr(week_before, name)
        change = "" if value is None or previous is None else value - previous
        yield ["figure", name, cell(value), cell(previous), change]
    for source in sorted({*this_week.by_source, *week_before.by_source}):
        value, previous = this_week.by_source.get(source, 0), week_before.by_source.get(source, 0)
        yield ["source", source, value, previous, value - previous]
    for line in report.funnel:
        yield ["funnel", line.step, line.count, line.previous, line.count - line.previous]


@weekly_report_router.get(
    "/weekly-reports/{week}",
    dependencies=[require_permission("analytics:read"), Depends(reject_unknown_query_params)],
    response_model=WeeklyReportPublic,
    responses={**problem_responses(404, 422), **JSON_OR_CSV},
)
async def read_weekly_report(
    principal: CurrentPrincipal,
    container: Container,
    week: Annotated[str, Path(description="The ISO week, `2026-W47`.")],
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> WeeklyReportPublic | Response:
    """One compiled weekly report, by its ISO week; `format=csv`: one row per figure, source of
    new candidates and funnel step, with the week before's value and the change. A week that
    is no ISO week, or whose report was not compiled, is a 404."""
    try:
        found = await weekly_report_of(container.storage, principal.tenant_id, monday_of(week))
    except ValueError:
        found = None
    if found is None:
        raise ProblemError(
            404,
            f"no weekly report was compiled for {week!r}",
            problem_type="not-found",
        )
    report = WeeklyReportPublic.model_validate(found)
    if format is ReportFormat.CSV:
        return csv_file(weekly_report_rows(report), f"weekly-report-{report.week}", separator)
    return report

"""Routes of the analytics API."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from crm_analytics.api.deps import Container
from crm_analytics.api.exports import (
    JSON_OR_CSV,
    Format,
    ReportFormat,
    Separator,
    csv_file,
    event_rows,
    summary_rows,
    time_series_rows,
)
from crm_analytics.api.schemas import (
    EngagementContribution,
    EngagementExplanation,
    EventFiguresPublic,
    EventPeriodReportPublic,
    EventReportPublic,
    FollowUpPublic,
    SeriesPublic,
    TenantSummary,
    TimeSeriesPublic,
)
from crm_analytics.application.engagement import UnknownCandidate, explain_engagement
from crm_analytics.application.event_reports import (
    EventReport,
    UnknownEvent,
    event_report,
    period_report,
)
from crm_analytics.application.tallies import tenant_totals, time_series
from crm_analytics.domain.event_report import EventFigures, FollowUp, window_of
from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.domain.timeseries import Interval, RangeError, refused_range
from crm_shared import (
    CurrentPrincipal,
    FieldError,
    ProblemError,
    problem_responses,
    reject_unknown_query_params,
    require_permission,
    validation_problem,
)
from crm_shared.csv_export import CsvSeparator

router = APIRouter(prefix="/analytics", tags=["analytics"])


@router.get(
    "/summary",
    dependencies=[require_permission("analytics:read"), Depends(reject_unknown_query_params)],
    response_model=TenantSummary,
    responses={**problem_responses(422), **JSON_OR_CSV},
)
async def tenant_summary(
    principal: CurrentPrincipal,
    container: Container,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | TenantSummary:
    """The caller's tenant's totals, as of the events analytics has consumed (`format=csv`:
    one row per figure)."""
    totals = await tenant_totals(container.storage, principal.tenant_id)
    summary = TenantSummary(
        candidates=totals[TenantMetric.CANDIDATES_CREATED],
        messages_sent=totals[TenantMetric.MESSAGES_SENT],
        messages_opened=totals[TenantMetric.MESSAGES_OPENED],
        messages_clicked=totals[TenantMetric.MESSAGES_CLICKED],
        event_registrations=totals[TenantMetric.EVENT_REGISTRATIONS],
        applications=totals[TenantMetric.APPLICATIONS],
        hires=totals[TenantMetric.HIRES],
    )
    if format is ReportFormat.CSV:
        return csv_file(summary_rows(summary), "summary", separator)
    return summary


@router.get(
    "/candidates/{candidate_id}/engagement",
    dependencies=[require_permission("analytics:read")],
    response_model=EngagementExplanation,
)
async def candidate_engagement(
    candidate_id: str, principal: CurrentPrincipal, container: Container
) -> EngagementExplanation:
    """A candidate's engagement score now, explained: each counted activity with its weight and
    what it still contributes after its decay. A candidate with no activity scores 0; a
    candidate of another tenant, or one analytics has not seen created yet, is a 404; a record
    merged away has no score (null) and names the record it was merged into (`merged_into`)."""
    try:
        explained = await explain_engagement(
            container.storage, container.engagement_model, principal.tenant_id, candidate_id
        )
    except UnknownCandidate:
        raise ProblemError(
            404, f"no candidate {candidate_id} in this tenant", problem_type="not-found"
        ) from None
    model = explained.model
    return EngagementExplanation(
        candidate_id=explained.candidate_id,
        score=explained.score,
        merged_into=explained.merged_into,
        as_of=explained.as_of,
        half_life_days=model.half_life_days,
        weights={kind.value: weight for kind, weight in model.weights.items()},
        last_activity_at=explained.last_activity_at,
        published_score=explained.published_score,
        published_at=explained.published_at,
        contributions=[
            EngagementContribution(
                kind=counted.contribution.kind.value,
                reference=counted.contribution.reference,
                occurred_at=counted.contribution.occurred_at,
                weight=counted.weight,
                contribution=counted.decayed,
                event_id=counted.contribution.event_id,
            )
            for counted in explained.activities
        ],
    )


FirstDay = Annotated[date, Query(alias="from", description="First UTC day, included.")]
LastDay = Annotated[date, Query(alias="to", description="Last UTC day, included.")]


def _range_refused(detail: str) -> ProblemError:
    """A range of days the report cannot answer, as the 422 problem naming `to`."""
    return validation_problem([FieldError.query("to", detail)], detail)


@router.get(
    "/timeseries",
    dependencies=[require_permission("analytics:read"), Depends(reject_unknown_query_params)],
    response_model=TimeSeriesPublic,
    response_model_by_alias=True,
    responses={**problem_responses(422), **JSON_OR_CSV},
)
async def tenant_time_series(
    principal: CurrentPrincipal,
    container: Container,
    metric: Annotated[list[TenantMetric], Query(min_length=1, description="One or more metrics.")],
    start: FirstDay,
    end: LastDay,
    interval: Annotated[Interval, Query(description="`day` or `week` (ISO, from Monday).")] = (
        Interval.DAY
    ),
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | TimeSeriesPublic:
    """The caller's tenant's metrics per day or week, zero where nothing happened, as of the
    events analytics has consumed (counted per day from when this series was introduced).
    New candidates also come broken down by source. A day series covers at most 400 days.
    `format=csv`: one row per period, one column per series."""
    metrics = list(dict.fromkeys(metric))
    try:
        found = await time_series(
            container.storage, principal.tenant_id, metrics, start, end, interval
        )
    except RangeError as invalid:
        raise _range_refused(str(invalid)) from None
    answer = TimeSeriesPublic(
        start=start,
        end=end,
        interval=found.interval.value,
        periods=found.periods,
        series=[
            SeriesPublic(metric=s.metric.value, dimension=s.dimension or None, values=s.values)
            for s in found.series
        ],
    )
    if format is ReportFormat.CSV:
        return csv_file(time_series_rows(answer), f"timeseries-{start}-to-{end}", separator)
    return answer


WithinDays = Annotated[
    int,
    Query(
        ge=1,
        le=730,
        description="Applications and hires count up to this many days after the event's start.",
    ),
]


def _figures(figures: EventFigures) -> dict[str, object]:
    def follow_up(f: FollowUp) -> FollowUpPublic:
        return FollowUpPublic(count=f.count, candidate_ids=f.candidate_ids, truncated=f.truncated)

    return {
        "registrations": figures.registrations,
        "registered": figures.registered,
        "waitlisted": figures.waitlisted,
        "cancelled": figures.cancelled,
        "checked_in": figures.checked_in,
        "walk_ins": figures.walk_ins,
        "attended": figures.attended,
        "no_shows": figures.no_shows,
        "no_show_rate": figures.no_show_rate,
        "by_channel": figures.by_channel,
        "by_source": figures.by_source,
        "applied": follow_up(figures.applied),
        "hired": follow_up(figures.hired),
    }


def _event_report(report: EventReport, within_days: int) -> EventReportPublic:
    event = report.event
    window = window_of(event, within_days)
    return EventReportPublic(
        event_id=event.event_id,
        event_name=event.event_name,
        status=event.status.value,
        starts_at=event.starts_at,
        completed_at=event.completed_at,
        within_days=within_days,
        window_end=window[1] if window else None,
        **_figures(report.figures),
    )


@router.get(
    "/events/{event_id}",
    # A coordinator runs the event and needs its report; every role that may read events may.
    dependencies=[require_permission("events:read"), Depends(reject_unknown_query_params)],
    response_model=EventReportPublic,
    responses={**problem_responses(404, 422), **JSON_OR_CSV},
)
async def recruiting_event_report(
    event_id: str,
    principal: CurrentPrincipal,
    container: Container,
    within_days: WithinDays = 90,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | EventReportPublic:
    """A recruiting event's report, as of the events analytics has consumed: its
    registrations by state, check-ins, walk-ins, no-shows, registrants by channel and source,
    and the registrants who applied or were hired within `within_days` of its start. An event
    analytics was told nothing of (no registration yet, or another tenant's) is a 404.
    `format=csv`: one row per figure."""
    try:
        report = await event_report(container.storage, principal.tenant_id, event_id, within_days)
    except UnknownEvent:
        raise ProblemError(
            404,
            f"analytics knows of no event {event_id} in this tenant (it learns an event from "
            "its first registration)",
            problem_type="not-found",
        ) from None
    answer = _event_report(report, within_days)
    if format is ReportFormat.CSV:
        return csv_file(event_rows([answer]), f"event-{event_id}-report", separator)
    return answer


@router.get(
    "/events",
    # A coordinator runs the event and needs its report; every role that may read events may.
    dependencies=[require_permission("events:read"), Depends(reject_unknown_query_params)],
    response_model=EventPeriodReportPublic,
    response_model_by_alias=True,
    responses={**problem_responses(422), **JSON_OR_CSV},
)
async def recruiting_events_report(
    principal: CurrentPrincipal,
    container: Container,
    start: FirstDay,
    end: LastDay,
    within_days: WithinDays = 90,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | EventPeriodReportPublic:
    """The report of every event whose start falls in the range of UTC days, and the totals
    over them. The range covers at most 400 days. `format=csv`: one row per figure of each
    event, then of the totals."""
    if refusal := refused_range(start, end):
        raise _range_refused(refusal)
    found = await period_report(
        container.storage,
        principal.tenant_id,
        datetime.combine(start, time.min, UTC),
        datetime.combine(end + timedelta(days=1), time.min, UTC),
        within_days,
    )
    events = [_event_report(r, within_days) for r in found.events]
    totals = EventFiguresPublic(**_figures(found.totals))
    if format is ReportFormat.CSV:
        return csv_file(event_rows(events, totals), f"events-{start}-to-{end}-report", separator)
    return EventPeriodReportPublic(
        start=start, end=end, within_days=within_days, events=events, totals=totals
    )

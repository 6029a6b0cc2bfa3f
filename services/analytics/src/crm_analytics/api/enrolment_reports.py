"""Route of the enrolment report: a sequence's entries, completions and exits, as JSON or as
CSV (`?format=csv`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fastapi import APIRouter, Depends, Response

from crm_analytics.api.deps import Container
from crm_analytics.api.exports import (
    JSON_OR_CSV,
    Format,
    ReportFormat,
    Separator,
    cell,
    csv_file,
)
from crm_analytics.api.message_reports import FirstDay, LastDay
from crm_analytics.api.schemas import (
    CompletionDaysPublic,
    EnrolmentDayPublic,
    EnrolmentReportPublic,
    EnrolmentTotalsPublic,
    ExitReasonPublic,
    ExitStepPublic,
)
from crm_analytics.application.enrolment_reports import UnknownSequence, enrolment_report
from crm_analytics.domain.enrolment_report import (
    COMPLETED,
    COMPLETION_DAYS,
    ENTERED,
    ENTERED_COMPLETED,
    ENTERED_EXITED,
    EXIT_REASONS,
    EXIT_STEPS,
    EXITED,
    EnrolmentReport,
)
from crm_analytics.domain.timeseries import RangeError
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

enrolment_router = APIRouter(prefix="/analytics", tags=["analytics"])


def public(found: EnrolmentReport) -> EnrolmentReportPublic:
    totals = found.totals
    breakdowns = found.breakdowns
    return EnrolmentReportPublic(
        id=found.sequence_id,
        name=found.sequence_name,
        start=found.first_day,
        end=found.last_day,
        enrolled_now=found.enrolled_now,
        totals=EnrolmentTotalsPublic(
            entered=totals[ENTERED],
            completed=totals[COMPLETED],
            exited=totals[EXITED],
            entrants_completed=totals[ENTERED_COMPLETED],
            entrants_exited=totals[ENTERED_EXITED],
            entrants_still_enrolled=found.still_enrolled,
            completion_rate=found.completion_rate,
            exit_rate=found.exit_rate,
            median_days_to_complete=found.median_days_to_complete,
        ),
        exit_reasons=[
            ExitReasonPublic(reason=reason, count=n)
            for reason, n in breakdowns[EXIT_REASONS].items()
        ],
        exit_steps=[
            ExitStepPublic(step=int(step), count=n) for step, n in breakdowns[EXIT_STEPS].items()
        ],
        completion_days=[
            CompletionDaysPublic(days=int(days), count=n)
            for days, n in breakdowns[COMPLETION_DAYS].items()
        ],
        series=[
            EnrolmentDayPublic(
                day=day, entered=each[ENTERED], completed=each[COMPLETED], exited=each[EXITED]
            )
            for day, each in zip(found.days, found.series, strict=True)
        ],
    )


def csv_rows(report: EnrolmentReportPublic) -> Iterator[Sequence[object]]:
    """`figure,key,day,value`: the sequence's name and the period, the totals (no key, no
    day), each breakdown's counts by key (`exit_reason`, `exit_step`, `completion_days`), then
    each day's figures."""
    yield ["figure", "key", "day", "value"]
    yield ["name", "", "", cell(report.name)]
    yield ["from", "", "", report.start.isoformat()]
    yield ["to", "", "", report.end.isoformat()]
    yield ["enrolled_now", "", "", report.enrolled_now]
    for figure, value in report.totals.model_dump(mode="json").items():
        yield [figure, "", "", cell(value)]
    for reason in report.exit_reasons:
        yield ["exit_reason", reason.reason, "", reason.count]
    for step in report.exit_steps:
        yield ["exit_step", step.step, "", step.count]
    for taken in report.completion_days:
        yield ["completion_days", taken.days, "", taken.count]
    for day in report.series:
        for figure in (ENTERED, COMPLETED, EXITED):
            yield [figure, "", day.day.isoformat(), getattr(day, figure)]


@enrolment_router.get(
    "/sequences/{sequence_id}/enrolments",
    dependencies=[require_permission("analytics:read"), Depends(reject_unknown_query_params)],
    response_model=EnrolmentReportPublic,
    response_model_by_alias=True,
    responses={**problem_responses(404, 422), **JSON_OR_CSV},
)
async def sequence_enrolment_report(
    sequence_id: str,
    principal: CurrentPrincipal,
    container: Container,
    start: FirstDay = None,
    end: LastDay = None,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | EnrolmentReportPublic:
    """A sequence's enrolments: how many entered, completed and exited (by reason and step) per
    UTC day, what became of the period's entrants, and how many are enrolled now, as of the
    events analytics has consumed. A sequence nobody was enrolled in is a 404."""
    try:
        found = await enrolment_report(
            container.storage, principal.tenant_id, sequence_id, start, end
        )
    except UnknownSequence:
        raise ProblemError(
            404,
            f"analytics knows of no enrolment in sequence {sequence_id} in this tenant",
            problem_type="not-found",
        ) from None
    except RangeError as refused:
        raise validation_problem([FieldError.query("to", str(refused))], str(refused)) from None
    answer = public(found)
    if format is ReportFormat.CSV:
        return csv_file(csv_rows(answer), f"sequence-{sequence_id}-enrolments", separator)
    return answer

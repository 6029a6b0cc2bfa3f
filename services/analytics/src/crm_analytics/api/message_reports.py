"""Routes of the message reports: a broadcast's, a sequence's and a template's, as JSON or as
CSV (`?format=csv`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from crm_analytics.api.deps import Container
from crm_analytics.api.exports import (
    JSON_OR_CSV,
    TOTAL,
    Format,
    ReportFormat,
    Separator,
    csv_file,
)
from crm_analytics.api.schemas import (
    MessageDayPublic,
    MessageFiguresPublic,
    MessageGroupPublic,
    MessageReportPublic,
)
from crm_analytics.application.message_reports import (
    ReportScope,
    UnknownSource,
    message_report,
)
from crm_analytics.domain.message_report import MessageFigures, MessageReport
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

message_router = APIRouter(prefix="/analytics", tags=["analytics"])


FirstDay = Annotated[
    date | None,
    Query(alias="from", description="First UTC day, included (default: the first active day)."),
]
LastDay = Annotated[
    date | None,
    Query(alias="to", description="Last UTC day, included (default: the last active day)."),
]
_RESPONSES = {**problem_responses(404, 422), **JSON_OR_CSV}


def _figures(figures: MessageFigures) -> dict[str, int | float | None]:
    return {**figures.counts(), **figures.rates()}


def _series(report: MessageReport, series: list[MessageFigures]) -> list[MessageDayPublic]:
    return [
        MessageDayPublic(day=day, **_figures(f)) for day, f in zip(report.days, series, strict=True)
    ]


def _public(
    kind: str, source_id: str, report: MessageReport, breakdown: str
) -> MessageReportPublic:
    return MessageReportPublic(
        report=kind,
        id=source_id,
        start=report.first_day,
        end=report.last_day,
        breakdown=breakdown,
        totals=MessageFiguresPublic(**_figures(report.totals)),
        series=_series(report, report.series),
        groups=[
            MessageGroupPublic(
                key=g.key,
                label=g.label,
                figures=MessageFiguresPublic(**_figures(g.figures)),
                series=_series(report, g.series),
            )
            for g in report.groups
        ],
    )


# The CSV's group cell of the totals' rows; a group without a key (a broadcast without an A/B
# test) is written `none`.
TOTAL_GROUP = TOTAL
NO_GROUP = "none"


def csv_rows(report: MessageReport, breakdown: str) -> Iterator[Sequence[object]]:
    """The report as CSV: a header, then for the totals and each group one row over the
    period (empty `day`) followed by one row per day. Each row carries its group's `label`
    as the JSON does (a sequence step's label; empty when null), so a spreadsheet needs no
    second lookup to tell the steps apart."""
    columns = [*MessageFigures().counts(), *MessageFigures().rates()]
    yield [breakdown, "label", "day", *columns]
    sections = [(TOTAL_GROUP, None, report.totals, report.series)] + [
        (g.key or NO_GROUP, g.label, g.figures, g.series) for g in report.groups
    ]
    for key, label, figures, series in sections:
        days: list[tuple[str, MessageFigures]] = [("", figures)]
        days += [(day.isoformat(), f) for day, f in zip(report.days, series, strict=True)]
        for day, each in days:
            values = _figures(each)
            cells = ["" if values[c] is None else values[c] for c in columns]
            yield [key, label or "", day, *cells]


async def _answer(
    container: Container,
    tenant_id: str,
    kind: str,
    source_id: str,
    scope: ReportScope,
    start: date | None,
    end: date | None,
    format: ReportFormat,
    separator: CsvSeparator,
) -> Response | MessageReportPublic:
    try:
        found = await message_report(container.storage, tenant_id, scope, start, end)
    except UnknownSource:
        raise ProblemError(
            404,
            f"analytics knows of no message sent by {kind} {source_id} in this tenant",
            problem_type="not-found",
        ) from None
    except RangeError as refused:
        raise validation_problem([FieldError.query("to", str(refused))], str(refused)) from None
    breakdown = scope.breakdown.value
    if format is ReportFormat.CSV:
        return csv_file(csv_rows(found, breakdown), f"{kind}-{source_id}-report", separator)
    return _public(kind, source_id, found, breakdown)


# What the three report routes share: who may read them, the answer's model and its problems.
_REPORT_ROUTE: dict[str, Any] = {
    "dependencies": [require_permission("analytics:read"), Depends(reject_unknown_query_params)],
    "response_model": MessageReportPublic,
    "response_model_by_alias": True,
    "responses": _RESPONSES,
}


@message_router.get("/broadcasts/{broadcast_id}", **_REPORT_ROUTE)
async def broadcast_report(
    broadcast_id: str,
    principal: CurrentPrincipal,
    container: Container,
    start: FirstDay = None,
    end: LastDay = None,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | MessageReportPublic:
    """A broadcast's message report: totals, per A/B variant, and per UTC day, as of the events
    analytics has consumed. A broadcast of which analytics saw no message sent is a 404."""
    return await _answer(
        container,
        principal.tenant_id,
        "broadcast",
        broadcast_id,
        ReportScope.broadcast(broadcast_id),
        start,
        end,
        format,
        separator,
    )


@message_router.get("/sequences/{sequence_id}", **_REPORT_ROUTE)
async def sequence_report(
    sequence_id: str,
    principal: CurrentPrincipal,
    container: Container,
    start: FirstDay = None,
    end: LastDay = None,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | MessageReportPublic:
    """A sequence's message report: totals, per step, and per UTC day. A sequence of which
    analytics saw no message sent is a 404."""
    return await _answer(
        container,
        principal.tenant_id,
        "sequence",
        sequence_id,
        ReportScope.sequence(sequence_id),
        start,
        end,
        format,
        separator,
    )


@message_router.get("/templates/{template_id}", **_REPORT_ROUTE)
async def template_report(
    template_id: str,
    principal: CurrentPrincipal,
    container: Container,
    start: FirstDay = None,
    end: LastDay = None,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | MessageReportPublic:
    """A template's message report: totals, per broadcast, sequence step or direct mail that
    sent it, and per UTC day. A template analytics saw no message of is a 404."""
    return await _answer(
        container,
        principal.tenant_id,
        "template",
        template_id,
        ReportScope.template(template_id),
        start,
        end,
        format,
        separator,
    )

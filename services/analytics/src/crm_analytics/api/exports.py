"""Reports as CSV files (`?format=csv`): the conventions every analytics report shares, and
the files of the summary, the time series and the event reports (docs/analytics.md "CSV
export" defines each file's rows and columns)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query, Response
from pydantic import BaseModel

from crm_analytics.api.schemas import (
    EventFiguresPublic,
    EventReportPublic,
    TenantSummary,
    TimeSeriesPublic,
)
from crm_shared.csv_export import CsvSeparator, csv_line


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


Format = Annotated[
    ReportFormat, Query(description="`json`, or `csv` for the same report as a CSV file.")
]


Separator = Annotated[
    CsvSeparator,
    Query(
        description=(
            "The CSV's separator: `comma` (RFC 4180), or `semicolon` with decimal commas "
            "(`0,25`), as Excel opens a file by double-click where the decimal mark is a comma "
            "(German, Swedish, French...). Ignored for JSON."
        )
    ),
]
# A report's rows for its CSV file: the header first, then its cells, row by row.
Rows = Iterable[Sequence[object]]

# The first cell of the rows that sum several groups (a message report's totals, a period's
# events' totals).
TOTAL = "total"

# The 200 answer of a route that answers JSON or CSV, for its OpenAPI `responses=`.
JSON_OR_CSV: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/json": {}, "text/csv": {}},
        "description": "The report, as JSON or (with `format=csv`) as CSV.",
    }
}


def safe_name(text: str) -> str:
    """Text as a file name part: letters, digits, `-` and `_` only."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in text)


def csv_file(rows: Rows, name: str, separator: CsvSeparator = CsvSeparator.COMMA) -> Response:
    """The rows as a CSV download: UTF-8 with a BOM (so Excel reads it as UTF-8), named
    `name`, separated as `separator` says; a text cell Excel would read as a number or date
    (a stage called `3/4`, an id `007`) kept as text."""
    dialect = separator.dialect
    suffix = separator.file_suffix
    return Response(
        "\ufeff" + "".join(csv_line(row, dialect) for row in rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe_name(name)}{suffix}.csv"'},
    )


def cell(value: object) -> object:
    """A JSON value as a CSV cell: null empty, booleans `true`/`false`, a list of ids
    space-separated; numbers and strings (times as in the JSON) as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return value


def summary_rows(summary: TenantSummary) -> Rows:
    """`figure,value`: one row per figure of the summary, in the JSON's order."""
    values = summary.model_dump(mode="json")
    return [("figure", "value"), *[(name, cell(v)) for name, v in values.items()]]


def series_column(metric: str, dimension: str | None) -> str:
    """A series' column: the metric's total (`candidates_created`) or one value of its
    breakdown (`candidates_created.referral`)."""
    return metric if dimension is None else f"{metric}.{dimension}"


def time_series_rows(found: TimeSeriesPublic) -> Rows:
    """`period`, then one column per series in the JSON's order; one row per period."""
    header = ["period", *[series_column(s.metric, s.dimension) for s in found.series]]
    rows: list[Sequence[object]] = [header]
    for index, period in enumerate(found.periods):
        rows.append([period.isoformat(), *[s.values[index] for s in found.series]])
    return rows


# An event's own fields, then its figures, in the CSV's row order; `by_channel` and
# `by_source` follow, then the follow-ups (`applied.count`, `applied.candidate_ids`, ...).
EVENT_FIELDS = ("event_name", "status", "starts_at", "completed_at", "within_days", "window_end")
FIGURES = (
    "registrations",
    "registered",
    "waitlisted",
    "cancelled",
    "checked_in",
    "walk_ins",
    "attended",
    "no_shows",
    "no_show_rate",
)
BREAKDOWNS = ("by_channel", "by_source")
FOLLOW_UPS = ("applied", "hired")
EVENT_COLUMNS = ("event_id", "figure", "key", "value")


def _figure_rows(first: str, figures: BaseModel, fields: Sequence[str]) -> Iterator[list[object]]:
    values = figures.model_dump(mode="json")
    for name in (*fields, *FIGURES):
        yield [first, name, "", cell(values[name])]
    for breakdown in BREAKDOWNS:
        for key, count in values[breakdown].items():
            yield [first, breakdown, key, count]
    for follow_up in FOLLOW_UPS:
        for part in ("count", "candidate_ids", "truncated"):
            yield [first, f"{follow_up}.{part}", "", cell(values[follow_up][part])]


def event_rows(
    events: Sequence[EventReportPublic], totals: EventFiguresPublic | None = None
) -> Rows:
    """`event_id,figure,key,value`: each event's rows (its fields, figures, breakdowns by
    `key`, follow-ups), then, for a period, the totals' figures under event id `total`."""
    rows: list[Sequence[object]] = [EVENT_COLUMNS]
    for event in events:
        rows += _figure_rows(event.event_id, event, EVENT_FIELDS)
    if totals is not None:
        rows += _figure_rows(TOTAL, totals, ())
    return rows

"""The reports as CSV files: the summary one row per figure, the time series one row per
period, an event's report one row per figure (breakdowns by key, follow-ups apart), a period's
totals under `total`; UTF-8 with a BOM, formulas neutralised, the file named in the header."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest

from crm_analytics.api.exports import (
    Rows,
    csv_file,
    event_rows,
    summary_rows,
    time_series_rows,
)
from crm_analytics.api.pool_health import (
    DistributionPublic,
    FreshnessPublic,
    GoingColdPublic,
    GrowthPublic,
    PeoplePublic,
    PoolHealthPublic,
    pool_rows,
)
from crm_analytics.api.schemas import (
    EventFiguresPublic,
    EventReportPublic,
    FollowUpPublic,
    SeriesPublic,
    TenantSummary,
    TimeSeriesPublic,
)
from crm_analytics.api.weekly_reports import WeeklyReportPublic, weekly_report_rows
from crm_shared.csv_export import CsvSeparator

pytestmark = pytest.mark.unit


def read(rows: Rows, separator: CsvSeparator = CsvSeparator.COMMA) -> list[list[str]]:
    """The rows as the CSV file holds them, read back as a spreadsheet would."""
    text = bytes(csv_file(rows, "report", separator).body).decode()
    assert text.startswith("\ufeff")
    assert text.count("\ufeff") == 1
    delimiter = ";" if separator is CsvSeparator.SEMICOLON else ","
    return list(csv.reader(io.StringIO(text[1:]), delimiter=delimiter))


def test_the_summary_is_one_row_per_figure_in_the_jsons_order() -> None:
    summary = TenantSummary(
        candidates=5,
        messages_sent=4,
        messages_opened=3,
        messages_clicked=2,
        event_registrations=1,
        applications=0,
        hires=6,
    )
    assert read(summary_rows(summary)) == [
        ["figure", "value"],
        ["candidates", "5"],
        ["messages_sent", "4"],
        ["messages_opened", "3"],
        ["messages_clicked", "2"],
        ["event_registrations", "1"],
        ["applications", "0"],
        ["hires", "6"],
    ]


def test_the_time_series_is_one_row_per_period_and_a_column_per_series() -> None:
    found = TimeSeriesPublic(
        start=date(2026, 11, 30),
        end=date(2026, 12, 1),
        interval="day",
        periods=[date(2026, 11, 30), date(2026, 12, 1)],
        series=[
            SeriesPublic(metric="messages_sent", dimension=None, values=[3, 0]),
            SeriesPublic(metric="candidates_created", dimension=None, values=[1, 2]),
            SeriesPublic(metric="candidates_created", dimension="referral", values=[1, 0]),
            SeriesPublic(metric="candidates_created", dimension="=bad", values=[0, 2]),
        ],
    )
    assert read(time_series_rows(found)) == [
        [
            "period",
            "messages_sent",
            "candidates_created",
            "candidates_created.referral",
            "candidates_created.=bad",
        ],
        ["2026-11-30", "3", "1", "1", "0"],
        ["2026-12-01", "0", "2", "0", "2"],
    ]


def figures(**changed: object) -> dict[str, object]:
    return {
        "registrations": 3,
        "registered": 2,
        "waitlisted": 0,
        "cancelled": 1,
        "checked_in": 1,
        "walk_ins": 1,
        "attended": 1,
        "no_shows": 1,
        "no_show_rate": 0.5,
        "by_channel": {"online": 2, "walk_in": 1},
        "by_source": {"event": 2, "unknown": 1},
        "applied": FollowUpPublic(count=2, candidate_ids=["c1", "c2"], truncated=False),
        "hired": FollowUpPublic(count=0, candidate_ids=[], truncated=False),
    } | changed


def test_an_event_report_is_one_row_per_figure_and_a_period_adds_its_totals() -> None:
    event = EventReportPublic(
        event_id="ev-1",
        event_name='=HYPERLINK("http://x")',
        status="completed",
        starts_at=datetime(2026, 11, 20, 17, tzinfo=UTC),
        completed_at=None,
        within_days=90,
        window_end=datetime(2027, 2, 18, 17, tzinfo=UTC),
        **figures(),
    )
    totals = EventFiguresPublic(**figures(no_show_rate=None))
    rows = read(event_rows([event], totals))
    assert rows[0] == ["event_id", "figure", "key", "value"]
    mine = [r[1:] for r in rows if r[0] == "ev-1"]
    assert mine == [
        ["event_name", "", '\'=HYPERLINK("http://x")'],  # not a formula in a spreadsheet
        ["status", "", "completed"],
        ["starts_at", "", "2026-11-20T17:00:00Z"],
        ["completed_at", "", ""],
        ["within_days", "", "90"],
        ["window_end", "", "2027-02-18T17:00:00Z"],
        ["registrations", "", "3"],
        ["registered", "", "2"],
        ["waitlisted", "", "0"],
        ["cancelled", "", "1"],
        ["checked_in", "", "1"],
        ["walk_ins", "", "1"],
        ["attended", "", "1"],
        ["no_shows", "", "1"],
        ["no_show_rate", "", "0.5"],
        ["by_channel", "online", "2"],
        ["by_channel", "walk_in", "1"],
        ["by_source", "event", "2"],
        ["by_source", "unknown", "1"],
        ["applied.count", "", "2"],
        ["applied.candidate_ids", "", "c1 c2"],
        ["applied.truncated", "", "false"],
        ["hired.count", "", "0"],
        ["hired.candidate_ids", "", ""],
        ["hired.truncated", "", "false"],
    ]
    total = [r[1:] for r in rows if r[0] == "total"]
    assert total[0] == ["registrations", "", "3"]
    assert ["no_show_rate", "", ""] in total  # null: nothing settled
    assert len(total) == len(mine) - 6  # the figures, without the event's own fields
    assert len(rows) == 1 + len(mine) + len(total)


def test_a_csv_file_is_named_and_utf8() -> None:
    answer = csv_file([["a", "é"]], "event-ev/../1 é-report")
    assert answer.media_type == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == (
        'attachment; filename="event-ev____1__-report.csv"'
    )
    assert answer.body == "\ufeffa,é\r\n".encode()


def test_text_excel_would_read_as_a_date_or_number_stays_text() -> None:
    """Names and keys Excel would turn into a date or a number when it opens the file by
    double-click (`1-9` -> 9 January, `3/4` -> 4 March, `007` -> 7) are written with the `'`
    Excel takes as "text"; numbers, ISO days and plain words are written as they are."""
    rows = [
        ("key", "value"),
        ("1-9", 3),
        ("3/4", 1),
        ("007", 2),
        ("2026-11-01", 4),
        ("Interview 2/3", 0.5),
        ("=HYPERLINK(1)", -2),
    ]
    for separator in CsvSeparator:
        assert read(rows, separator) == [
            ["key", "value"],
            ["'1-9", "3"],
            ["'3/4", "1"],
            ["'007", "2"],
            ["2026-11-01", "4"],
            ["Interview 2/3", "0.5" if separator is CsvSeparator.COMMA else "0,5"],
            ["'=HYPERLINK(1)", "-2"],
        ]


def test_pool_health_spells_its_score_ranges_out_for_excel() -> None:
    """`1-9` and `10-24` keys would be dates in Excel: the CSV writes `1 to 9`, `10 to 24`,
    `25 to 49`, `50 or more` (the JSON keeps its keys); `30-90d` stays text as it is."""
    pool = PoolHealthPublic(
        pool_id="p1",
        pool_name="3/4",
        as_of=datetime(2026, 11, 20, tzinfo=UTC),
        size=5,
        by_stage={"1-2": 5},
        growth=[GrowthPublic(days=7, added=1, removed=0)],
        engagement=DistributionPublic(
            buckets={"0": 1, "1-9": 1, "10-24": 1, "25-49": 1, "50+": 1}, median=10.0
        ),
        freshness=FreshnessPublic(
            buckets={"<30d": 4, "30-90d": 1, "90-180d": 0, ">180d": 0, "never": 0},
            median_days=3.0,
        ),
        going_cold=GoingColdPublic(
            count=0, candidate_ids=[], truncated=False, cold_after_days=60, engaged_score=10.0
        ),
        silver_medallists=PeoplePublic(count=0, candidate_ids=[], truncated=False),
    )
    rows = read(pool_rows([pool]))
    keys = [key for _, figure, key, _ in rows if figure == "engagement.buckets"]
    assert keys == ["0", "1 to 9", "10 to 24", "25 to 49", "50 or more"]
    fresh = [key for _, figure, key, _ in rows if figure == "freshness.buckets"]
    assert fresh == ["<30d", "30-90d", "90-180d", ">180d", "never"]
    assert ["p1", "pool_name", "", "'3/4"] in rows
    assert ["p1", "by_stage", "'1-2", "5"] in rows
    assert ["p1", "growth.added", "7", "1"] in rows


def test_a_semicolon_csv_writes_fractions_with_a_decimal_comma_for_european_excel() -> None:
    rows = [("figure", "value"), ("open_rate", 0.25), ("sent", 12), ("note", "a;b"), ("=x", -1.5)]
    assert read(rows, CsvSeparator.SEMICOLON) == [
        ["figure", "value"],
        ["open_rate", "0,25"],
        ["sent", "12"],
        ["note", "a;b"],
        ["'=x", "-1,5"],
    ]
    answer = csv_file(rows, "r", CsvSeparator.SEMICOLON)
    assert bytes(answer.body).decode().splitlines()[1] == "open_rate;0,25"
    # Downloaded beside the comma file, it keeps a name of its own.
    assert answer.headers["content-disposition"] == 'attachment; filename="r-semicolon.csv"'
    assert csv_file(rows, "r").headers["content-disposition"] == 'attachment; filename="r.csv"'
    # The default stays RFC 4180.
    assert read(rows)[1] == ["open_rate", "0.25"]


def test_a_weekly_report_is_one_row_per_figure_source_and_funnel_step() -> None:
    figures = {
        "new_candidates": 3,
        "by_source": {"referral": 2, "=cmd": 1},
        "messages_sent": 4,
        "messages_opened": 2,
        "messages_clicked": 1,
        "event_registrations": 1,
        "applications": 1,
        "hires": 0,
        "enrolments_started": 5,
        "enrolments_completed": 2,
        "enrolments_exited": 1,
    }
    previous = figures | {"new_candidates": 1, "by_source": {"referral": 1, "career fair": 1}}
    # A week before compiled before the enrolments were counted: nulls, empty cells.
    for name in ("enrolments_started", "enrolments_completed", "enrolments_exited"):
        del previous[name]
    report = WeeklyReportPublic.model_validate(
        {
            "report_id": "acme:2026-W47",
            "week": "2026-W47",
            "first_day": "2026-11-16",
            "last_day": "2026-11-22",
            "start": "2026-11-15T23:00:00Z",
            "end": "2026-11-22T23:00:00Z",
            "time_zone": "Europe/Berlin",
            "recipients": ["ana@acme.test"],
            "subject": "Weekly recruiting report 2026-W47",
            "compiled_at": "2026-11-23T07:00:00Z",
            "figures": figures,
            "previous": previous,
            "change": {},
            "by_source_change": {},
            "funnel": [
                {"step": "sourced", "count": 3, "previous": 1, "conversion_from_previous": None},
                {"step": "engaged", "count": 1, "previous": 1, "conversion_from_previous": 1 / 3},
            ],
        }
    )

    rows = read(weekly_report_rows(report))

    assert rows == [
        ["section", "name", "this_week", "week_before", "change"],
        ["figure", "new_candidates", "3", "1", "2"],
        ["figure", "messages_sent", "4", "4", "0"],
        ["figure", "messages_opened", "2", "2", "0"],
        ["figure", "messages_clicked", "1", "1", "0"],
        ["figure", "event_registrations", "1", "1", "0"],
        ["figure", "applications", "1", "1", "0"],
        ["figure", "hires", "0", "0", "0"],
        ["figure", "enrolments_started", "5", "", ""],
        ["figure", "enrolments_completed", "2", "", ""],
        ["figure", "enrolments_exited", "1", "", ""],
        ["source", "'=cmd", "1", "0", "1"],
        ["source", "career fair", "0", "1", "-1"],
        ["source", "referral", "2", "1", "1"],
        ["funnel", "sourced", "3", "1", "2"],
        ["funnel", "engaged", "1", "1", "0"],
    ]

"""The weekly report's schedule arithmetic (DST weeks in Berlin, a tenant in Auckland), the
recipients' validation and the rendering (every value escaped)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_analytics.domain.weekly_report import (
    FunnelLine,
    WeekFigures,
    WeeklySchedule,
    monday_of,
    next_report_at,
    render,
    report_id,
    valid_recipients,
    week_before,
)

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
AUCKLAND = ZoneInfo("Pacific/Auckland")
MONDAY_8 = WeeklySchedule(("a@x.org",), weekday=1, hour=8)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_next_report_in_berlin_winter_and_summer() -> None:
    # Friday 4 December 2026 (CET, +1): next Monday 7 December 08:00 = 07:00 UTC.
    assert next_report_at(MONDAY_8, BERLIN, utc(2026, 12, 4, 21)) == utc(2026, 12, 7, 7)
    # In summer (CEST, +2): Monday 6 July 2026 08:00 = 06:00 UTC.
    assert next_report_at(MONDAY_8, BERLIN, utc(2026, 7, 1)) == utc(2026, 7, 6, 6)


def test_the_scheduled_moment_itself_is_not_next_the_week_after_is() -> None:
    assert next_report_at(MONDAY_8, BERLIN, utc(2026, 12, 7, 7)) == utc(2026, 12, 14, 7)
    assert next_report_at(MONDAY_8, BERLIN, utc(2026, 12, 7, 6, 59)) == utc(2026, 12, 7, 7)


def test_next_report_across_the_spring_and_autumn_changes_in_berlin() -> None:
    # Clocks go forward on Sunday 29 March 2026: Monday 23 March is CET, Monday 30 March CEST.
    first = next_report_at(MONDAY_8, BERLIN, utc(2026, 3, 27))
    assert first == utc(2026, 3, 30, 6)
    assert next_report_at(MONDAY_8, BERLIN, utc(2026, 3, 23, 7)) == first
    # Back on Sunday 25 October 2026.
    assert next_report_at(MONDAY_8, BERLIN, utc(2026, 10, 20)) == utc(2026, 10, 26, 7)
    # Sunday at 02:00, skipped on 29 March: an hour later by the wall clock (03:00 CEST).
    sunday_2 = WeeklySchedule(("a@x.org",), weekday=7, hour=2)
    assert next_report_at(sunday_2, BERLIN, utc(2026, 3, 27)) == utc(2026, 3, 29, 1)
    # Sunday at 02:00 on 25 October happens twice: the first one (CEST, 00:00 UTC).
    assert next_report_at(sunday_2, BERLIN, utc(2026, 10, 24)) == utc(2026, 10, 25, 0)


def test_the_weeks_with_a_clock_change_in_berlin_are_167_and_169_hours() -> None:
    spring = week_before(utc(2026, 3, 30, 6), BERLIN)
    assert spring.first_day == date(2026, 3, 23)
    assert spring.start == utc(2026, 3, 22, 23)  # Monday 00:00 CET
    assert spring.end == utc(2026, 3, 29, 22)  # Monday 00:00 CEST
    assert spring.end - spring.start == timedelta(hours=167)
    autumn = week_before(utc(2026, 10, 26, 7), BERLIN)
    assert (autumn.first_day, autumn.end - autumn.start) == (
        date(2026, 10, 19),
        timedelta(hours=169),
    )
    assert autumn.previous(BERLIN).end == autumn.start


def test_a_tenant_in_auckland() -> None:
    # 4 December 2026 is summer in New Zealand (NZDT, +13): Monday 7 December 08:00 there is
    # Sunday 6 December 19:00 UTC.
    due = next_report_at(MONDAY_8, AUCKLAND, utc(2026, 12, 4, 21))
    assert due == utc(2026, 12, 6, 19)
    week = week_before(due, AUCKLAND)
    assert week.first_day == date(2026, 11, 30)
    assert (week.start, week.end) == (utc(2026, 11, 29, 11), utc(2026, 12, 6, 11))
    assert report_id("acme", week) == "acme:2026-W49"
    # NZ winter (NZST, +12): Monday 6 July 2026 08:00 = Sunday 5 July 20:00 UTC.
    assert next_report_at(MONDAY_8, AUCKLAND, utc(2026, 7, 1)) == utc(2026, 7, 5, 20)
    # The April change (back, Sunday 5 April 2026): that week is 169 hours.
    april = week_before(utc(2026, 4, 6, 0), AUCKLAND)
    assert april.end - april.start == timedelta(hours=169)


def test_a_report_due_late_still_reports_its_week_and_the_same_id() -> None:
    due = utc(2026, 12, 7, 7)
    late = due + timedelta(hours=30)
    assert week_before(due, BERLIN) == week_before(late, BERLIN)
    assert report_id("t", week_before(due, BERLIN)) == "t:2026-W49"


def test_recipients_are_trimmed_lower_cased_and_deduplicated() -> None:
    assert valid_recipients([" Ana@X.org", "ana@x.org", "bo@y.co"]) == ["ana@x.org", "bo@y.co"]
    assert valid_recipients([]) == []
    for bad in ("ana", "ana@x", "<a@x.org>", "a b@x.org", "a@x.org, b@y.org", "a@@x.org"):
        with pytest.raises(ValueError, match="is not an e-mail address"):
            valid_recipients([bad])
    with pytest.raises(ValueError, match="at most 20"):
        valid_recipients([f"u{n}@x.org" for n in range(21)])
    with pytest.raises(ValueError, match="weekday"):
        WeeklySchedule((), weekday=8)
    with pytest.raises(ValueError, match="hour"):
        WeeklySchedule((), hour=24)


def test_the_rendering_escapes_every_value_and_shows_the_change() -> None:
    week = week_before(utc(2026, 12, 7, 7), BERLIN)
    current = WeekFigures(
        new_candidates=3,
        by_source={"<script>alert(1)</script>": 2, "referral": 1},
        messages_sent=10,
        messages_opened=4,
        applications=2,
        hires=1,
    )
    previous = WeekFigures(new_candidates=2, by_source={"referral": 2}, messages_sent=5)
    funnel = [
        FunnelLine("sourced", 3, 2, None),
        FunnelLine("engaged", 1, 2, 0.3333),
    ]
    rendered = render(week, "Europe/Berlin", current, previous, funnel)
    assert rendered.subject == "Weekly recruiting report 2026-W49: 30 Nov 2026 to 6 Dec 2026"
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "from <script>alert(1)</script>: 2 (+2)" in rendered.text  # plain text is plain
    assert "New candidates: 3 (+1, +50.0%)" in rendered.text
    assert "Messages sent: 10 (+5, +100.0%)" in rendered.text
    assert "from referral: 1 (-1, -50.0%)" in rendered.text
    assert "Hires: 1 (+1)" in rendered.text
    assert "engaged: 1 (33.3% of the previous step) [-1, -50.0%]" in rendered.text
    assert "<td>Messages sent</td><td>10</td><td>+5, +100.0%</td>" in rendered.html


@pytest.mark.parametrize(
    ("week", "monday"),
    [
        ("2026-W47", date(2026, 11, 16)),
        ("2026-W01", date(2025, 12, 29)),
        ("2026-W53", date(2026, 12, 28)),
    ],
)
def test_an_iso_week_names_its_monday(week: str, monday: date) -> None:
    assert monday_of(week) == monday


@pytest.mark.parametrize("week", ["2025-W53", "2026-W00", "2026-47", "2026W47", "26-W47", "x"])
def test_anything_else_is_no_week(week: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)week"):
        monday_of(week)

"""The time series' rules: the UTC day an event counts on, days grouped into ISO weeks, and
series filled with zeros where nothing happened."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.domain.timeseries import (
    MAX_DAYS,
    DailyCount,
    Interval,
    RangeError,
    day_of,
    periods,
    refused_range,
    series,
)

pytestmark = pytest.mark.unit

SENT = TenantMetric.MESSAGES_SENT
CREATED = TenantMetric.CANDIDATES_CREATED


def test_an_event_counts_on_its_utc_day() -> None:
    berlin_after_midnight = datetime(2026, 12, 3, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert day_of(berlin_after_midnight) == date(2026, 12, 2)
    assert day_of(datetime(2026, 12, 3, 23, 59)) == date(2026, 12, 3)
    assert day_of(datetime(2026, 12, 3, 23, 59, tzinfo=UTC)) == date(2026, 12, 3)


def test_periods_are_days_or_the_mondays_of_iso_weeks() -> None:
    assert periods(date(2026, 11, 30), date(2026, 12, 2), Interval.DAY) == [
        date(2026, 11, 30),
        date(2026, 12, 1),
        date(2026, 12, 2),
    ]
    # Thursday 3 Dec to Tuesday 15 Dec: the weeks of Mon 30 Nov, 7 Dec and 14 Dec.
    assert periods(date(2026, 12, 3), date(2026, 12, 15), Interval.WEEK) == [
        date(2026, 11, 30),
        date(2026, 12, 7),
        date(2026, 12, 14),
    ]
    assert periods(date(2026, 12, 3), date(2026, 12, 3), Interval.DAY) == [date(2026, 12, 3)]


def test_a_backwards_or_too_long_day_range_is_refused() -> None:
    with pytest.raises(RangeError):
        periods(date(2026, 12, 3), date(2026, 12, 2), Interval.DAY)
    start = date(2025, 1, 1)
    with pytest.raises(RangeError):
        periods(start, start + timedelta(days=MAX_DAYS), Interval.DAY)
    assert len(periods(start, start + timedelta(days=MAX_DAYS), Interval.WEEK)) == 58


def test_series_sum_days_into_periods_and_break_new_candidates_down_by_source() -> None:
    axis = periods(date(2026, 11, 30), date(2026, 12, 13), Interval.WEEK)
    counts = [
        DailyCount(SENT, date(2026, 11, 30), "", 2),
        DailyCount(SENT, date(2026, 12, 6), "", 3),  # Sunday: still the first week
        DailyCount(SENT, date(2026, 12, 7), "", 1),
        DailyCount(CREATED, date(2026, 12, 1), "referral", 4),
        DailyCount(CREATED, date(2026, 12, 8), "event", 1),
        DailyCount(CREATED, date(2026, 12, 9), "referral", 1),
        DailyCount(TenantMetric.APPLICATIONS, date(2026, 12, 1), "", 9),  # not asked for
        DailyCount(SENT, date(2026, 12, 20), "", 7),  # outside the range
    ]
    found = series(counts, [SENT, CREATED], axis, Interval.WEEK)
    assert [(s.metric, s.dimension, s.values) for s in found] == [
        (SENT, "", [5, 1]),
        (CREATED, "", [4, 2]),
        (CREATED, "event", [0, 1]),
        (CREATED, "referral", [4, 1]),
    ]


def test_a_period_covers_at_most_400_days_both_included() -> None:
    first = date(2025, 11, 2)
    assert refused_range(first, first + timedelta(days=MAX_DAYS - 1)) is None
    assert refused_range(first - timedelta(days=1), first + timedelta(days=MAX_DAYS - 1)) == (
        "a period covers at most 400 days, both included (this one 401)"
    )
    assert refused_range(first, first - timedelta(days=1)) == "`to` must be on or after `from`"

"""Counts per day, and the periods (days or ISO weeks) a time series reports them in. Pure
functions: which day an event counts on, which period a day belongs to, and the series filled
with zeros for periods without events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from crm_analytics.domain.metrics import TenantMetric

# A day series longer than this is asked for weekly (a chart of more bars is unreadable).
MAX_DAYS = 400


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"


class RangeError(ValueError):
    """A range that ends before it starts, or is too long for its interval."""


def day_of(moment: datetime) -> date:
    """The UTC day an event counts on (a naive time is read as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date()


def refused_range(first_day: date, last_day: date, max_days: int = MAX_DAYS) -> str | None:
    """Why a period of days (both included) cannot be reported: reversed, or longer than
    `max_days`; None when it can."""
    if last_day < first_day:
        return "`to` must be on or after `from`"
    days = (last_day - first_day).days + 1
    if days > max_days:
        return f"a period covers at most {max_days} days, both included (this one {days})"
    return None


def report_range(
    active: tuple[date, date] | None, first_day: date | None, last_day: date | None, today: date
) -> tuple[date, date]:
    """The days a report covers (both included) when asked for `first_day` to `last_day`, either
    or both missing: a missing end is the first or last `active` day (at most `MAX_DAYS` back
    from the last), or the other end, or today. `RangeError` for a reversed or too long range."""
    last = last_day or (active[1] if active else first_day) or today
    first = first_day or (max(active[0], last - timedelta(days=MAX_DAYS - 1)) if active else last)
    if refusal := refused_range(first, last):
        raise RangeError(refusal)
    return first, last


def period_of(day: date, interval: Interval) -> date:
    """The first day of the period `day` falls in: itself, or the Monday of its ISO week."""
    return day if interval is Interval.DAY else day - timedelta(days=day.weekday())


def periods(start: date, end: date, interval: Interval) -> list[date]:
    """Every period from the one holding `start` to the one holding `end`, in order."""
    if end < start:
        raise RangeError("`to` is before `from`")
    if interval is Interval.DAY and (end - start).days + 1 > MAX_DAYS:
        raise RangeError(f"a day series covers at most {MAX_DAYS} days; ask for weeks")
    step = timedelta(days=1 if interval is Interval.DAY else 7)
    found, current = [], period_of(start, interval)
    while current <= end:
        found.append(current)
        current += step
    return found


@dataclass(frozen=True)
class DailyCount:
    """What was counted on one day for one metric (and one value of its breakdown, if any)."""

    metric: TenantMetric
    day: date
    dimension: str
    value: int


@dataclass(frozen=True)
class Series:
    metric: TenantMetric
    # "" for the metric's total; otherwise one value of its breakdown (a candidate source).
    dimension: str
    values: list[int]


def series(
    counts: Iterable[DailyCount],
    metrics: Iterable[TenantMetric],
    axis: list[date],
    interval: Interval,
) -> list[Series]:
    """Each metric's total per period, then its breakdown by dimension (sorted), zero-filled."""
    index = {start: i for i, start in enumerate(axis)}
    totals: dict[TenantMetric, list[int]] = {metric: [0] * len(axis) for metric in metrics}
    split: dict[tuple[TenantMetric, str], list[int]] = {}
    for count in counts:
        slot = index.get(period_of(count.day, interval))
        if slot is None or count.metric not in totals:
            continue
        totals[count.metric][slot] += count.value
        if count.dimension:
            split.setdefault((count.metric, count.dimension), [0] * len(axis))[slot] += count.value
    found = [Series(metric, "", values) for metric, values in totals.items()]
    found += [Series(metric, dim, values) for (metric, dim), values in sorted(split.items())]
    return found

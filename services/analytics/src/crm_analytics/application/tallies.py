"""The tenant's running totals and counts per day: what each consumed event adds, the summary
and the time series."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.domain.timeseries import Interval, Series, day_of, periods, series
from crm_shared import Session


@dataclass(frozen=True)
class Counted:
    """One event counted in `metric`: the tenant, when it happened and its breakdown value."""

    tenant_id: str
    metric: TenantMetric
    occurred_at: datetime
    dimension: str = ""


async def count(storage: AnalyticsStorage, counted: Counted, *, session: Session) -> None:
    """Adds one to the tenant's total of the metric and to its count of the event's day."""
    await storage.counters(counted.tenant_id).increment(counted.metric, session=session)
    await storage.daily(counted.tenant_id).increment(
        counted.metric, day_of(counted.occurred_at), counted.dimension, session=session
    )


async def count_once(
    storage: AnalyticsStorage, counted: Counted, key: str, *, session: Session
) -> None:
    """Counts the event the first time `key` (a message, say) is counted in its metric: a
    second open of one mail is neither a new total nor a new day's count."""
    if await storage.counters(counted.tenant_id).increment_once(
        counted.metric, key, session=session
    ):
        await storage.daily(counted.tenant_id).increment(
            counted.metric, day_of(counted.occurred_at), counted.dimension, session=session
        )


async def count_batch(
    storage: AnalyticsStorage,
    counted: Sequence[Counted],
    counted_once: Sequence[tuple[Counted, str]],
    *,
    session: Session,
) -> None:
    """Counts a batch of events as `count` of each of `counted` and `count_once` of each of
    `counted_once` in turn would, summed in memory: one bulk `$inc` per collection and tenant."""
    everything = list(counted)
    for tenant_id in dict.fromkeys(c.tenant_id for c, _ in counted_once):
        mine = [(c, key) for c, key in counted_once if c.tenant_id == tenant_id]
        first = await storage.counters(tenant_id).first_counted(
            [(c.metric, key) for c, key in mine], session=session
        )
        everything += [c for (c, _), new in zip(mine, first, strict=True) if new]
    for tenant_id in dict.fromkeys(c.tenant_id for c in everything):
        mine_counted = [c for c in everything if c.tenant_id == tenant_id]
        await storage.counters(tenant_id).increment_each(
            Counter(c.metric for c in mine_counted), session=session
        )
        await storage.daily(tenant_id).increment_each(
            Counter((c.metric, day_of(c.occurred_at), c.dimension) for c in mine_counted),
            session=session,
        )


async def tenant_totals(storage: AnalyticsStorage, tenant_id: str) -> dict[TenantMetric, int]:
    """Every counter of the tenant, as of the events consumed; never counted reads as zero."""
    return await storage.counters(tenant_id).totals()


@dataclass(frozen=True)
class TimeSeries:
    interval: Interval
    periods: list[date]
    series: list[Series]


async def time_series(
    storage: AnalyticsStorage,
    tenant_id: str,
    metrics: list[TenantMetric],
    start: date,
    end: date,
    interval: Interval,
) -> TimeSeries:
    """The metrics per day or week from `start` to `end` (UTC days, both included); raises
    `RangeError` for a range the interval cannot cover."""
    axis = periods(start, end, interval)
    counts = await storage.daily(tenant_id).between(metrics, start, end)
    return TimeSeries(interval, axis, series(counts, metrics, axis, interval))

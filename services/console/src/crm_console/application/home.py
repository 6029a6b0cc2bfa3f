"""The home page's figures, gathered from the API in parallel; a part the person may not read
(or that fails) is shown as unavailable with the reason, and the rest still renders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm_console.adapters.gateway_api import Caller, Download, GatewayApi
from crm_console.application.parts import Part, items, part
from crm_console.domain.charts import pipeline_by_pool_and_stage
from crm_console.domain.home import (
    ENGAGEMENT_METRICS,
    NEW_CANDIDATES,
    DateRange,
    engagement_chart,
    engagement_totals,
    new_candidate_totals,
    new_candidates_chart,
)

API = "/api/v1"
# What the range charts show: one time series of these metrics.
CHART_METRICS = [metric for metric, _ in ENGAGEMENT_METRICS] + [NEW_CANDIDATES]


def _series_query(span: DateRange) -> dict[str, Any]:
    return {"metric": CHART_METRICS, **span.query_params()}


@dataclass(frozen=True)
class HomeFigures:
    summary: Part
    pipeline: Part
    upcoming_events: Part
    # Over the chosen range: `{"chart": ..., "totals": ...}` each.
    engagement: Part
    new_candidates: Part


@dataclass(frozen=True)
class RangeCharts:
    """The charts that follow the date range (the htmx fragment the range picker swaps)."""

    engagement: Part
    new_candidates: Part


class HomeDashboard:
    """The numbers a head of talent looks at first."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def figures(
        self, caller: Caller, span: DateRange, now: datetime | None = None
    ) -> HomeFigures:
        now = now or datetime.now(UTC)
        summary, pools, events, charts = await asyncio.gather(
            part(self._api.get(caller, f"{API}/analytics/summary")),
            part(self._api.get(caller, f"{API}/pools")),
            part(self._api.get(caller, f"{API}/events")),
            self.range_charts(caller, span),
        )
        pipeline = (
            Part(data=pipeline_by_pool_and_stage(items(pools.data)))
            if pools.unavailable is None
            else pools
        )
        upcoming = (
            Part(
                data=[
                    event
                    for event in items(events.data)
                    if datetime.fromisoformat(str(event["starts_at"])) >= now
                    and event.get("status") != "cancelled"
                ][:5]
            )
            if events.unavailable is None
            else events
        )
        return HomeFigures(
            summary=summary,
            pipeline=pipeline,
            upcoming_events=upcoming,
            engagement=charts.engagement,
            new_candidates=charts.new_candidates,
        )

    async def range_charts(self, caller: Caller, span: DateRange) -> RangeCharts:
        """Campaign engagement and new candidates by source over `span`: one API call."""
        answer = await part(
            self._api.get(caller, f"{API}/analytics/timeseries", _series_query(span))
        )
        if answer.unavailable is not None:
            return RangeCharts(answer, answer)
        return RangeCharts(
            engagement=Part(
                data={
                    "chart": engagement_chart(answer.data),
                    "totals": engagement_totals(answer.data),
                }
            ),
            new_candidates=Part(
                data={
                    "chart": new_candidates_chart(answer.data),
                    "totals": new_candidate_totals(answer.data),
                }
            ),
        )

    async def range_csv(
        self, caller: Caller, span: DateRange, params: dict[str, str] | None = None
    ) -> Download:
        """The charts' figures over `span` as the API's CSV file (a row per period; `params`:
        its separator)."""
        return await self._api.download(
            caller,
            f"{API}/analytics/timeseries",
            {**_series_query(span), "format": "csv", **(params or {})},
        )

"""The home page's figures, gathered from the API in parallel; a part the person may not read
(or that fails) is shown as unavailable with the reason, and the rest still renders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from crm_console.adapters.gateway_api import Caller, GatewayApi
from crm_console.application.parts import Part, items, part
from crm_console.domain.charts import pipeline_by_pool_and_stage

API = "/api/v1"


@dataclass(frozen=True)
class HomeFigures:
    summary: Part
    pipeline: Part
    upcoming_events: Part


class HomeDashboard:
    """The numbers a head of talent looks at first."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def figures(self, caller: Caller, now: datetime | None = None) -> HomeFigures:
        now = now or datetime.now(UTC)
        summary, pools, events = await asyncio.gather(
            part(self._api.get(caller, f"{API}/analytics/summary")),
            part(self._api.get(caller, f"{API}/pools")),
            part(self._api.get(caller, f"{API}/events")),
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
        return HomeFigures(summary=summary, pipeline=pipeline, upcoming_events=upcoming)

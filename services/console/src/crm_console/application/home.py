"""The home page's figures, gathered from the API in parallel; a part the person may not read
(or that fails) is shown as unavailable with the reason, and the rest still renders."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm_console.adapters.gateway_api import ApiProblem, Caller, GatewayApi, SignedOut
from crm_console.domain.charts import pipeline_by_pool_and_stage

API = "/api/v1"


@dataclass(frozen=True)
class Part:
    """One panel's data, or why it has none."""

    data: Any = None
    unavailable: str | None = None


@dataclass(frozen=True)
class HomeFigures:
    summary: Part
    pipeline: Part
    upcoming_events: Part


async def _part(call: Any) -> Part:
    try:
        return Part(data=await call)
    except SignedOut:
        raise
    except ApiProblem as refused:
        return Part(unavailable=refused.problem.message)


class HomeDashboard:
    """The numbers a head of talent looks at first."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def figures(self, caller: Caller, now: datetime | None = None) -> HomeFigures:
        now = now or datetime.now(UTC)
        summary, pools, events = await asyncio.gather(
            _part(self._api.get(caller, f"{API}/analytics/summary")),
            _part(self._api.get(caller, f"{API}/pools")),
            _part(self._api.get(caller, f"{API}/events")),
        )
        pipeline = (
            Part(data=pipeline_by_pool_and_stage(_items(pools.data)))
            if pools.unavailable is None
            else pools
        )
        upcoming = (
            Part(
                data=[
                    event
                    for event in _items(events.data)
                    if datetime.fromisoformat(str(event["starts_at"])) >= now
                    and event.get("status") != "cancelled"
                ][:5]
            )
            if events.unavailable is None
            else events
        )
        return HomeFigures(summary=summary, pipeline=pipeline, upcoming_events=upcoming)


def _items(body: Any) -> list[dict[str, Any]]:
    """A list response's items, whether the API pages it (`{items: [...]}`) or not."""
    if isinstance(body, dict):
        return list(body.get("items", []))
    return list(body or [])

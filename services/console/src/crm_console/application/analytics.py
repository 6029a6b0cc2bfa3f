"""The analytics page's reads through the gateway's public API: the funnel and attribution
reports (and their CSV files), the lists that name what they count by id, and the tenant's
analytics time zone. A report the API refuses (a period too long, too many people in it)
comes back with the refusal, for the form to show."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from crm_console.adapters.gateway_api import ApiProblem, Caller, Download, GatewayApi, SignedOut
from crm_console.application.lookups import Choices, choices
from crm_console.application.parts import Part, part
from crm_console.domain.analytics import (
    NAMED_KINDS,
    AnalyticsQuery,
    CreditRow,
    FunnelGroup,
    credit_by_kind,
    credit_chart,
    credit_rows,
    funnel_chart,
    funnel_chart_label,
    funnel_groups,
    kinds_to_name,
    member_names,
    pool_health_view,
    refusal_text,
)
from crm_console.domain.csv_files import SEMICOLON, column_values, with_names
from crm_console.domain.pools import BOARD_PAGE
from crm_console.domain.problems import Problem

API = "/api/v1"
# The list that names each kind of record a report counts by id.
NAME_LISTS = {
    "pool": f"{API}/pools",
    "segment": f"{API}/segments",
    "broadcast": f"{API}/broadcasts",
    "sequence": f"{API}/sequences",
    "event": f"{API}/events",
}
# What the pool health panel says of a pool analytics has not been told of a member of yet.
NO_HEALTH_YET = (
    "no health report yet: analytics learns of a pool from its first member, a moment after "
    "they are added"
)
# Broadcasts are listed a page at a time (oldest first): at most this many pages are read to
# name them; a broadcast beyond keeps its id.
BROADCAST_PAGES = 5


def _semicolon(params: dict[str, str] | None) -> bool:
    return (params or {}).get("separator") == SEMICOLON


def _named(
    found: Download,
    params: dict[str, str] | None,
    after: str,
    name_of: Callable[[dict[str, str]], str],
) -> Download:
    """The API's file with the console's `name` column (docs/console.md "Analytics")."""
    content = with_names(found.content, _semicolon(params), after, name_of)
    return Download(content, found.media_type, found.headers)


@dataclass(frozen=True)
class Report:
    """A report's view, or the API's refusal of it."""

    data: Any = None
    problem: Problem | None = None

    @property
    def unavailable(self) -> str | None:
        return refusal_text(self.problem) if self.problem else None


async def _report(call: Awaitable[Any]) -> Report:
    try:
        return Report(data=await call)
    except SignedOut:
        raise
    except ApiProblem as refused:
        return Report(problem=refused.problem)


@dataclass(frozen=True)
class FunnelView:
    time_zone: str
    by: str
    cohort: int
    groups: list[FunnelGroup]
    # The whole cohort's steps (None when that funnel could not be read).
    chart: dict[str, Any] | None = None
    chart_label: str = ""
    # Why the groups keep their ids (the list that names them could not be read).
    names_unavailable: str | None = None


@dataclass(frozen=True)
class AttributionView:
    time_zone: str
    outcome: str
    model: str
    lookback_days: int
    outcomes: int
    no_touch: int
    rows: list[CreditRow]
    by_kind: list[tuple[str, float]]
    chart: dict[str, Any]
    names_unavailable: list[str] = field(default_factory=list)


class AnalyticsDesk:
    """Funnels, attribution and the analytics time zone, for one caller at a time."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def time_zone(self, caller: Caller) -> tuple[str | None, str | None]:
        """The tenant's analytics time zone, or None and why it could not be read."""
        try:
            found = await self.settings(caller)
        except SignedOut:
            raise
        except ApiProblem as refused:
            return None, refused.problem.message
        return str(found.get("time_zone") or "UTC"), None

    async def settings(self, caller: Caller) -> dict[str, Any]:
        """`{time_zone, updated_at}`."""
        found: dict[str, Any] = await self._api.get(caller, f"{API}/analytics/settings")
        return found

    async def save_settings(self, caller: Caller, time_zone: str) -> dict[str, Any]:
        saved: dict[str, Any] = await self._api.send(
            caller, "PUT", f"{API}/analytics/settings", {"time_zone": time_zone}
        )
        return saved

    async def names(self, caller: Caller, kind: str) -> Choices:
        """The records of `kind` the person may read, to name them (one call, or a few pages
        of broadcasts)."""
        if kind == "broadcast":
            return await choices(self._broadcasts(caller))
        params = {"include_archived": "true"} if kind == "sequence" else None
        return await choices(self._api.get(caller, NAME_LISTS[kind], params))

    async def _broadcasts(self, caller: Caller) -> list[dict[str, Any]]:
        return await self._api.every_page(
            caller, NAME_LISTS["broadcast"], {"limit": BOARD_PAGE}, max_pages=BROADCAST_PAGES
        )

    async def funnel(self, caller: Caller, query: AnalyticsQuery) -> Report:
        """The funnel split by the query's `by` (names looked up alongside), and the whole
        cohort's for the chart when the split is not already it."""
        split = query.by != "none"

        async def nothing() -> Choices:
            return Choices()

        async def whole() -> Report:
            if not split:
                return Report()
            return await _report(
                self._api.get(caller, f"{API}/analytics/funnel", query.funnel_params("none"))
            )

        answer, cohort, names = await asyncio.gather(
            _report(self._api.get(caller, f"{API}/analytics/funnel", query.funnel_params())),
            whole(),
            self.names(caller, query.by) if query.by in NAME_LISTS else nothing(),
        )
        if answer.problem is not None:
            return answer
        body: dict[str, Any] = answer.data
        everyone = cohort.data if split else body
        steps = (everyone or {}).get("funnels", [{}])[0].get("steps", []) if everyone else []
        return Report(
            data=FunnelView(
                time_zone=str(body.get("time_zone", "UTC")),
                by=str(body.get("by", query.by)),
                cohort=int(body.get("cohort", 0)),
                groups=funnel_groups(body, names.names()),
                chart=funnel_chart(steps) if steps else None,
                chart_label=funnel_chart_label(steps, query.label) if steps else "",
                names_unavailable=names.unavailable,
            )
        )

    async def attribution(self, caller: Caller, query: AnalyticsQuery) -> Report:
        """The credits of the query's outcomes, then the names of the broadcasts, sequences
        and events among them (the lists read together)."""
        answer = await _report(
            self._api.get(caller, f"{API}/analytics/attribution", query.attribution_params())
        )
        if answer.problem is not None:
            return answer
        body: dict[str, Any] = answer.data
        kinds = kinds_to_name(body)
        lists = await asyncio.gather(*(self.names(caller, kind) for kind in kinds))
        names = {kind: found.names() for kind, found in zip(kinds, lists, strict=True)}
        return Report(
            data=AttributionView(
                time_zone=str(body.get("time_zone", "UTC")),
                outcome=str(body.get("outcome", query.outcome)),
                model=str(body.get("model", query.model)),
                lookback_days=int(body.get("lookback_days", 0)),
                outcomes=int(body.get("outcomes", 0)),
                no_touch=int(body.get("no_touch", 0)),
                rows=credit_rows(body, names),
                by_kind=credit_by_kind(body),
                chart=credit_chart(body),
                names_unavailable=[
                    f"{kind}s: {found.unavailable}"
                    for kind, found in zip(kinds, lists, strict=True)
                    if found.unavailable
                ],
            )
        )

    async def funnel_csv(
        self, caller: Caller, query: AnalyticsQuery, params: dict[str, str] | None = None
    ) -> Download:
        """The funnel as the API's CSV file (a row per funnel and step; `params`: its
        separator), with a `name` column after `key` naming the pool, segment, broadcast,
        sequence or event as the page does (the API answers ids only)."""
        asked = {**query.funnel_params(), "format": "csv", **(params or {})}
        if query.by not in NAME_LISTS:
            found = await self._api.download(caller, f"{API}/analytics/funnel", asked)
            return _named(found, params, "key", lambda row: "")
        found, names = await asyncio.gather(
            self._api.download(caller, f"{API}/analytics/funnel", asked),
            self.names(caller, query.by),
        )
        listed = names.names()
        return _named(found, params, "key", lambda row: listed.get(row.get("key", ""), ""))

    async def attribution_csv(
        self, caller: Caller, query: AnalyticsQuery, params: dict[str, str] | None = None
    ) -> Download:
        """The credits as the API's CSV file (a row per credited touch; `params`: its
        separator), with a `name` column after `ref` naming each broadcast, sequence and event
        (their lists read after the file, only for the kinds in it)."""
        found = await self._api.download(
            caller,
            f"{API}/analytics/attribution",
            {**query.attribution_params(), "format": "csv", **(params or {})},
        )
        present = column_values(found.content, _semicolon(params), "kind")
        kinds = [kind for kind in NAMED_KINDS if kind in present]
        lists = await asyncio.gather(*(self.names(caller, kind) for kind in kinds))
        names = {kind: each.names() for kind, each in zip(kinds, lists, strict=True)}
        return _named(
            found,
            params,
            "ref",
            lambda row: names.get(row.get("kind", ""), {}).get(row.get("ref", ""), ""),
        )

    async def pool_health(self, caller: Caller, pool_id: str) -> Part:
        """A talent pool's health, its people named from the first page of the pool's
        members (the people it lists are members) and its stages in the pool's order (both
        read alongside)."""
        pool = quote(pool_id, safe="")
        report, members, found = await asyncio.gather(
            part(
                self._api.get(caller, f"{API}/analytics/pools/{pool}/health"),
                when_missing=NO_HEALTH_YET,
            ),
            choices(self._api.get(caller, f"{API}/pools/{pool}/members", {"limit": BOARD_PAGE})),
            part(self._api.get(caller, f"{API}/pools/{pool}")),
        )
        if report.unavailable is not None:
            return report
        # The report sorts stages by name (the topics carry no order); the pool has its own.
        stages = [str(s) for s in (found.data or {}).get("stages", [])] if found.data else []
        return Part(data=pool_health_view(report.data, member_names(members.items), stages))

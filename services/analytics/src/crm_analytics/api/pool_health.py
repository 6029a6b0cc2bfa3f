"""Routes of the pool health report: one talent pool's, or every pool's of the tenant, as JSON
or as CSV (`?format=csv`)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from crm_analytics.api.deps import Container
from crm_analytics.api.exports import (
    JSON_OR_CSV,
    Format,
    ReportFormat,
    Separator,
    cell,
    csv_file,
)
from crm_analytics.application.pool_health import PoolReport, UnknownPool, pool_reports
from crm_analytics.domain.pool_health import HealthRules, Listed
from crm_shared import (
    CurrentPrincipal,
    ProblemError,
    problem_responses,
    reject_unknown_query_params,
    require_permission,
    utc_now,
)
from crm_shared.csv_export import CsvSeparator

pool_health_router = APIRouter(prefix="/analytics", tags=["analytics"])


class GrowthPublic(BaseModel):
    days: int = Field(description="The window: the last `days` days, up to now.")
    added: int = Field(description="People added to the pool in the window.")
    removed: int = Field(description="People removed in the window and not members now.")


class DistributionPublic(BaseModel):
    buckets: dict[str, int]
    median: float | None


class FreshnessPublic(BaseModel):
    buckets: dict[str, int]
    median_days: float | None


class PeoplePublic(BaseModel):
    count: int
    candidate_ids: list[str] = Field(description="The first 100, in the report's order.")
    truncated: bool


class GoingColdPublic(PeoplePublic):
    cold_after_days: int
    engaged_score: float


class PoolHealthPublic(BaseModel):
    pool_id: str
    pool_name: str
    as_of: datetime
    size: int
    by_stage: dict[str, int]
    growth: list[GrowthPublic]
    engagement: DistributionPublic
    freshness: FreshnessPublic
    going_cold: GoingColdPublic
    silver_medallists: PeoplePublic


class PoolsHealthPublic(BaseModel):
    as_of: datetime
    cold_after_days: int
    engaged_score: float
    pools: list[PoolHealthPublic]


ColdAfterDays = Annotated[
    int,
    Query(ge=1, le=730, description="Days without activity after which an engaged member is cold."),
]
EngagedScore = Annotated[
    float,
    Query(gt=0, le=10_000, description="The score a member must have reached once to go cold."),
]


def _people(listed: Listed) -> dict[str, Any]:
    return {
        "count": listed.count,
        "candidate_ids": listed.candidate_ids,
        "truncated": listed.truncated,
    }


def _public(report: PoolReport, as_of: datetime) -> PoolHealthPublic:
    h = report.health
    return PoolHealthPublic(
        pool_id=report.pool_id,
        pool_name=report.pool_name,
        as_of=as_of,
        size=h.size,
        by_stage=h.by_stage,
        growth=[GrowthPublic(days=g.days, added=g.added, removed=g.removed) for g in h.growth],
        engagement=DistributionPublic(buckets=h.engagement_buckets, median=h.engagement_median),
        freshness=FreshnessPublic(buckets=h.freshness_buckets, median_days=h.freshness_median_days),
        going_cold=GoingColdPublic(
            **_people(h.going_cold),
            cold_after_days=h.rules.cold_after_days,
            engaged_score=h.rules.engaged_score,
        ),
        silver_medallists=PeoplePublic(**_people(h.silver_medallists)),
    )


POOL_COLUMNS = ("pool_id", "figure", "key", "value")
# The engagement buckets' keys in the CSV: Excel opening the file by double-click reads
# `1-9` as 9 January and `10-24` as 24 October, so the CSV spells the ranges out.
CSV_SCORE_BUCKETS = {
    "0": "0",
    "1-9": "1 to 9",
    "10-24": "10 to 24",
    "25-49": "25 to 49",
    "50+": "50 or more",
}


def _pool_rows(pool: PoolHealthPublic) -> Iterator[list[object]]:
    first = pool.pool_id
    yield [first, "pool_name", "", pool.pool_name]
    yield [first, "size", "", pool.size]
    for stage, count in pool.by_stage.items():
        yield [first, "by_stage", stage, count]
    for g in pool.growth:
        yield [first, "growth.added", g.days, g.added]
        yield [first, "growth.removed", g.days, g.removed]
    for label, count in pool.engagement.buckets.items():
        yield [first, "engagement.buckets", CSV_SCORE_BUCKETS.get(label, label), count]
    yield [first, "engagement.median", "", cell(pool.engagement.median)]
    for label, count in pool.freshness.buckets.items():
        yield [first, "freshness.buckets", label, count]
    yield [first, "freshness.median_days", "", cell(pool.freshness.median_days)]
    for name, people in (
        ("going_cold", pool.going_cold),
        ("silver_medallists", pool.silver_medallists),
    ):
        yield [first, f"{name}.count", "", people.count]
        yield [first, f"{name}.candidate_ids", "", cell(people.candidate_ids)]
        yield [first, f"{name}.truncated", "", cell(people.truncated)]


def pool_rows(pools: Sequence[PoolHealthPublic]) -> Iterator[Sequence[object]]:
    """`pool_id,figure,key,value`: each pool's figures, a row each (by stage, growth window and
    bucket in `key`)."""
    yield POOL_COLUMNS
    for pool in pools:
        yield from _pool_rows(pool)


_ROUTE: dict[str, Any] = {
    "dependencies": [require_permission("analytics:read"), Depends(reject_unknown_query_params)],
}


@pool_health_router.get(
    "/pools/health",
    response_model=PoolsHealthPublic,
    responses={**problem_responses(422), **JSON_OR_CSV},
    **_ROUTE,
)
async def every_pool_health(
    principal: CurrentPrincipal,
    container: Container,
    cold_after_days: ColdAfterDays = 60,
    engaged_score: EngagedScore = 10.0,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | PoolsHealthPublic:
    """The health of every talent pool of the tenant analytics was told of (by name): size and
    stages, growth, engagement, freshness, members going cold and silver medallists available.
    `format=csv`: one row per figure of each pool."""
    now = utc_now()
    rules = HealthRules(cold_after_days=cold_after_days, engaged_score=engaged_score)
    reports = await pool_reports(
        container.storage, container.engagement_model, principal.tenant_id, None, rules, now
    )
    pools = [_public(r, now) for r in reports]
    if format is ReportFormat.CSV:
        return csv_file(pool_rows(pools), "pools-health", separator)
    return PoolsHealthPublic(
        as_of=now, cold_after_days=cold_after_days, engaged_score=engaged_score, pools=pools
    )


@pool_health_router.get(
    "/pools/{pool_id}/health",
    response_model=PoolHealthPublic,
    responses={**problem_responses(404, 422), **JSON_OR_CSV},
    **_ROUTE,
)
async def pool_health(
    pool_id: str,
    principal: CurrentPrincipal,
    container: Container,
    cold_after_days: ColdAfterDays = 60,
    engaged_score: EngagedScore = 10.0,
    format: Format = ReportFormat.JSON,
    separator: Separator = CsvSeparator.COMMA,
) -> Response | PoolHealthPublic:
    """A talent pool's health (see `GET /analytics/pools/health`). A pool analytics was told
    of no member of (another tenant's, or one nobody was ever added to) is a 404."""
    now = utc_now()
    rules = HealthRules(cold_after_days=cold_after_days, engaged_score=engaged_score)
    try:
        [report] = await pool_reports(
            container.storage,
            container.engagement_model,
            principal.tenant_id,
            [pool_id],
            rules,
            now,
        )
    except UnknownPool:
        raise ProblemError(
            404,
            f"analytics knows of no pool {pool_id} in this tenant (it learns a pool from its "
            "first member)",
            problem_type="not-found",
        ) from None
    answer = _public(report, now)
    if format is ReportFormat.CSV:
        return csv_file(pool_rows([answer]), f"pool-{pool_id}-health", separator)
    return answer

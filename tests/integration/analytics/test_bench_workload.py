"""The analytics-at-scale benchmark's seeding is what the consumers would leave: three blocks of
the seeded workload folded through the service's own folders, and block 0 folded then cloned
as blocks 1 and 2 (`bench/analytics_workload.py`), hold the same documents in every store, and
answer the same reports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from bench.analytics_workload import (
    TENANT,
    block_events,
    clone_blocks,
    fold,
    store_collections,
)
from crm_analytics.application.funnels import funnel_report
from crm_analytics.application.message_reports import ReportScope, message_report
from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.funnel import FunnelBy
from crm_analytics.repositories import ensure_indexes
from crm_shared import Database, MongoClient
from helpers import unique
from integration.service_storage import service_storage

pytestmark = pytest.mark.integration

CANDIDATES = 120
BLOCKS = 3
END = datetime(2026, 12, 1, tzinfo=UTC)
# Set when the score is computed (the wall clock), not by the events; and a pool's count of
# the transactions that wrote it (a guard of concurrent writes: one per batch).
WALL_CLOCK_FIELDS = frozenset({"_id", "scored_at", "republish_at", "changes"})


@pytest.fixture
async def stores(mongodb_uri: str) -> AsyncIterator[list[tuple[MongoClient, AnalyticsStorage]]]:
    opened = [
        service_storage(
            AnalyticsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("bench_seed")),
            ensure_indexes,
        )
        for _ in range(3)
    ]
    async with opened[0] as folded, opened[1] as template, opened[2] as cloned:
        yield [
            (s.mongo, AnalyticsStorage(database=s.database, outbox=s.outbox))
            for s in (folded, template, cloned)
        ]


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(
            sorted((k, _comparable(v)) for k, v in value.items() if k not in WALL_CLOCK_FIELDS)
        )
    if isinstance(value, list):  # sets grown by `$addToSet`: their order is the batches'
        return tuple(sorted((_comparable(v) for v in value), key=repr))
    if isinstance(value, float):
        # A score decayed to the fold's wall-clock time: compared apart, within a tolerance
        # (rounded, two folds a minute apart can fall either side of a rounding boundary).
        return FLOAT
    return value


FLOAT = "<float>"


def _floats(value: Any) -> list[float]:
    """The document's floats, in the order `_comparable` meets them."""
    if isinstance(value, dict):
        return [
            f for k, v in sorted(value.items()) if k not in WALL_CLOCK_FIELDS for f in _floats(v)
        ]
    if isinstance(value, list):
        return [f for v in sorted(value, key=lambda v: repr(_comparable(v))) for f in _floats(v)]
    return [value] if isinstance(value, float) else []


async def _documents(database: Database, name: str) -> list[Any]:
    found = await database[name].find({}).to_list()
    return sorted(((_comparable(d), _floats(d)) for d in found), key=lambda d: repr(d[0]))


def _same_documents(actual: list[Any], expected: list[Any]) -> bool:
    return [shape for shape, _ in actual] == [shape for shape, _ in expected] and all(
        a == pytest.approx(e, abs=0.011) for (_, a), (_, e) in zip(actual, expected, strict=True)
    )


async def test_cloned_blocks_equal_the_folded_ones(
    stores: list[tuple[MongoClient, AnalyticsStorage]],
) -> None:
    (mongo, folded), (template_mongo, template), (_, cloned) = stores
    for block in range(BLOCKS):
        await fold(mongo, folded, block_events(block, CANDIDATES, END), batch_size=97)
    await fold(template_mongo, template, block_events(0, CANDIDATES, END))
    written = await clone_blocks(template.database, cloned.database, CANDIDATES, BLOCKS)

    names = await store_collections(folded.database)
    assert names == await store_collections(cloned.database)
    # Every store the reports read holds documents, so the comparison compares something.
    for name in (
        "journeys",
        "journey_touches",
        "journey_outcomes",
        "journey_addresses",
        "message_report_days",
        "event_registrants",
        "ats_outcomes",
        "pool_members",
        "engagement_scores",
        "engagement_merged_candidates",
        "daily_counts",
    ):
        assert await folded.database[name].count_documents({}) > 0, name
    total = 0
    for name in names:
        expected = await _documents(folded.database, name)
        assert _same_documents(await _documents(cloned.database, name), expected), name
        total += len(expected)
    assert written == total

    period = (date(2025, 6, 1), date(2025, 8, 31))
    for by in (FunnelBy.NONE, FunnelBy.SOURCE, FunnelBy.POOL):
        assert await funnel_report(cloned, TENANT, *period, by) == await funnel_report(
            folded, TENANT, *period, by
        )
    scope = ReportScope.broadcast("b5~0002")
    broadcast = await message_report(cloned, TENANT, scope, None, None)
    assert broadcast == await message_report(folded, TENANT, scope, None, None)

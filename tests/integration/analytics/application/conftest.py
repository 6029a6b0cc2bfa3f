"""Two analytics storages on fresh databases of the real server: most fold tests fold one
workload two ways (in order, and shuffled with repeats) and compare the reports."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from crm_analytics.application.storage import AnalyticsStorage
from crm_analytics.config import AnalyticsSettings
from crm_analytics.repositories import ensure_indexes
from crm_shared import MongoClient
from helpers import unique
from integration.service_storage import service_storage


@pytest.fixture
async def stores(mongodb_uri: str) -> AsyncIterator[list[tuple[MongoClient, AnalyticsStorage]]]:
    opened = [
        service_storage(
            AnalyticsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("analytics")),
            ensure_indexes,
        )
        for _ in range(2)
    ]
    async with opened[0] as one, opened[1] as other:
        yield [
            (s.mongo, AnalyticsStorage(database=s.database, outbox=s.outbox)) for s in (one, other)
        ]

"""A database of its own for each ats-sync use-case test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.repositories import ensure_indexes
from helpers import unique
from integration.service_storage import service_storage


@pytest.fixture
async def storage(mongodb_uri: str) -> AsyncIterator[AtsStorage]:
    settings = AtsSyncSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("ats"))
    async with service_storage(settings, ensure_indexes) as built:
        yield AtsStorage(mongo=built.mongo, database=built.database, outbox=built.outbox)

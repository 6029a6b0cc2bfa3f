"""A candidates service storage on a fresh database of the real server, for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from crm_candidates.config import CandidatesSettings
from crm_candidates.repositories.indexes import ensure_indexes
from helpers import unique
from integration.service_storage import ServiceStorage, service_storage


@pytest.fixture
async def storage(mongodb_uri: str) -> AsyncIterator[ServiceStorage]:
    settings = CandidatesSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("cands"))
    async with service_storage(settings, ensure_indexes) as built:
        yield built

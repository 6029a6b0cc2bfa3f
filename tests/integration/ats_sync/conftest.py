"""A database of its own for each ats-sync use-case test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.repositories import ensure_indexes
from crm_shared import KeyRing
from helpers import ats_secret_keys, unique
from integration.service_storage import service_storage


@pytest.fixture
def secret_keys() -> str:
    """The `ATS_SECRET_KEYS` the storage seals connections' secrets under."""
    return ats_secret_keys()


@pytest.fixture
async def storage(mongodb_uri: str, secret_keys: str) -> AsyncIterator[AtsStorage]:
    settings = AtsSyncSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("ats"))
    async with service_storage(settings, ensure_indexes) as built:
        yield AtsStorage(
            mongo=built.mongo,
            database=built.database,
            outbox=built.outbox,
            keyring=KeyRing.parse(secret_keys, setting="ATS_SECRET_KEYS"),
        )

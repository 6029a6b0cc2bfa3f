"""`python -m crm_shared.prepare`: the Helm chart's migrations Job runs a service's start-up work
(indexes, migrations) on the real database and exits, without Kafka."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_events.migrations import MIGRATIONS
from crm_shared.prepare import main, prepare
from helpers import unique
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.integration


async def test_prepare_applies_a_services_migrations_and_indexes_once(
    mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = unique("prepare")
    for name, value in {
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": database,
        # Never contacted: the Job starts no Kafka client.
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "INTERNAL_TOKEN_PUBLIC_KEY": INTERNAL_TOKEN_PUBLIC_KEY,
        "LINK_SIGNING_SECRET": "prepare-test-link-signing-secret-0123456789",
        "LOG_JSON": "false",
    }.items():
        monkeypatch.setenv(name, value)
    expected = {migration.version: migration.name for migration in MIGRATIONS}

    assert await prepare("crm_events") == expected
    assert await prepare("crm_events") == expected  # a second run finds nothing left to do

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        indexes = await client[database]["outbox"].index_information()
        assert len(indexes) > 1, "the outbox's indexes were not created"
        assert await client[database]["migrations"].count_documents({}) == len(MIGRATIONS)
    finally:
        await client.close()


def test_prepare_refuses_a_command_line_without_one_package() -> None:
    assert main([]) == 2
    assert main(["crm_events", "crm_campaigns"]) == 2

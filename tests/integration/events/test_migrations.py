"""The events service's start-up migrations: run on the first start against a database, recorded,
never run again by later starts."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_devstack.infra import free_port
from crm_events.config import EventsSettings
from crm_events.main import create_app
from helpers import serving, unique
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.integration


def legacy_event(event_id: str) -> dict[str, Any]:
    """An event as stored before events had a status and a version."""
    return {"_id": event_id, "tenant_id": "acme", "name": "Open house"}


async def test_the_lifecycle_backfill_runs_once_and_is_recorded(
    kafka_bootstrap_servers: str, mongodb_uri: str
) -> None:
    settings = EventsSettings(
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        mongodb_uri=mongodb_uri,
        mongodb_database=unique("events_migrations"),
        kafka_group_prefix=unique("events-migrations"),
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
        link_signing_secret="migration-tests-link-signing-secret-0123456789",
        log_json=False,
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = client[settings.mongodb_database]
    try:
        await database["events"].insert_one(legacy_event("before"))
        await database["registrations"].insert_many(
            [
                {
                    "_id": f"r{index}",
                    "tenant_id": "acme",
                    "event_id": "before",
                    "email": f"p{index}@example.org",
                }
                for index in range(3)
            ]
        )
        async with serving(create_app(settings), free_port()):
            pass
        migrated = await database["events"].find_one({"_id": "before"})
        assert migrated is not None
        assert (migrated["status"], migrated["version"]) == ("published", 1)
        assert (migrated["format"], migrated["time_zone"], migrated["organisers"]) == (
            "in_person",
            "UTC",
            [],
        )
        recorded = await database["migrations"].find({}).to_list()
        assert [(entry["_id"], entry["name"]) for entry in recorded] == [
            (1, "events-lifecycle"),
            (2, "events-formats-and-time-zones"),
            (3, "registrations-door-codes"),
            (4, "events-reminders"),
        ]
        # Defaults without a start to count from: no reminder is ever due.
        assert (migrated["reminders"], migrated["next_reminder_at"]) == ([1440, 60], None)
        # Registrations stored before door codes got one each, all different.
        codes = {r["code"] for r in await database["registrations"].find({}).to_list()}
        assert len(codes) == 3
        assert all(len(code) == 8 for code in codes)

        # A later start finds version 1 recorded and does not run it again.
        await database["events"].insert_one(legacy_event("after"))
        async with serving(create_app(settings), free_port()):
            pass
        untouched = await database["events"].find_one({"_id": "after"})
        assert untouched is not None
        assert "status" not in untouched
    finally:
        await client.drop_database(settings.mongodb_database)
        await client.close()

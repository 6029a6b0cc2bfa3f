"""An upgraded installation: candidates stored before campaigns kept custom fields reach
campaigns' recipients with their values through migration 10 and Kafka, and a change made
since is not undone. (Its own module: it runs the candidates migration again.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_candidates.migrations import CUSTOM_FIELD_VALUES_BACKFILLED, migrations
from crm_shared import (
    Database,
    MongoClient,
    Outbox,
    create_mongo_client,
    run_migrations,
)
from crm_shared.migrations import MIGRATION_PROGRESS_COLLECTION, MIGRATIONS_COLLECTION
from helpers import eventually, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def databases(stack: Stack) -> AsyncIterator[tuple[MongoClient, Database, Database]]:
    """The candidates service's client and database, and the campaigns service's database."""
    client: MongoClient = create_mongo_client(stack.settings["candidates"])
    yield (
        client,
        client[stack.candidates_database],
        client[stack.settings["campaigns"].mongodb_database],
    )
    await client.close()


async def test_values_stored_before_reach_campaigns_and_a_newer_change_stays(
    stack: Stack, databases: tuple[MongoClient, Database, Database]
) -> None:
    mongo, candidates_db, campaigns_db = databases
    field = {"key": "preferred_stack", "label": "Preferred stack", "type": "string"}
    defined = await stack.gateway.post(
        "/api/v1/custom-fields", json=field, headers=stack.as_(ACME_ADMIN_TOKEN)
    )
    assert defined.status_code == 201, defined.text
    auth = stack.as_(ACME_TOKEN)
    ids: dict[str, str] = {}
    for name, stack_name in (("kept", "Rust"), ("changed", "Go")):
        tag = unique(name)
        created = await stack.gateway.post(
            "/api/v1/candidates",
            json={
                "first_name": "Cus",
                "last_name": tag,
                "emails": [f"{tag}@example.org"],
                "custom_fields": {"preferred_stack": stack_name},
            },
            headers=auth,
        )
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
    recipients = campaigns_db["recipients"]

    async def projected(candidate_id: str, values: dict[str, Any] | None) -> bool:
        recipient = await recipients.find_one(
            {"tenant_id": stack.acme, "candidate_id": candidate_id}
        )
        return recipient is not None and recipient.get("custom_fields") == values

    await eventually(lambda: projected(ids["kept"], {"preferred_stack": "Rust"}))
    await eventually(lambda: projected(ids["changed"], {"preferred_stack": "Go"}))
    # What campaigns stored before it kept custom fields, and the upgrade's pending migration.
    await recipients.update_many(
        {"tenant_id": stack.acme, "candidate_id": {"$in": list(ids.values())}},
        {"$unset": {"custom_fields": ""}},
    )
    await candidates_db[MIGRATIONS_COLLECTION].delete_one({"_id": CUSTOM_FIELD_VALUES_BACKFILLED})
    await candidates_db[MIGRATION_PROGRESS_COLLECTION].delete_one(
        {"_id": CUSTOM_FIELD_VALUES_BACKFILLED}
    )
    declared = [
        m
        for m in migrations(mongo, Outbox(candidates_db, "candidates"))
        if m.version == CUSTOM_FIELD_VALUES_BACKFILLED
    ]
    assert await run_migrations(candidates_db, declared) == [CUSTOM_FIELD_VALUES_BACKFILLED]
    assert await run_migrations(candidates_db, declared) == []
    # Changed after the migration read it: whichever event campaigns consumes first, the
    # change stays.
    changed = await stack.gateway.patch(
        f"/api/v1/candidates/{ids['changed']}",
        json={"custom_fields": {"preferred_stack": "Elixir"}},
        headers=auth,
    )
    assert changed.status_code == 200, changed.text

    await eventually(lambda: projected(ids["kept"], {"preferred_stack": "Rust"}), timeout=60)
    await eventually(lambda: projected(ids["changed"], {"preferred_stack": "Elixir"}), timeout=60)
    # The backfill's event of the changed candidate was consumed too, and undid nothing.
    [record] = (
        await candidates_db["outbox"]
        .find({"topic": "candidate.custom_fields_backfilled", "key": ids["changed"]})
        .to_list()
    )
    marker = f"on_candidate_custom_fields_backfilled:{record['event_id']}"

    async def consumed() -> bool:
        return await campaigns_db["processed_events"].find_one({"_id": marker}) is not None

    await eventually(consumed, timeout=60, message="the backfill event was not consumed")
    assert await projected(ids["changed"], {"preferred_stack": "Elixir"})

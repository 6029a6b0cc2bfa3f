"""Migration 10 sends the custom field values of candidates stored before campaigns kept them
(`candidate.custom_fields_backfilled`), once per database, resuming where a stopped run left
off; migration 9 announces the custom fields defined before their topic, once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crm_candidates.application.custom_field_values import backfill_custom_field_values
from crm_candidates.domain.custom_fields import CustomFieldDefinition, CustomFieldType
from crm_candidates.migrations import (
    CUSTOM_FIELD_VALUES_BACKFILLED,
    CUSTOM_FIELDS_ANNOUNCED,
    migrations,
)
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION, CUSTOM_FIELDS_COLLECTION
from crm_shared import (
    CANDIDATE_CUSTOM_FIELDS_BACKFILLED,
    CUSTOM_FIELD_CHANGED,
    Database,
    EventEnvelope,
    Migration,
    Outbox,
    Session,
    applied_migrations,
    run_migrations,
    to_document,
)
from helpers import unique
from integration.service_storage import ServiceStorage

pytestmark = pytest.mark.integration


def only(version: int, declared: list[Migration]) -> list[Migration]:
    return [migration for migration in declared if migration.version == version]


async def staged(storage: ServiceStorage, topic: str) -> list[dict[str, Any]]:
    records = await storage.database["outbox"].find({}).sort("_id", 1).to_list()
    envelopes = [json.loads(record["value"]) for record in records]
    return [e for e in envelopes if e["type"] == topic]


def stored_before(tenant: str, candidate_id: str, **fields: Any) -> dict[str, Any]:
    """A candidate document as stored before the migration (what matters of it here)."""
    return {
        "_id": candidate_id,
        "tenant_id": tenant,
        "first_name": "Ada",
        "last_name": candidate_id,
        "status": "active",
        "custom_fields": {},
        **fields,
    }


async def test_active_candidates_holding_values_are_sent_once(storage: ServiceStorage) -> None:
    acme, globex = unique("acme"), unique("globex")
    values = {"notice_weeks": 4, "open_to_remote": False, "languages": ["de", "en"]}
    await storage.database[CANDIDATES_COLLECTION].insert_many(
        [
            stored_before(acme, "c1", custom_fields=values),
            stored_before(globex, "c2", custom_fields={"level": "Senior", "notes": ""}),
            # Nothing a merge field would print: no event.
            stored_before(acme, "c3", custom_fields={"notes": "", "languages": [], "x": None}),
            stored_before(acme, "c4"),
            {k: v for k, v in stored_before(acme, "c5").items() if k != "custom_fields"},
            # No marketing mail goes to archived or merged records.
            stored_before(acme, "c6", status="archived", custom_fields=values),
            stored_before(acme, "c7", status="merged", custom_fields=values),
            # Stored before statuses existed: a live person.
            {
                k: v
                for k, v in stored_before(globex, "c8", custom_fields={"level": "Junior"}).items()
                if k != "status"
            },
        ]
    )
    declared = only(CUSTOM_FIELD_VALUES_BACKFILLED, migrations(storage.mongo, storage.outbox))

    assert await run_migrations(storage.database, declared) == [CUSTOM_FIELD_VALUES_BACKFILLED]
    # A later start (another replica, the next deploy) finds it applied and sends nothing.
    assert await run_migrations(storage.database, declared) == []

    events = await staged(storage, CANDIDATE_CUSTOM_FIELDS_BACKFILLED.name)
    assert [(e["tenant_id"], e["subject"], e["data"]) for e in events] == [
        (acme, "c1", {"candidate_id": "c1", "custom_fields": values}),
        (
            globex,
            "c2",
            {"candidate_id": "c2", "custom_fields": {"level": "Senior", "notes": ""}},
        ),
        (globex, "c8", {"candidate_id": "c8", "custom_fields": {"level": "Junior"}}),
    ]
    assert (await applied_migrations(storage.database))[CUSTOM_FIELD_VALUES_BACKFILLED] == (
        "custom-field-values-backfilled"
    )


class FailingOnce(Outbox):
    """An outbox whose second batch fails: the process stopping part-way through the walk."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, "candidates")
        self.batches = 0

    async def add_many(
        self,
        envelopes: list[EventEnvelope[Any]],
        *,
        session: Session,
        trace_contexts: list[dict[str, str]] | None = None,
    ) -> None:
        self.batches += 1
        if self.batches == 2:
            raise RuntimeError("stopped part-way")
        await super().add_many(envelopes, session=session, trace_contexts=trace_contexts)


async def test_a_run_stopped_part_way_resumes_without_sending_twice(
    storage: ServiceStorage,
) -> None:
    tenant = unique("acme")
    ids = [f"c{index:02d}" for index in range(7)]
    await storage.database[CANDIDATES_COLLECTION].insert_many(
        [stored_before(tenant, candidate_id, custom_fields={"n": 1}) for candidate_id in ids]
    )

    async def backfill(outbox: Outbox) -> int:
        return await backfill_custom_field_values(
            storage.mongo, storage.database, outbox, version=CUSTOM_FIELD_VALUES_BACKFILLED, batch=3
        )

    with pytest.raises(RuntimeError, match="stopped part-way"):
        await backfill(FailingOnce(storage.database))
    topic = CANDIDATE_CUSTOM_FIELDS_BACKFILLED.name
    assert [e["subject"] for e in await staged(storage, topic)] == ids[:3]

    assert await backfill(storage.outbox) == 4
    assert [e["subject"] for e in await staged(storage, topic)] == ids


async def test_fields_defined_before_their_topic_are_announced_by_a_migration_once(
    storage: ServiceStorage,
) -> None:
    tenant = unique("globex")
    older = CustomFieldDefinition(
        tenant_id=tenant, key="notice", label="Notice", type=CustomFieldType.STRING,
        created_by="gia",
    )  # fmt: skip
    # As stored before the topic: no `announced` mark.
    await storage.database[CUSTOM_FIELDS_COLLECTION].insert_one(to_document(older))
    declared = only(CUSTOM_FIELDS_ANNOUNCED, migrations(storage.mongo, storage.outbox))

    assert await run_migrations(storage.database, declared) == [CUSTOM_FIELDS_ANNOUNCED]
    assert await run_migrations(storage.database, declared) == []

    [event] = await staged(storage, CUSTOM_FIELD_CHANGED.name)
    assert (event["tenant_id"], event["data"]["key"], event["data"]["deleted"]) == (
        tenant,
        "notice",
        False,
    )

"""A custom field's definition, edit, deletion and restoration each stage
`profile.custom_field_changed` with the field's whole definition in the transaction that stores
it; fields defined before the topic existed are announced once (migration 9)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crm_candidates.application.profile_settings import (
    ProfileConfiguration,
    announce_custom_fields,
)
from crm_candidates.application.skills import SkillRenormalisations
from crm_candidates.domain.custom_fields import CustomFieldDefinition, CustomFieldType
from crm_candidates.repositories.collections import CUSTOM_FIELDS_COLLECTION
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.skill_renormalisations import SkillRenormalisationRepository
from crm_shared import CUSTOM_FIELD_CHANGED, to_document, utc_now
from helpers import unique
from integration.service_storage import ServiceStorage

pytestmark = pytest.mark.integration


def configuration(storage: ServiceStorage, tenant: str) -> ProfileConfiguration:
    database = storage.database
    return ProfileConfiguration(
        storage.mongo,
        storage.outbox,
        ProfileRulesRepository(database, tenant),
        SegmentRepository(database, tenant),
        SkillRenormalisationRepository(database, tenant),
        SkillRenormalisations(storage.mongo, database, storage.outbox),
    )


async def announced(storage: ServiceStorage) -> list[dict[str, Any]]:
    records = await storage.database["outbox"].find({}).sort("_id", 1).to_list()
    envelopes = [json.loads(record["value"]) for record in records]
    assert all(envelope["type"] == CUSTOM_FIELD_CHANGED.name for envelope in envelopes)
    return [envelope["data"] | {"tenant_id": envelope["tenant_id"]} for envelope in envelopes]


async def test_each_change_of_a_field_is_announced_with_its_definition(
    storage: ServiceStorage,
) -> None:
    tenant = unique("acme")
    settings = configuration(storage, tenant)
    stack = CustomFieldDefinition(
        tenant_id=tenant, key="preferred_stack", label="Stack", type="enum",
        allowed_values=["Go"], created_by="ada",
    )  # fmt: skip
    await settings.add_custom_field(stack)
    widened = stack.model_copy(
        update={"label": "Preferred stack", "allowed_values": ["Go", "Rust"]}
    )
    await settings.replace_custom_field(widened)
    deleted = widened.model_copy(update={"archived_at": utc_now()})
    await settings.replace_custom_field(deleted)

    events = await announced(storage)
    assert [(e["label"], e["allowed_values"], e["deleted"]) for e in events] == [
        ("Stack", ["Go"], False),
        ("Preferred stack", ["Go", "Rust"], False),
        ("Preferred stack", ["Go", "Rust"], True),
    ]
    assert {(e["tenant_id"], e["key"], e["type"]) for e in events} == {
        (tenant, "preferred_stack", "enum")
    }
    assert events[0]["changed_at"] < events[1]["changed_at"] < events[2]["changed_at"]


async def test_fields_defined_before_the_topic_are_announced_once(storage: ServiceStorage) -> None:
    tenant = unique("globex")
    older = CustomFieldDefinition(
        tenant_id=tenant, key="notice", label="Notice", type=CustomFieldType.STRING,
        created_by="gia",
    )  # fmt: skip
    # As stored before the topic: no `announced` mark.
    await storage.database[CUSTOM_FIELDS_COLLECTION].insert_one(to_document(older))

    await announce_custom_fields(storage.mongo, storage.database, storage.outbox)
    await announce_custom_fields(storage.mongo, storage.database, storage.outbox)

    [event] = await announced(storage)
    assert (event["tenant_id"], event["key"], event["label"], event["deleted"]) == (
        tenant,
        "notice",
        "Notice",
        False,
    )

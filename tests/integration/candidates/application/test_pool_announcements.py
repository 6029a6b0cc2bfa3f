"""`pool.saved` against SecantusDB: every change of a pool's definition (create, change, a stage
renamed or deleted) announces the pool as stored, in the change's transaction, and the
migration announces the pools stored before the topic existed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crm_candidates.application.candidates import CandidateWriter
from crm_candidates.application.pools import PoolCommands, PoolDefinitions, announce_pools
from crm_candidates.domain.pools import Pool
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.collections import POOLS_COLLECTION
from crm_candidates.repositories.pools import PoolRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.sequence_references import SequenceReferenceRepository
from crm_shared import POOL_SAVED, to_document
from helpers import unique
from integration.service_storage import ServiceStorage

pytestmark = pytest.mark.integration


async def announced(storage: ServiceStorage) -> list[dict[str, Any]]:
    records = await storage.database["outbox"].find({"topic": POOL_SAVED.name}).to_list()
    records.sort(key=lambda record: str(record["_id"]))
    envelopes = [json.loads(record["value"]) for record in records]
    return [envelope["data"] | {"tenant_id": envelope["tenant_id"]} for envelope in envelopes]


def pool_use_cases(storage: ServiceStorage, tenant: str) -> tuple[PoolDefinitions, PoolCommands]:
    database = storage.database
    pools = PoolRepository(database, tenant)
    candidates = CandidateRepository(database, tenant)
    segments = SegmentRepository(database, tenant)
    writer = CandidateWriter(storage.mongo, storage.outbox, candidates, segments)
    sequences = SequenceReferenceRepository(database, tenant)
    return (
        PoolDefinitions(storage.mongo, storage.outbox, pools, candidates, segments, sequences),
        PoolCommands(storage.mongo, storage.outbox, pools, writer, sequences),
    )


async def test_each_change_of_a_pool_announces_it_as_stored(storage: ServiceStorage) -> None:
    tenant = unique("acme")
    definitions, commands = pool_use_cases(storage, tenant)
    pool = Pool(
        tenant_id=tenant,
        name="Ingeniería",
        stages=["Sourced", "Contacted"],
        owner_ids=["rita"],
        created_by="rita",
    )
    await definitions.create(pool)
    await definitions.replace(pool.model_copy(update={"stages": ["Sourced", "Contacted", "Ofer"]}))
    extended = await definitions.get(pool.id)
    assert extended is not None
    await commands.rename_stage(extended, "Ofer", "Offer", extended.version, by="rita")
    renamed = await definitions.get(pool.id)
    assert renamed is not None
    await commands.delete_stage(renamed, "Contacted", None, by="rita")

    definitions_announced = [
        (e["pool_id"], e["name"], e["stages"], e["version"]) for e in await announced(storage)
    ]
    assert definitions_announced == [
        (pool.id, "Ingeniería", ["Sourced", "Contacted"], 1),
        (pool.id, "Ingeniería", ["Sourced", "Contacted", "Ofer"], 2),
        (pool.id, "Ingeniería", ["Sourced", "Contacted", "Offer"], 3),
        (pool.id, "Ingeniería", ["Sourced", "Offer"], 4),
    ]  # fmt: skip


async def test_the_migration_announces_every_pool_stored_before_the_topic(
    storage: ServiceStorage,
) -> None:
    first, second = unique("acme"), unique("globex")
    stored = [
        Pool(tenant_id=tenant, name=name, stages=stages, owner_ids=[], created_by="x", version=3)
        for tenant, name, stages in (
            (first, "Backend", ["New", "Screen"]),
            (first, "Frontend", ["New"]),
            (second, "Sales", ["Lead", "Won"]),
        )
    ]
    # As stored before the topic: nothing in the outbox.
    await storage.database[POOLS_COLLECTION].insert_many([to_document(p) for p in stored])

    await announce_pools(storage.mongo, storage.database, storage.outbox)

    assert sorted(
        (e["tenant_id"], e["pool_id"], e["name"], e["stages"], e["version"])
        for e in await announced(storage)
    ) == sorted((p.tenant_id, p.id, p.name, p.stages, 3) for p in stored)

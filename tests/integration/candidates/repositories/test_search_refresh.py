"""Migrations 4-7 and 12 write every stored record's search tokens, place words and block keys
again with today's folding: records stored before it are found by `lukasz`, `oconnor`,
`gudmundsdottir`, `mueller`, `Oezil` by `özil`, and Montréal by `montreal`."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from crm_candidates.config import CandidatesSettings
from crm_candidates.domain.identity import query_spellings, query_tokens, search_tokens
from crm_candidates.migrations import migrations
from crm_candidates.repositories.candidates import refresh_search_fields, seed_token
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION
from crm_shared import Database, Outbox, create_mongo_client
from helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[Database]:
    settings = CandidatesSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("folding"))
    mongo = create_mongo_client(settings)
    yield mongo[settings.mongodb_database]
    await mongo.close()


async def test_records_stored_with_the_old_folding_are_found_as_typed(database: Database) -> None:
    people = [
        ("t1", "Łukasz", "Łukasiewicz"),
        ("t1", "Siobhán", "O'Connor"),
        ("t2", "Þóra", "Guðmundsdóttir"),
    ]
    # What the old folding stored: no tokens for the letters it dropped.
    await database[CANDIDATES_COLLECTION].insert_many(
        [
            {
                "_id": f"c{index}",
                "tenant_id": tenant,
                "first_name": first,
                "last_name": last,
                "skills": ["python"],
                "search_tokens": ["ukasz", "python"],
                "block_keys": [],
            }
            for index, (tenant, first, last) in enumerate(people)
        ]
    )
    await refresh_search_fields(database, batch=2)
    stored = {
        document["_id"]: document
        for document in await database[CANDIDATES_COLLECTION].find().to_list()
    }
    for candidate_id, query in (
        ("c0", "lukasz lukasiewicz"),
        ("c1", "oconnor siobhan"),
        ("c1", "o connor"),
        ("c2", "thora gudmundsdottir"),
    ):
        assert set(query_tokens(query)) <= set(stored[candidate_id]["search_tokens"]), query
    assert "python" in stored["c2"]["search_tokens"]
    assert stored["c0"]["block_keys"]
    # Each record keeps its tenant.
    assert [stored[f"c{n}"]["tenant_id"] for n in range(3)] == ["t1", "t1", "t2"]


async def test_every_record_is_refreshed_once_walking_ids_in_windows(database: Database) -> None:
    rng = random.Random(2)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    ids = sorted(
        f"{int((start + timedelta(days=rng.uniform(0, 600))).timestamp()):08x}"
        f"{rng.getrandbits(64):016x}"
        for _ in range(40)
    )
    await database[CANDIDATES_COLLECTION].insert_many(
        [
            {
                "_id": candidate_id,
                "tenant_id": f"t{index % 3}",
                "first_name": "Jörg",
                "last_name": f"Müller{index}",
                "search_tokens": [],
                "block_keys": [],
            }
            for index, candidate_id in enumerate(ids)
        ]
    )
    await refresh_search_fields(database, batch=4)
    stored = await database[CANDIDATES_COLLECTION].find().sort("_id", 1).to_list()
    assert [document["_id"] for document in stored] == ids
    for index, document in enumerate(stored):
        assert {"joerg", "jorg", f"mueller{index}", f"muller{index}"} <= set(
            document["search_tokens"]
        )


async def test_migration_7_gives_records_the_key_a_word_typed_with_an_umlaut_walks(
    database: Database,
) -> None:
    declared = migrations(database.client, Outbox(database, "candidates"))
    [migration] = [m for m in declared if m.version == 7]
    # What migration 6 stored: both spellings, no umlaut keys.
    stored_before = [t for t in search_tokens(["Oezil", "Ada"]) if not t.startswith("~")]
    await database[CANDIDATES_COLLECTION].insert_one(
        {
            "_id": "c1",
            "tenant_id": "t1",
            "first_name": "Ada",
            "last_name": "Oezil",
            "search_tokens": stored_before,
            "block_keys": [],
        }
    )
    seed = seed_token(query_tokens("özil"), query_spellings("özil"))
    assert seed not in stored_before
    await migration.apply(database)
    stored = await database[CANDIDATES_COLLECTION].find_one({"_id": "c1"})
    assert stored is not None
    assert seed in stored["search_tokens"]
    assert set(stored_before) <= set(stored["search_tokens"])


async def test_migration_12_gives_records_the_words_of_their_place(database: Database) -> None:
    declared = migrations(database.client, Outbox(database, "candidates"))
    [migration] = [m for m in declared if m.version == 12]
    assert migration.name == "candidates-location-words"
    await database[CANDIDATES_COLLECTION].insert_many(
        [
            # Stored before the filter matched words: no `location_words`.
            {"_id": "c1", "tenant_id": "t1", "last_name": "Côté", "location": "Montréal, QC"},
            {"_id": "c2", "tenant_id": "t2", "last_name": "Nobody"},
        ]
    )
    await migration.apply(database)
    stored = {
        document["_id"]: document
        for document in await database[CANDIDATES_COLLECTION].find().to_list()
    }
    assert stored["c1"]["location_words"] == ["montreal", "qc"]
    assert stored["c2"]["location_words"] == []
    assert set(query_tokens("cote")) <= set(stored["c1"]["search_tokens"])

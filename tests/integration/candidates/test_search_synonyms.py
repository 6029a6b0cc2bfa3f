"""Keyword search knows the tenant's skill vocabulary (issue 17): a word that spells a skill
(`js`, `golang`) also finds the records holding its canonical skill, on a real database, page
by page in every sort order, with the tenant's own vocabulary only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_candidates.application.candidates import CandidateQueries
from crm_candidates.domain.identity import query_spellings, query_tokens
from crm_candidates.domain.models import Candidate
from crm_candidates.domain.profile import SkillVocabulary
from crm_candidates.domain.search import SearchQuery, query_synonyms
from crm_candidates.repositories import candidates as candidates_repository
from crm_candidates.repositories.candidates import (
    SORT_FIELDS,
    CandidateRepository,
    new_candidate_document,
)
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION
from crm_candidates.repositories.indexes import ensure_indexes
from crm_candidates.repositories.pools import PoolRepository
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.timeline import TimelineRepository
from crm_shared import Database
from crm_shared.windows import KeyEnds
from helpers import unique

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SORTS = ("created_at", "-created_at", "updated_at", "-updated_at", "name")
# name -> (title, company, skills), stored as the service stores them (canonical skills).
PEOPLE: dict[str, tuple[str | None, str | None, list[str]]] = {
    "Skill": (None, None, ["javascript"]),
    "Typed": ("JS Developer", None, []),
    "Both": ("JS Lead", None, ["javascript", "css"]),
    "Berliner": (None, "Berlin Labs", ["javascript"]),
    "Berlinplain": (None, "Berlin Labs", ["python"]),
    "Googler": ("Engineer", "Google", []),
    "Gopher": (None, None, ["go"]),
    "Kube": (None, None, ["kubernetes"]),
    # Holds the token `javascript` (a beginning), not the word: read, then left out.
    "Scripter": ("Javascripter", None, []),
}


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        database = client[unique("synonyms")]
        await ensure_indexes(database)
        yield database
    finally:
        await client.close()


def document(tenant_id: str, name: str, number: int, **fields: Any) -> dict[str, Any]:
    title, company, skills = PEOPLE.get(name, (None, None, []))
    candidate = Candidate(
        tenant_id=tenant_id,
        first_name="Sam",
        last_name=name,
        emails=[f"{name.lower()}{number}@example.org"],
        current_title=title,
        current_company=company,
        skills=skills,
        created_by="test",
        **fields,
    )
    return new_candidate_document(candidate)


async def store_people(database: Database, tenant_id: str) -> None:
    await database[CANDIDATES_COLLECTION].insert_many(
        [document(tenant_id, name, number) for number, name in enumerate(PEOPLE)]
    )


def queries(database: Database, tenant_id: str) -> CandidateQueries:
    return CandidateQueries(
        CandidateRepository(database, tenant_id, key_ends=KeyEnds()),
        ProfileRulesRepository(database, tenant_id),
        TimelineRepository(database, tenant_id),
        PoolRepository(database, tenant_id),
    )


async def search_pages(
    candidates: CandidateQueries, text: str, *, sort: str = "created_at", limit: int = 50
) -> list[Candidate]:
    """Every page of `GET /candidates?q=text`, built as the route builds it, following the
    cursor (a page of `limit` plus one, as the route asks)."""
    vocabulary = await candidates.skill_vocabulary()
    tokens = query_tokens(text)
    field = SORT_FIELDS[sort.removeprefix("-")]
    found: list[Candidate] = []
    after: tuple[Any, str] | None = None
    while True:
        search = SearchQuery(
            tokens=tokens,
            spellings=query_spellings(text),
            synonyms=query_synonyms(tokens, vocabulary),
            tags=[],
            skills=[],
            source=None,
            owner_id=None,
            sort=sort,
            after=after,
            limit=limit + 1,
        )
        page = await candidates.search(search)
        found.extend(page[:limit])
        if len(page) <= limit:
            return found
        last = page[limit - 1].model_dump()
        after = (None if field == "_id" else last[field], last["id"])


async def names(candidates: CandidateQueries, text: str) -> set[str]:
    found = await search_pages(candidates, text)
    assert len(found) == len({c.id for c in found}), "a record twice"
    return {c.last_name for c in found}


async def test_a_synonym_finds_the_canonical_skill_and_combines_with_other_words(
    database: Database,
) -> None:
    tenant = unique("tenant")
    await store_people(database, tenant)
    await ProfileRulesRepository(database, tenant).set_vocabulary(
        SkillVocabulary.build([("JavaScript", ["JS", "ECMAScript"]), ("Go", ["golang"])])
    )
    acme = queries(database, tenant)

    # The typed word as before (`JS` in a title), or the canonical skill; `Both` once.
    assert await names(acme, "js") == {"Skill", "Typed", "Both", "Berliner"}
    assert await names(acme, "JS") == {"Skill", "Typed", "Both", "Berliner"}
    assert await names(acme, "ECMAScript") == {"Skill", "Both", "Berliner"}
    # With another word: both must match (the other word is walked, the synonym checked).
    assert await names(acme, "js berlin") == {"Berliner"}
    assert await names(acme, "berlin js") == {"Berliner"}
    assert await names(acme, "js lead") == {"Both"}
    # The canonical skill as a whole word: `golang` is the skill go, not Google.
    assert await names(acme, "golang") == {"Gopher"}
    # Unknown to this vocabulary: as typed.
    assert await names(acme, "k8s") == set()


async def test_a_synonym_search_pages_through_every_sort_order(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches, so each token's walk stops short of its matches and the merge of the
    # walks (`js` and `javascript`) is cut where the shorter one ends, page after page.
    monkeypatch.setattr(candidates_repository, "SEARCH_BATCH", 2)
    tenant = unique("tenant")
    rows = []
    for number in range(30):
        name = ["Skill", "Scripter", "Typed", "Scripter", "Both", "Scripter"][number % 6]
        # Names and update times with ties, so pages break ties by id.
        rows.append(
            document(
                tenant,
                name,
                number,
                updated_at=NOW - timedelta(hours=number % 5),
            )
        )
    await database[CANDIDATES_COLLECTION].insert_many(rows)
    await ProfileRulesRepository(database, tenant).set_vocabulary(
        SkillVocabulary.build([("JavaScript", ["JS"])])
    )
    acme = queries(database, tenant)
    matching = [row for row in rows if row["last_name"] != "Scripter"]
    for sort in SORTS:
        field = SORT_FIELDS[sort.removeprefix("-")]
        expected = sorted(
            matching,
            key=lambda row: (row[field], row["_id"]),
            reverse=sort.startswith("-"),
        )
        for limit in (1, 2, 5):
            found = await search_pages(acme, "js", sort=sort, limit=limit)
            assert [c.id for c in found] == [row["_id"] for row in expected], (sort, limit)


async def test_each_tenant_searches_with_its_own_vocabulary_or_none(database: Database) -> None:
    with_js, with_k8s, without = unique("js"), unique("k8s"), unique("none")
    for tenant in (with_js, with_k8s, without):
        await store_people(database, tenant)
    await ProfileRulesRepository(database, with_js).set_vocabulary(
        SkillVocabulary.build([("JavaScript", ["JS"])])
    )
    await ProfileRulesRepository(database, with_k8s).set_vocabulary(
        SkillVocabulary.build([("Kubernetes", ["k8s"])])
    )

    assert await names(queries(database, with_js), "js") == {"Skill", "Typed", "Both", "Berliner"}
    assert await names(queries(database, with_js), "k8s") == set()
    # Another tenant's vocabulary is not applied; without one, a word matches as typed.
    assert await names(queries(database, with_k8s), "js") == {"Typed", "Both"}
    assert await names(queries(database, with_k8s), "k8s") == {"Kube"}
    assert await names(queries(database, without), "js") == {"Typed", "Both"}
    assert await names(queries(database, without), "k8s") == set()

    # A new vocabulary version applies to the next search (each version indexed once).
    await ProfileRulesRepository(database, with_js).set_vocabulary(
        SkillVocabulary.build([("JavaScript", ["JS"]), ("Kubernetes", ["k8s"])])
    )
    assert await names(queries(database, with_js), "k8s") == {"Kube"}

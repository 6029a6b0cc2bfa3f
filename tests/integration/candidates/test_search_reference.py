"""The candidate search on SecantusDB returns exactly what a plain reference implementation
finds in the same records: every page in order, for keywords (accents, German umlauts typed or
spelt out, prefixes, short words, synonyms of the skill vocabulary), every filter and their
combinations, records with fields missing, and each sort order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_candidates.domain.identity import (
    place_query_words,
    place_words,
    query_spellings,
    query_tokens,
)
from crm_candidates.domain.models import Candidate, PoolPlacement
from crm_candidates.domain.profile import SkillVocabulary
from crm_candidates.domain.search import SearchQuery, query_synonyms
from crm_candidates.domain.segments import facet_value
from crm_candidates.repositories.candidates import (
    SORT_FIELDS,
    CandidateRepository,
    new_candidate_document,
)
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION
from crm_candidates.repositories.indexes import ensure_indexes
from crm_shared.text import umlauts_spelt_out
from crm_shared.windows import KeyEnds
from helpers import unique

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, tzinfo=UTC)
FIRST = ["Zoë", "Zoe", "Jörg", "Joerg", "Jo", "Ada", "René", "Renée", "A"]
LAST = [
    "Müller",
    "Muller",
    "Mueller",
    "Lovelace",
    "Ørsted",
    "Łukasz",
    "Smith-Jones",
    "Muñoz",
    "Lo",
    "Gosling",
    "Özil",
    "Oezil",
    "Ozil",
]
TITLES = ["Senior Python Developer", "Data Engineer", "Ingénieure logiciel", None, ""]
COMPANIES = ["Zalando", "SAP", "Société Générale", None]
SKILLS = ["python", "go", "c++", "c#", "rust"]
TAGS = ["alumni", "relocation", "remote-only"]
SOURCES = ["sourced", "referral", "event"]
LOCATIONS = ["Berlin", " berlin ", "München", "Muenchen", "Berlin, Germany", None]
WORDS = [
    "zoe",
    "zoë",
    "mull",
    "müller",
    "mueller",
    "mü",
    "jörg",
    "joerg",
    "özil",
    "oez",
    "öz",
    "jo",
    "j",
    "a",
    "lo",
    "ren",
    "renee",
    "python",
    "dev",
    "engineer",
    "ingenieure",
    "zalando",
    "societe",
    "smith",
    "jones",
    "c++",
    "orsted",
    "lukasz",
    "munoz",
    "xyz",
    "sap",
    # Synonyms of `SYNONYMS`: `golang` finds the skill go (not Gosling), `cpp` c++.
    "golang",
    "cpp",
    "py3",
    "rustlang",
]
# The tenant's skill vocabulary (canonical: synonyms), as the skills above are stored.
SYNONYMS = {"go": ["golang"], "c++": ["cpp"], "python": ["py3"], "rust": ["rustlang"]}
VOCABULARY = SkillVocabulary.build(SYNONYMS.items())


def random_candidate(rng: random.Random, tenant_id: str, number: int) -> dict[str, Any]:
    candidate = Candidate(
        tenant_id=tenant_id,
        first_name=rng.choice(FIRST),
        last_name=rng.choice(LAST),
        emails=[f"person{number}@example.org"],
        current_title=rng.choice(TITLES),
        current_company=rng.choice(COMPANIES),
        location=rng.choice(LOCATIONS),
        skills=rng.sample(SKILLS, rng.randint(0, 3)),
        # Tags as people type them: a search for `relocation` finds `Relocation` too.
        tags=[
            rng.choice([tag, tag.title(), tag.upper()])
            for tag in rng.sample(TAGS, rng.randint(0, 2))
        ],
        source=rng.choice(SOURCES),
        owner_id=rng.choice(["rita", "sam", None]),
        marketing_consent=rng.random() < 0.5,
        engagement_score=rng.choice([0.0, 2.5, 10.0, 40.0]),
        pools=[
            PoolPlacement(pool_id=pool, stage=rng.choice(["New", "Screen"]))
            for pool in rng.sample(["p1", "p2"], rng.randint(0, 2))
        ],
        created_by="test",
        # Ties in the sort value, so the cursor's tie-break by id is exercised, and times
        # far apart, so a page spans several windows (`crm_shared.windows`).
        updated_at=NOW
        - rng.choice([timedelta(hours=rng.randint(0, 20)), timedelta(days=rng.uniform(0, 700))]),
        status=rng.choice(["active"] * 5 + ["archived", "merged"]),
    )
    document = new_candidate_document(candidate)
    # Ids as a tenant gathers them: spread over two years, and an import's burst.
    if rng.random() < 0.5:
        created = NOW - timedelta(days=rng.uniform(0, 700))
        document["_id"] = f"{int(created.timestamp()):08x}{rng.getrandbits(64):016x}"
    document["segment_ids"] = rng.sample(["s1", "s2"], rng.randint(0, 2))
    # Records written before a field existed lack it: no consent, a score of 0.
    for field in ("marketing_consent", "engagement_score", "tags", "facets"):
        if rng.random() < 0.1:
            del document[field]
    if "tags" not in document and "facets" in document:
        # Written before tags existed: no tags facet either.
        document["facets"].pop("tags", None)
    return document


def reference_matches(document: dict[str, Any], search: SearchQuery) -> bool:
    """What a search means, computed from the record's own fields (not its stored tokens)."""
    if document.get("status") != "active":
        return False
    texts = [
        document.get(field) or ""
        for field in ("first_name", "last_name", "current_title", "current_company")
    ]
    # A record's words as written, and with German umlauts spelt out (`Müller`: `mueller`).
    words = {
        word
        for text in [*texts, *document.get("skills", [])]
        for word in query_tokens(text) + query_tokens(umlauts_spelt_out(text))
    }
    for token in search.tokens:
        # A word typed with an umlaut matches either spelling (`müller`: Muller, Mueller).
        spellings = {token, search.spellings.get(token, token)}
        if any(
            word == spelling or (len(spelling) > 1 and word.startswith(spelling))
            for word in words
            for spelling in spellings
        ):
            continue
        # A synonym matches the words of its canonical skill, whole (`golang`: go, not Gosling).
        canonicals = [c for c, synonyms in SYNONYMS.items() if token in (c, *synonyms)]
        if not any(set(query_tokens(canonical)) <= words for canonical in canonicals):
            return False
    placed = [(entry["pool_id"], entry["stage"]) for entry in document.get("pools", [])]
    return (
        # Tags as segments match them, ignoring case and spacing (their facet: a record of
        # none has none).
        set(search.tags) <= {facet_value(tag) for tag in document.get("tags", [])}
        and (not search.tags or "facets" in document)
        and set(search.skills) <= set(document.get("skills", []))
        and (search.source is None or document.get("source") == search.source)
        and (search.owner_id is None or document.get("owner_id") == search.owner_id)
        # Every word of the place asked for is a word of the record's place (accents and
        # case ignored, an umlaut also spelt out).
        and set(search.location) <= set(place_words(document.get("location")))
        and (
            search.pool_id is None
            or any(
                pool == search.pool_id and search.stage in (None, stage) for pool, stage in placed
            )
        )
        and (search.segment_id is None or search.segment_id in document.get("segment_ids", []))
        and (
            search.marketing_consent is None
            or document.get("marketing_consent", False) is search.marketing_consent
        )
        and (
            search.min_engagement is None
            or document.get("engagement_score", 0.0) >= search.min_engagement
        )
    )


def random_search(rng: random.Random) -> SearchQuery:
    text = " ".join(rng.sample(WORDS, rng.choice([0, 1, 1, 2, 3])))
    pool_id = rng.choice([None, None, "p1"])
    return SearchQuery(
        tokens=query_tokens(text),
        spellings=query_spellings(text),
        synonyms=query_synonyms(query_tokens(text), VOCABULARY),
        tags=rng.sample(TAGS, rng.choice([0, 0, 1, 2])),
        skills=rng.sample(SKILLS, rng.choice([0, 0, 1])),
        source=rng.choice([None, None, *SOURCES]),
        owner_id=rng.choice([None, None, "rita"]),
        sort=rng.choice([*SORT_FIELDS, "-created_at", "-updated_at"]),
        after=None,
        limit=7,
        location=place_query_words(rng.choice(["", "", "berlin", "München", "germany berlin"])),
        pool_id=pool_id,
        stage=rng.choice([None, "Screen"]) if pool_id else None,
        segment_id=rng.choice([None, None, "s1"]),
        marketing_consent=rng.choice([None, None, True, False]),
        min_engagement=rng.choice([None, None, 0.0, 2.5, 10.0]),
    )


async def every_page(repository: CandidateRepository, search: SearchQuery) -> list[str]:
    """The ids of every page, following the cursor as the API does."""
    found: list[str] = []
    after = None
    sort_field = SORT_FIELDS[search.sort.removeprefix("-")]
    for _ in range(200):
        page = await repository.search(SearchQuery(**{**search.__dict__, "after": after}))
        found.extend(candidate.id for candidate in page)
        if len(page) < search.limit:
            return found
        last = page[-1].model_dump()
        value = {"_id": None, "updated_at": last["updated_at"], "last_name": last["last_name"]}
        after = (value[sort_field], last["id"])
    raise AssertionError("the pages never ended")


async def test_the_search_finds_what_the_reference_finds(mongodb_uri: str) -> None:
    rng = random.Random(19)
    tenant_id = unique("search")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        database = client[unique("candidates")]
        await ensure_indexes(database)
        documents = [random_candidate(rng, tenant_id, number) for number in range(300)]
        await database[CANDIDATES_COLLECTION].insert_many(documents)
        # Another tenant's identical records must never show.
        await database[CANDIDATES_COLLECTION].insert_many(
            [
                {**document, "_id": f"x{document['_id']}", "tenant_id": "other"}
                for document in documents
            ]
        )
        repository = CandidateRepository(database, tenant_id, key_ends=KeyEnds())
        checked = synonyms = 0
        for _ in range(100):
            search = random_search(rng)
            sort_field = SORT_FIELDS[search.sort.removeprefix("-")]
            expected = sorted(
                (d for d in documents if reference_matches(d, search)),
                key=lambda d: (d.get(sort_field), d["_id"]),
                reverse=search.sort.startswith("-"),
            )
            found = await every_page(repository, search)
            assert found == [d["_id"] for d in expected], search
            checked += bool(expected)
            synonyms += bool(expected and search.synonyms)
        assert checked >= 25  # most searches find someone: the comparison means something
        assert synonyms >= 3
    finally:
        await client.close()


async def test_a_german_umlaut_finds_both_spellings_either_way(mongodb_uri: str) -> None:
    tenant_id = unique("umlauts")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        database = client[unique("candidates")]
        await ensure_indexes(database)
        names = ["Müller", "Mueller", "Muller", "Miller", "Özil", "Oezil", "Ozil", "Olsen"]
        await database[CANDIDATES_COLLECTION].insert_many(
            [
                new_candidate_document(
                    Candidate(
                        tenant_id=tenant_id,
                        first_name="Jo",
                        last_name=name,
                        emails=[f"{index}@example.org"],
                        created_by="test",
                    )
                )
                for index, name in enumerate(names)
            ]
        )
        repository = CandidateRepository(database, tenant_id, key_ends=KeyEnds())

        async def found(text: str) -> list[str]:
            search = SearchQuery(
                tokens=query_tokens(text),
                spellings=query_spellings(text),
                tags=[],
                skills=[],
                source=None,
                owner_id=None,
                sort="name",
                after=None,
                limit=2,  # several pages: the words are checked beyond the walked token
            )
            return sorted(c.last_name or "" for c in await all_candidates(repository, search))

        assert await found("Müller") == ["Mueller", "Muller", "Müller"]
        assert await found("mü") == ["Mueller", "Muller", "Müller"]
        assert await found("Mueller") == ["Mueller", "Müller"]
        assert await found("jo müller") == ["Mueller", "Muller", "Müller"]
        assert await found("Özil") == ["Oezil", "Ozil", "Özil"]
        assert await found("öz") == ["Oezil", "Ozil", "Özil"]
        assert await found("Oezil") == ["Oezil", "Özil"]
        assert await found("Muller müller") == ["Muller", "Müller"]  # typed plain once
    finally:
        await client.close()


async def all_candidates(repository: CandidateRepository, search: SearchQuery) -> list[Candidate]:
    """Every candidate of every page, following the cursor as the API does."""
    found: list[Candidate] = []
    after = None
    while True:
        page = await repository.search(SearchQuery(**{**search.__dict__, "after": after}))
        found.extend(page)
        if len(page) < search.limit:
            return found
        after = (page[-1].last_name, page[-1].id)

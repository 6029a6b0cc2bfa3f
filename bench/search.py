"""Candidate list and search at the repository level: p50/p95 of one page (50) per query shape,
over a tenant of N candidates, on whatever MongoDB-wire server `--mongodb-uri` names.

    uv run python -m bench.search --mongodb-uri URI --candidates 100000 --seed
    uv run python -m bench.search --mongodb-uri URI --repeat 20

`--seed` (re)fills the `crm_candidates_search_bench` database with N workload candidates stored
exactly as the service stores them (derived search tokens and facets included) and creates the
service's indexes; without it the database seeded before is measured. Each shape is asked
`--repeat` times one after the other (no concurrency: the time of one page, not a rate).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pymongo import AsyncMongoClient

from crm_candidates.domain.identity import query_tokens
from crm_candidates.domain.models import Candidate
from crm_candidates.domain.profile import SkillVocabulary
from crm_candidates.domain.search import SearchQuery, query_synonyms
from crm_candidates.repositories.candidates import (
    CandidateRepository,
    SortOrder,
    new_candidate_document,
    search_filter,
    seed_tokens,
)
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION
from crm_candidates.repositories.indexes import ensure_indexes
from crm_devstack.workload import Workload
from crm_shared import utc_now
from crm_shared.windows import KeyEnds

DATABASE = "crm_candidates_search_bench"
TENANT = "acme"
PAGE = 50
# The tenant's skill vocabulary the searches are asked with (`k8s` also finds `kubernetes`).
VOCABULARY = SkillVocabulary.build([("kubernetes", ["k8s"]), ("pytorch", ["torch"])])
BATCH = 5000


async def seed(client: AsyncMongoClient[dict[str, Any]], name: str, count: int) -> None:
    """`count` workload candidates of one tenant, stored as the service stores them."""
    await client.drop_database(name)
    database = client[name]
    await ensure_indexes(database)
    rng = random.Random(3)
    now = utc_now()
    batch: list[dict[str, Any]] = []
    for profile in Workload().candidates(count):
        profile.pop("time_zone", None)
        candidate = Candidate(
            tenant_id=TENANT,
            created_by="bench",
            **profile,
            engagement_score=round(rng.random() * 100, 1),
            updated_at=now - timedelta(seconds=rng.randint(0, 10**7)),
        )
        batch.append(new_candidate_document(candidate))
        if len(batch) == BATCH:
            await database[CANDIDATES_COLLECTION].insert_many(batch)
            batch = []
    if batch:
        await database[CANDIDATES_COLLECTION].insert_many(batch)


def shapes() -> dict[str, dict[str, Any]]:
    """The pages measured: what the console's list and search-as-you-type ask."""
    return {
        "list, created order, first page": {},
        "list, newest first, first page": {"sort": "-created_at"},
        "list, newest first, page 1,000": {"sort": "-created_at", "skip": 50_000},
        "list, recently updated first": {"sort": "-updated_at"},
        "list, name order, first page": {"sort": "name"},
        "list, name order, page 1,000": {"sort": "name", "skip": 50_000},
        "list + source filter": {"source": "event"},
        "list + source filter, newest first": {"source": "event", "sort": "-created_at"},
        "search 'senior' (about 1 in 4)": {"q": "senior"},
        "search 'senior', newest first": {"q": "senior", "sort": "-created_at"},
        "search 'senior', page 2": {"q": "senior", "skip": 50},
        "search 'senior', page 200": {"q": "senior", "skip": 10_000},
        "search 'senior', newest first, page 200": {
            "q": "senior",
            "sort": "-created_at",
            "skip": 10_000,
        },
        "search 'zalando' (about 1 in 25)": {"q": "zalando"},
        "search prefix 'zal'": {"q": "zal"},
        "search 'senior python'": {"q": "senior python"},
        "search 'senior' + source filter": {"q": "senior", "source": "event"},
        "search 'senior', name order": {"q": "senior", "sort": "name"},
        "search 'kubernetes' (about 1 in 4)": {"q": "kubernetes"},
        "search 'k8s' (its synonym)": {"q": "k8s"},
        "search 'k8s', page 20": {"q": "k8s", "skip": 1_000},
        "search 'kubernetes', page 20": {"q": "kubernetes", "skip": 1_000},
        "search 'k8s', newest first": {"q": "k8s", "sort": "-created_at"},
        "search 'k8s senior'": {"q": "k8s senior"},
        "search 'torch' (synonym of pytorch)": {"q": "torch"},
    }


def search_of(shape: dict[str, Any], after: tuple[Any, str] | None = None) -> SearchQuery:
    tokens = query_tokens(shape.get("q", ""))
    return SearchQuery(
        tokens=tokens,
        synonyms=query_synonyms(tokens, VOCABULARY),
        tags=[],
        skills=[],
        source=shape.get("source"),
        owner_id=None,
        sort=shape.get("sort", "created_at"),
        after=after,
        limit=PAGE + 1,
    )


async def cursor_at(
    client: AsyncMongoClient[dict[str, Any]], name: str, shape: dict[str, Any]
) -> tuple[Any, str] | None:
    """The cursor of the page `shape["skip"]` records in (found once, not measured)."""
    if not shape.get("skip"):
        return None
    order = SortOrder.of(shape.get("sort", "created_at"))
    if search_of(shape).synonyms:  # walked per seed token and merged: page there
        repository = CandidateRepository(client[name], TENANT)
        skipped = await repository.search(replace(search_of(shape), limit=shape["skip"]))
        last = skipped[-1].model_dump()
        return (None if order.field == "_id" else last[order.field], last["id"])
    query = {"tenant_id": TENANT, **search_filter(search_of(shape))}
    cursor = client[name][CANDIDATES_COLLECTION].find(query, {order.field: 1})
    [document] = await cursor.sort(order.spec).skip(shape["skip"]).limit(1).to_list()
    return (document.get(order.field), document["_id"])


def percentiles(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


async def measure(
    client: AsyncMongoClient[dict[str, Any]], name: str, repeat: int, only: str = ""
) -> None:
    """Each shape's page through the repository, and the same page as one bare `find` (the
    raw server's cost of the query the repository would ask without windows)."""
    repository = CandidateRepository(client[name], TENANT, key_ends=KeyEnds())
    candidates = client[name][CANDIDATES_COLLECTION]
    total = await candidates.estimated_document_count()
    print(f"{total:,} candidates; one page of {PAGE}, {repeat} times each, sequential")
    for label, shape in shapes().items():
        if only and not any(part in label for part in only.split(",")):
            continue
        search = search_of(shape, await cursor_at(client, name, shape))
        order = SortOrder.of(search.sort)
        bare_query = {"tenant_id": TENANT, **search_filter(search)}
        if search.synonyms:  # the one query the repository does not ask (`_merged_batch`)
            bare_query["search_tokens"] = {"$in": seed_tokens(search)}
        if search.after is not None:
            bare_query[order.field] = order.beyond(search.after[0])
        await repository.search(search)  # a first page's end is found once per process
        times: list[float] = []
        bare_times: list[float] = []
        found = 0
        for _ in range(repeat):
            started = time.perf_counter()
            found = len(await repository.search(search))
            times.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await candidates.find(bare_query).sort(order.spec).limit(search.limit).to_list()
            bare_times.append((time.perf_counter() - started) * 1000)
        p50, p95 = percentiles(times)
        bare_p50, bare_p95 = percentiles(bare_times)
        print(
            f"{label:40s} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms   one bare find: "
            f"p50 {bare_p50:8.1f} ms  p95 {bare_p95:8.1f} ms  ({found} found)",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mongodb-uri", required=True)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument(
        "--only",
        default="",
        help="measure only the shapes naming one of these comma-separated texts",
    )
    arguments = parser.parse_args()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        arguments.mongodb_uri, tz_aware=True
    )
    try:
        if arguments.seed:
            started = time.perf_counter()
            await seed(client, arguments.database, arguments.candidates)
            print(f"seeded {arguments.candidates:,} in {time.perf_counter() - started:.0f} s")
        await measure(client, arguments.database, arguments.repeat, arguments.only)
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())

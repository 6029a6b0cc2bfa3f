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
from datetime import timedelta
from typing import Any

from pymongo import AsyncMongoClient

from crm_candidates.domain.identity import query_tokens
from crm_candidates.domain.models import Candidate
from crm_candidates.domain.search import SearchQuery
from crm_candidates.repositories.candidates import (
    SORT_FIELDS,
    CandidateRepository,
    new_candidate_document,
)
from crm_candidates.repositories.collections import CANDIDATES_COLLECTION
from crm_candidates.repositories.indexes import ensure_indexes
from crm_devstack.workload import Workload
from crm_shared import utc_now

DATABASE = "crm_candidates_search_bench"
TENANT = "acme"
PAGE = 50
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
        "list, name order, first page": {"sort": "name"},
        "list + source filter": {"source": "event"},
        "search 'senior' (about 1 in 4)": {"q": "senior"},
        "search 'zalando' (about 1 in 25)": {"q": "zalando"},
        "search prefix 'zal'": {"q": "zal"},
        "search 'senior python'": {"q": "senior python"},
        "search 'senior' + source filter": {"q": "senior", "source": "event"},
        "search 'senior', name order": {"q": "senior", "sort": "name"},
    }


def search_of(shape: dict[str, Any]) -> SearchQuery:
    return SearchQuery(
        tokens=query_tokens(shape.get("q", "")),
        tags=[],
        skills=[],
        source=shape.get("source"),
        owner_id=None,
        sort=shape.get("sort", "created_at"),
        after=None,
        limit=PAGE + 1,
    )


async def measure(client: AsyncMongoClient[dict[str, Any]], name: str, repeat: int) -> None:
    repository = CandidateRepository(client[name], TENANT)
    total = await client[name][CANDIDATES_COLLECTION].estimated_document_count()
    print(f"{total:,} candidates; one page of {PAGE}, {repeat} times each, sequential")
    for name, shape in shapes().items():
        search = search_of(shape)
        times: list[float] = []
        found = 0
        for _ in range(repeat):
            started = time.perf_counter()
            found = len(await repository.search(search))
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(
            f"{name:40s} p50 {statistics.median(times):9.1f} ms  p95 {p95:9.1f} ms  "
            f"({found} found, sort {SORT_FIELDS[search.sort]})",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mongodb-uri", required=True)
    parser.add_argument("--candidates", type=int, default=100_000)
    parser.add_argument("--seed", action="store_true")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", default=DATABASE)
    arguments = parser.parse_args()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        arguments.mongodb_uri, tz_aware=True
    )
    try:
        if arguments.seed:
            started = time.perf_counter()
            await seed(client, arguments.database, arguments.candidates)
            print(f"seeded {arguments.candidates:,} in {time.perf_counter() - started:.0f} s")
        await measure(client, arguments.database, arguments.repeat)
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())

"""Member pages read in windows of the candidate id, on SecantusDB: every page holds exactly what
one `candidate_id > after` read returns, whatever the origin, with ids spread over two years and
a dense burst (an import), other pools' members interleaved and ids that are no ObjectIds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import ASCENDING, AsyncMongoClient

from crm_shared import TenantScopedCollection
from crm_shared.windows import page_in_id_windows
from helpers import unique

pytestmark = pytest.mark.integration

START = datetime(2024, 12, 1, tzinfo=UTC)


def ids_spread_over_two_years(count: int, rng: random.Random) -> list[str]:
    moments = [START + timedelta(seconds=rng.uniform(0, 2 * 365 * 86400)) for _ in range(count)]
    return [
        str(ObjectId.from_datetime(moment))[:8] + f"{rng.getrandbits(64):016x}"
        for moment in moments
    ]


def burst(count: int) -> list[str]:
    first = ObjectId.from_datetime(START + timedelta(days=400))
    base = int(str(first), 16) + 0x1234
    return [f"{base + n:024x}" for n in range(count)]


async def test_every_page_equals_one_read_whatever_the_origin(mongodb_uri: str) -> None:
    rng = random.Random(7)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    collection = client[unique("windows")]["pool_memberships"]
    await collection.create_index(
        [("tenant_id", ASCENDING), ("pool_id", ASCENDING), ("candidate_id", ASCENDING)]
    )
    members = TenantScopedCollection(collection, "acme")
    mine = sorted({*ids_spread_over_two_years(120, rng), *burst(150)})
    others = ids_spread_over_two_years(100, rng)
    await members.insert_many(
        [{"pool_id": "pool-1", "candidate_id": candidate_id} for candidate_id in mine]
        + [{"pool_id": "pool-2", "candidate_id": candidate_id} for candidate_id in others]
    )
    await TenantScopedCollection(collection, "globex").insert_many(
        [{"pool_id": "pool-1", "candidate_id": candidate_id} for candidate_id in burst(50)]
    )
    base = {"pool_id": "pool-1"}
    least = mine[0]
    origins = [None, least, "000000000000000000000000", mine[200], "ffffffffffffffffffffffff"]

    for origin in origins:
        for limit in (17, 100, 1000):
            walked: list[str] = []
            after: str | None = None
            while True:
                page = await page_in_id_windows(
                    members, base, "candidate_id", after=after, origin=origin, limit=limit
                )
                one_read = await members.find(
                    {**base, **({"candidate_id": {"$gt": after}} if after else {})},
                    sort=[("candidate_id", ASCENDING)],
                    limit=limit,
                )
                assert [d["candidate_id"] for d in page] == [d["candidate_id"] for d in one_read], (
                    origin,
                    limit,
                    after,
                )
                walked.extend(d["candidate_id"] for d in page)
                if len(page) < limit:
                    break
                after = walked[-1]
            assert walked == mine, (origin, limit)

    # Ids that are no ObjectIds' hex are read in one query, in the same order.
    await members.insert_many(
        [{"pool_id": "pool-3", "candidate_id": name} for name in ("c1", "c2", "c10", "ZZ")]
    )
    page = await page_in_id_windows(
        members, {"pool_id": "pool-3"}, "candidate_id", after="c1", origin=least, limit=10
    )
    assert [d["candidate_id"] for d in page] == ["c10", "c2"]
    await client.drop_database(collection.database.name)
    await client.close()

"""A tenant-scoped collection cannot read or write another tenant's documents."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_shared import TenantMismatchError, TenantScopedCollection
from crm_shared.repository import IN_SLICE, WHOLE_READ
from helpers import unique

pytestmark = pytest.mark.integration


async def test_every_operation_is_confined_to_the_tenant(mongodb_uri: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    collection = client[unique("scope")]["things"]
    acme = TenantScopedCollection(collection, "acme")
    globex = TenantScopedCollection(collection, "globex")
    await acme.insert_one({"_id": "a1", "name": "shared name"})
    await globex.insert_one({"_id": "g1", "name": "shared name"})

    assert [d["_id"] for d in await acme.find({"name": "shared name"})] == ["a1"]
    assert await acme.find_one({"_id": "g1"}) is None
    assert await acme.count({}) == 1
    assert (await acme.update_one({"_id": "g1"}, {"$set": {"name": "hijacked"}})).matched_count == 0
    assert (await acme.delete_one({"_id": "g1"})).deleted_count == 0
    await acme.update_one({"name": "new"}, {"$set": {"seen": True}}, upsert=True)
    assert await globex.count({}) == 1
    upserted = await acme.find_one({"name": "new"})
    assert upserted is not None
    assert upserted["tenant_id"] == "acme"

    with pytest.raises(TenantMismatchError):
        await acme.find({"tenant_id": "globex"})
    with pytest.raises(TenantMismatchError):
        await acme.insert_one({"_id": "x", "tenant_id": "globex"})
    with pytest.raises(ValueError, match="needs a tenant"):
        TenantScopedCollection(collection, "")
    await client.close()


async def test_find_in_asks_in_slices_and_finds_every_match_of_the_tenant(
    mongodb_uri: str,
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    collection = client[unique("scope")]["things"]
    acme = TenantScopedCollection(collection, "acme")
    globex = TenantScopedCollection(collection, "globex")
    count = 2 * IN_SLICE + 7
    await acme.insert_many(
        [{"_id": f"a{n}", "n": n, "kind": "even" if n % 2 == 0 else "odd"} for n in range(count)]
    )
    await globex.insert_many([{"_id": f"g{n}", "n": n, "kind": "even"} for n in range(count)])

    asked = [*range(count), *range(10)]  # repeated values are asked once
    found = await acme.find_in("n", asked, {"kind": "even"}, projection={"_id": 1})

    assert sorted(d["_id"] for d in found) == sorted(f"a{n}" for n in range(0, count, 2))
    assert await acme.find_in("n", []) == []
    await client.close()


async def test_find_among_reads_a_small_collection_whole_and_a_large_one_in_slices(
    mongodb_uri: str,
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    collection = client[unique("scope")]["things"]
    acme = TenantScopedCollection(collection, "acme")
    globex = TenantScopedCollection(collection, "globex")
    held = 2 * WHOLE_READ * IN_SLICE  # documents of the tenant
    await acme.insert_many(
        [
            {"_id": f"a{n}", "k": f"k{n}", "kind": "even" if n % 2 == 0 else "odd"}
            for n in range(held)
        ]
    )
    await globex.insert_many([{"_id": f"g{n}", "k": f"k{n}", "kind": "even"} for n in range(held)])
    reads: list[str] = []
    find = collection.find

    def counted_find(*args: Any, **kwargs: Any) -> Any:
        reads.append(str(args[0]))
        return find(*args, **kwargs)

    collection.find = counted_find  # type: ignore[method-assign]

    # At least 1/WHOLE_READ as many values as the tenant holds: one count, one read of them
    # all, picked here.
    many = [f"k{n}" for n in range(0, 3 * held // WHOLE_READ, 3)] + ["k0"]
    assert len(set(many)) > IN_SLICE
    assert WHOLE_READ * len(set(many)) >= held
    found = await acme.find_among("k", many, {"kind": "even"}, projection={"_id": 1, "k": 1})
    want = sorted(f"a{n}" for n in range(0, held, 3) if n % 2 == 0)
    assert sorted(d["_id"] for d in found) == want
    assert len(reads) == 1
    # Fewer (but more than a slice): sliced `$in`, as `find_in`.
    reads.clear()
    fewer = [f"k{n}" for n in range(IN_SLICE + 10)]
    found = await acme.find_among("k", fewer, projection={"_id": 1, "k": 1})
    assert sorted(d["_id"] for d in found) == sorted(f"a{n}" for n in range(IN_SLICE + 10))
    assert len(reads) == 2
    # One slice: one query, no count.
    assert [d["_id"] for d in await acme.find_among("k", ["k7", "nobody"])] == ["a7"]
    assert await acme.find_among("k", []) == []
    await client.close()


async def test_in_batches_walks_every_match_of_the_tenant_once_from_one_cursor(
    mongodb_uri: str,
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    collection = client[unique("scope")]["things"]
    acme = TenantScopedCollection(collection, "acme")
    await acme.insert_many([{"_id": f"a{n:03d}", "n": n} for n in range(23)])
    await TenantScopedCollection(collection, "globex").insert_many(
        [{"_id": f"g{n:03d}", "n": n} for n in range(23)]
    )
    batches = [
        [document["_id"] for document in batch]
        async for batch in acme.in_batches(
            {"n": {"$gte": 3}}, batch=5, sort=[("_id", 1)], projection={"_id": 1}
        )
    ]
    assert [len(batch) for batch in batches] == [5, 5, 5, 5]
    assert [i for batch in batches for i in batch] == [f"a{n:03d}" for n in range(3, 23)]
    assert [batch async for batch in acme.in_batches({"n": -1}, batch=5)] == []
    await client.close()

"""Leases and migrations on the real database: one holder at a time, each migration once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_shared import (
    LEASE_RELEASED,
    Database,
    Migration,
    MigrationHistoryError,
    NamedLease,
    TenantScopedCollection,
    applied_migrations,
    claim_next,
    release_lease,
    renew_lease,
    run_migrations,
)
from helpers import unique

pytestmark = pytest.mark.integration

MINUTE = timedelta(minutes=1)


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    yield client[unique("leases")]
    await client.close()


async def test_a_due_record_is_claimed_by_one_worker_until_its_lease_ends(
    database: Database,
) -> None:
    jobs = database["jobs"]
    await jobs.insert_many(
        [
            {"_id": "j1", "tenant_id": "globex", "due": True, "rank": 2, **LEASE_RELEASED},
            {"_id": "j2", "tenant_id": "globex", "due": False},
        ]
    )
    claims = await asyncio.gather(
        *(
            claim_next(jobs, {"due": True}, owner=f"w{n}", lease=MINUTE, sort=[("rank", 1)])
            for n in range(4)
        )
    )
    won = [claim for claim in claims if claim is not None]
    assert [claim["_id"] for claim in won] == ["j1"]
    owner = won[0]["lease_owner"]
    assert await renew_lease(jobs, {"_id": "j1"}, owner=owner, lease=MINUTE)
    # A tenant's view of the collection renews only that tenant's records.
    assert not await renew_lease(
        TenantScopedCollection(jobs, "acme"), {"_id": "j1"}, owner=owner, lease=MINUTE
    )
    assert not await renew_lease(jobs, {"_id": "j1"}, owner="someone else", lease=MINUTE)
    assert not await release_lease(jobs, {"_id": "j1"}, owner="someone else")
    assert await release_lease(jobs, {"_id": "j1"}, owner=owner, also_set={"rank": 3})
    again = await claim_next(
        jobs, {"due": True}, owner="w9", lease=-MINUTE, sort=[("rank", 1)], also_set={"seen": 1}
    )
    assert again is not None
    assert (again["lease_owner"], again["rank"], again["seen"]) == ("w9", 3, 1)
    # The lease of w9 is already over (a negative lease): as if w9 had died.
    taken_over = await claim_next(jobs, {"due": True}, owner="w10", lease=MINUTE, sort=[])
    assert taken_over is not None
    assert taken_over["lease_owner"] == "w10"


async def test_a_named_lease_has_one_holder_and_passes_on_when_released(
    database: Database,
) -> None:
    leases = [NamedLease(database, "nightly", owner=f"r{n}", lease=MINUTE) for n in range(4)]
    held = await asyncio.gather(*(lease.claim() for lease in leases))
    assert held.count(True) == 1
    holder = leases[held.index(True)]
    other = leases[(held.index(True) + 1) % 4]
    assert await holder.claim()  # claiming again is renewing
    assert await holder.renew()
    assert not await other.renew()
    assert not await other.claim()
    await holder.release()
    assert await other.claim()
    assert not await holder.renew()


async def test_an_expired_named_lease_is_taken_over(database: Database) -> None:
    dead = NamedLease(database, "nightly", owner="dead", lease=-MINUTE)
    assert await dead.claim()
    assert await NamedLease(database, "nightly", owner="alive", lease=MINUTE).claim()


async def test_migrations_run_once_in_order_however_many_replicas_start_at_once(
    database: Database,
) -> None:
    applied_by: list[str] = []

    def step(name: str) -> Migration:
        async def apply(database: Database) -> None:
            applied_by.append(name)
            await asyncio.sleep(0.05)  # long enough for the other replicas to try meanwhile
            await database["things"].update_many(
                {name: {"$exists": False}}, {"$set": {name: len(applied_by)}}
            )

        return Migration(len(name), name, apply)

    await database["things"].insert_many([{"_id": n} for n in range(3)])
    migrations = [step("bb"), step("a"), step("ccc")]
    results = await asyncio.gather(
        *(run_migrations(database, migrations, poll_seconds=0.01) for _ in range(3))
    )
    assert sorted(results, key=len) == [[], [], [1, 2, 3]]
    assert applied_by == ["a", "bb", "ccc"]
    assert await applied_migrations(database) == {1: "a", 2: "bb", 3: "ccc"}
    record = await database["migrations"].find_one({"_id": 2})
    assert record is not None
    assert record["applied_at"] is not None
    assert await database["things"].count_documents({"a": 1, "bb": 2, "ccc": 3}) == 3

    # A later start applies only what is new.
    assert await run_migrations(database, [*migrations, step("dddd")]) == [4]
    assert applied_by == ["a", "bb", "ccc", "dddd"]


async def test_a_migration_that_fails_is_not_recorded_and_runs_again(database: Database) -> None:
    attempts: list[int] = []

    async def flaky(database: Database) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("the database went away")

    migrations = [Migration(1, "flaky", flaky)]
    with pytest.raises(RuntimeError, match="went away"):
        await run_migrations(database, migrations)
    assert await applied_migrations(database) == {}
    # The failed run gave the lease back: the next start need not wait for it to expire.
    assert await run_migrations(database, migrations, lease=MINUTE) == [1]
    assert len(attempts) == 2


async def test_a_migration_longer_than_the_lease_keeps_it_and_runs_once(
    database: Database,
) -> None:
    runs: list[str] = []

    async def backfill(database: Database) -> None:
        runs.append("started")
        await asyncio.sleep(1.5)  # five times the lease below: renewed meanwhile
        runs.append("finished")

    migrations = [Migration(1, "slow backfill", backfill)]
    lease = timedelta(seconds=0.3)
    first = asyncio.ensure_future(run_migrations(database, migrations, lease=lease))
    await asyncio.sleep(0.6)  # past the first lease: a replica starting now must wait
    second = await run_migrations(database, migrations, lease=lease, poll_seconds=0.05)
    assert await first == [1]
    assert second == []
    assert runs == ["started", "finished"]


async def test_a_migration_that_loses_its_lease_is_stopped(database: Database) -> None:
    stopped: list[str] = []

    async def backfill(database: Database) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            stopped.append("cancelled")
            raise

    lease = timedelta(seconds=0.3)
    running = asyncio.ensure_future(
        run_migrations(database, [Migration(1, "slow backfill", backfill)], lease=lease)
    )
    await asyncio.sleep(0.2)
    # Another owner takes the lease (as after a stall longer than the lease).
    await database["leases"].update_one({"_id": "migrations"}, {"$set": {"lease_owner": "other"}})
    with pytest.raises(MigrationHistoryError, match="lost the migrations lease"):
        await asyncio.wait_for(running, timeout=10)
    assert stopped == ["cancelled"]
    assert await applied_migrations(database) == {}


async def test_a_renamed_or_renumbered_migration_is_refused(database: Database) -> None:
    async def nothing(database: Database) -> None:
        return None

    await run_migrations(database, [Migration(1, "versions", nothing)])
    with pytest.raises(MigrationHistoryError, match="recorded as 'versions'"):
        await run_migrations(database, [Migration(1, "lifecycle", nothing)])

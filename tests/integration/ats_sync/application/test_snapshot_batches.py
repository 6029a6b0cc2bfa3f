"""Snapshots applied in batches against SecantusDB: a page with new, changed, unchanged, stale,
repeated and unstorable applications has the outcomes, events and stored state of applying
its snapshots one by one; applying it again changes nothing; and a batch costs the database a
fixed number of commands whatever its size, one transaction per batch in the sync runner."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from ats_fake import FakeAts
from pymongo import AsyncMongoClient

from crm_ats_sync.application.snapshots import (
    SnapshotOutcome,
    SnapshotResult,
    apply_snapshot,
    apply_snapshots,
)
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.application.sync import SyncPolicy, SyncRunner, start_backfill
from crm_ats_sync.domain.changes import ApplicationSnapshot, ApplicationStatus
from crm_ats_sync.domain.models import Connection, Provider
from crm_shared import CandidateProfile, Outbox, Session, utc_now
from helpers import Commands
from integration.ats_sync.support import connected, staged

pytestmark = pytest.mark.integration

START = utc_now() - timedelta(days=100)


def at(days: int) -> Any:
    return START + timedelta(days=days)


def before_and_page() -> tuple[list[ApplicationSnapshot], list[ApplicationSnapshot]]:
    """What is stored before (applied one by one), and a page read afterwards."""
    ats = FakeAts()
    stored = [
        ats.add("same", email="same@example.org", stage="Onsite", at=at(1)),
        ats.add("moved", email="moved@example.org", stage="Phone Screen", at=at(1)),
        ats.add("closed", email="closed@example.org", stage="Phone Screen", at=at(1)),
        ats.add("newer", email="newer@example.org", stage="Phone Screen", at=at(1)),
        ats.add("twice", email="twice@example.org", stage="Phone Screen", at=at(1)),
        # Stored unmatched; the directory knows the person by now.
        ats.add("matched-later", email="Grace@Example.org", stage="Phone Screen", at=at(1)),
    ]
    newer = ats.change("newer", at=at(9), stage="Offer")
    stored.append(newer)
    stale = ApplicationSnapshot(**{**newer.__dict__, "stage": "Onsite", "changed_at": at(5)})
    page = [
        ats.add("new", email="new@example.org", stage="Application Review", at=at(2)),
        ats.add(
            "new-rejected",
            email="nr@example.org",
            stage="Onsite",
            at=at(2),
            status=ApplicationStatus.REJECTED,
            rejection_reason="Not a fit",
        ),
        # Known to the directory by their second address.
        ApplicationSnapshot(
            **{
                **ats.add(
                    "new-hired",
                    email="x@example.org",
                    stage="Offer",
                    at=at(3),
                    status=ApplicationStatus.HIRED,
                ).__dict__,
                "emails": ["nobody@example.org", "ADA@example.org"],
            }
        ),
        stored[0],
        ats.change("moved", at=at(4), stage="Onsite"),
        ats.change(
            "closed",
            at=at(4),
            stage="Offer",
            status=ApplicationStatus.REJECTED,
            rejection_reason="Withdrew",
        ),
        stale,
        ats.change("twice", at=at(4), stage="Onsite"),
        # Without an address nor a person's id it cannot be keyed: refused, the rest stored.
        ApplicationSnapshot(
            **{
                **ats.add("unkeyed", email="u@example.org", stage="New", at=at(2)).__dict__,
                "emails": [],
                "ats_candidate_id": "",
            }
        ),
        ats.change("twice", at=at(6), stage="Offer", status=ApplicationStatus.HIRED),
        ats.change("matched-later", at=at(4), stage="Onsite"),
    ]
    return stored, page


def name(result: SnapshotResult) -> str:
    return "refused" if isinstance(result, ValueError) else result.value


async def prepared(storage: AtsStorage, stored: list[ApplicationSnapshot]) -> Connection:
    connection = await connected(storage)
    for snapshot in stored:
        await one_by_one(storage, connection, [snapshot])
    for candidate_id, email in (
        ("cand-ada", "ada@example.org"),
        ("cand-grace", "grace@EXAMPLE.org"),
    ):
        profile = CandidateProfile(
            candidate_id=candidate_id,
            first_name="Ada",
            last_name="Lovelace",
            emails=[email],
            source="sourced",
        )

        async def learn(session: Session, profile: CandidateProfile = profile) -> list[str]:
            return await storage.directory(connection.tenant_id).learn(profile, session=session)

        await storage.in_transaction(learn)
    return connection


async def one_by_one(
    storage: AtsStorage, connection: Connection, snapshots: list[ApplicationSnapshot]
) -> list[str]:
    outcomes = []
    for snapshot in snapshots:

        async def apply(
            session: Session, snapshot: ApplicationSnapshot = snapshot
        ) -> SnapshotOutcome:
            return await apply_snapshot(
                storage, connection, snapshot, received_at=START, session=session
            )

        try:
            outcome = await storage.in_transaction(apply)
        except ValueError:
            outcomes.append("refused")
            continue
        outcomes.append(outcome.value)
    return outcomes


async def batched(
    storage: AtsStorage, connection: Connection, snapshots: list[ApplicationSnapshot]
) -> list[str]:
    results = await storage.in_transaction(
        lambda session: apply_snapshots(
            storage, connection, snapshots, received_at=START, session=session
        )
    )
    return [name(result) for result in results]


async def state(storage: AtsStorage, connection: Connection) -> tuple[Any, ...]:
    """The connection's events and applications, without what differs between tenants."""
    events = [
        (topic, {k: v for k, v in data.items() if k != "connection_id"})
        for topic, data in await staged(storage, connection.tenant_id)
    ]
    applications = sorted(
        json.dumps(
            a.model_dump(
                mode="json",
                exclude={"id", "tenant_id", "connection_id", "received_at", "updated_at"},
            ),
            sort_keys=True,
        )
        for a in await storage.applications(connection.tenant_id).applications(candidate_id=None)
    )
    return events, applications


async def test_a_batch_has_the_outcomes_events_and_state_of_applying_one_by_one(
    storage: AtsStorage,
) -> None:
    stored, page = before_and_page()
    single = await prepared(storage, stored)
    batch = await prepared(storage, stored)
    assert await state(storage, single) == await state(storage, batch)
    already = len(await staged(storage, batch.tenant_id))

    expected = [
        "created",  # new
        "created",  # new-rejected
        "created",  # new-hired
        "unchanged",  # same
        "updated",  # moved
        "updated",  # closed
        "stale",  # newer, read older
        "updated",  # twice, moved
        "refused",  # unkeyed
        "updated",  # twice, then hired
        "updated",  # matched-later
    ]
    assert await one_by_one(storage, single, page) == expected
    assert await batched(storage, batch, page) == expected
    assert await state(storage, single) == await state(storage, batch)

    events, applications = await state(storage, batch)
    announced = [(topic, data["ats_application_id"]) for topic, data in events[already:]]
    assert announced == [
        ("ats.application_created", "new"),
        ("ats.application_created", "new-rejected"),
        ("ats.application_rejected", "new-rejected"),
        ("ats.application_created", "new-hired"),
        ("ats.application_hired", "new-hired"),
        ("ats.application_stage_changed", "moved"),
        ("ats.application_stage_changed", "closed"),
        ("ats.application_rejected", "closed"),
        ("ats.application_stage_changed", "twice"),
        ("ats.application_stage_changed", "twice"),
        ("ats.application_hired", "twice"),
        ("ats.application_stage_changed", "matched-later"),
    ]
    by_id = {json.loads(a)["ats_application_id"]: json.loads(a) for a in applications}
    assert by_id["new-hired"]["candidate_id"] == "cand-ada"
    assert by_id["matched-later"]["candidate_id"] == "cand-grace"
    assert (by_id["twice"]["stage"], by_id["twice"]["status"]) == ("Offer", "hired")
    assert by_id["newer"]["stage"] == "Offer"
    assert "unkeyed" not in by_id
    changes = [data for _, data in events[already:]]
    assert (changes[7]["stage"], changes[7]["rejection_reason"]) == ("Offer", "Withdrew")
    assert (changes[8]["from_stage"], changes[9]["from_stage"]) == ("Phone Screen", "Onsite")

    # The page read again (a run resumed after a kill): nothing changes, nothing is announced.
    again = await batched(storage, batch, page)
    assert again.count("created") + again.count("updated") == 0
    assert await state(storage, batch) == (events, applications)


@pytest.fixture
async def watched(
    storage: AtsStorage, mongodb_uri: str
) -> AsyncIterator[tuple[AtsStorage, Commands]]:
    """The test's storage on a client that records every command it sends."""
    commands = Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongodb_uri, tz_aware=True, event_listeners=[commands]
    )
    database = client[storage.database.name]
    try:
        yield (
            AtsStorage(
                mongo=client,
                database=database,
                outbox=Outbox(database, "ats-sync"),
                keyring=storage.keyring,
            ),
            commands,
        )
    finally:
        await client.close()


def history(count: int) -> FakeAts:
    ats = FakeAts(page_size=count)
    for n in range(count):
        status = ApplicationStatus.REJECTED if n % 4 == 0 else ApplicationStatus.ACTIVE
        ats.add(f"a-{n:03}", email=f"p{n}@example.org", stage="Onsite", at=at(n), status=status)
    return ats


@pytest.mark.parametrize("size", [1, 60])
async def test_a_batch_costs_the_same_commands_whatever_its_size(
    watched: tuple[AtsStorage, Commands], size: int
) -> None:
    storage, commands = watched
    connection = await connected(storage)
    ats = history(size)
    snapshots = list(ats.applications.values())
    commands.names.clear()
    assert set(await batched(storage, connection, snapshots)) == {"created"}
    # The applications and the directory read, the new ones upserted, the events added, the
    # commit; and for changes, their update.
    assert len(commands.names) <= 5, commands.names
    for n in range(0, size, 2):
        ats.change(f"a-{n:03}", at=at(200 + n), stage="Offer")
    commands.names.clear()
    outcomes = await batched(storage, connection, list(ats.applications.values()))
    assert outcomes.count("updated") == len(range(0, size, 2))
    assert len(commands.names) <= 5, commands.names


async def test_the_runner_stores_a_page_in_one_transaction_per_batch(
    watched: tuple[AtsStorage, Commands],
) -> None:
    storage, commands = watched
    connection = await connected(storage)
    ats = history(45)
    policy = SyncPolicy(
        lease=timedelta(seconds=5), schedule_check=timedelta(days=1), apply_batch=20
    )
    runner = SyncRunner(storage, {Provider.LEVER: ats.open_api}, policy, owner="batches")
    await start_backfill(
        storage,
        {Provider.LEVER: ats.open_api},
        connection.tenant_id,
        connection.id,
        requested_by=None,
    )
    commands.names.clear()
    assert await runner.run_once() == 1
    applied = sum(1 for n in commands.names if n == "commitTransaction")
    # 45 snapshots in batches of 20: three transactions, and whatever the turn itself commits
    # (the page's progress), not one per application.
    assert 3 <= applied <= 5, commands.names
    assert len(commands.names) < 45, commands.names
    stored = await storage.applications(connection.tenant_id).applications(candidate_id=None)
    assert len(stored) == 45

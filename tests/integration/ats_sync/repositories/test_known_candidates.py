"""ats-sync's copy of candidates keeps the newest profile it has seen: `candidate.created` and
`candidate.updated` are consumed apart, and a late create must not undo a newer update (the
name and status a push sends)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.repositories.known_candidates import KnownCandidateRepository
from crm_shared import (
    CandidateProfile,
    Database,
    MongoClient,
    Session,
    create_mongo_client,
    in_transaction,
    utc_now,
)
from crm_shared.directory import ProfileChange
from helpers import ats_secret_keys, unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[tuple[MongoClient, Database]]:
    settings = AtsSyncSettings(
        mongodb_uri=mongodb_uri,
        mongodb_database=unique("known"),
        ats_secret_keys=ats_secret_keys(),
    )
    mongo = create_mongo_client(settings)
    yield mongo, mongo[settings.mongodb_database]
    await mongo.close()


async def test_a_late_profile_does_not_replace_a_newer_one(
    database: tuple[MongoClient, Database],
) -> None:
    mongo, db = database
    known = KnownCandidateRepository(db, "t1")
    created_at = utc_now()

    def change(first_name: str, status: str, at_seconds: int) -> ProfileChange:
        profile = CandidateProfile(
            candidate_id="c1",
            first_name=first_name,
            last_name="Ñúñez",
            emails=["zoe@example.org"],
            source="sourced",
            status=status,
        )
        return ProfileChange(profile, created_at + timedelta(seconds=at_seconds))

    async def learn(*changes: ProfileChange) -> None:
        async def work(session: Session) -> None:
            await known.learn_profiles(changes, session=session)

        await in_transaction(mongo, work)

    await learn(change("Zoë", "archived", 5))  # the update, consumed first
    await learn(change("Zoe", "active", 0))  # the create, late
    held = await known.get("c1")
    assert held is not None
    assert (held.first_name, held.status) == ("Zoë", "archived")
    # In one batch too: the newest applies, whatever the order.
    await learn(change("Zoë Maria", "active", 9), change("Zoe", "active", 0))
    held = await known.get("c1")
    assert held is not None
    assert (held.first_name, held.status) == ("Zoë Maria", "active")

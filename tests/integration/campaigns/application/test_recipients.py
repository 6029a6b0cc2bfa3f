"""The recipient projection from profile events, in batches: the state it leaves equals that of
the events applied one by one, a profile older than the one held never replaces it (the
candidates topics are consumed apart), and a profile of an erased person stores nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm_campaigns.application.recipients import project_profiles
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_shared import CandidateProfile, Session, in_transaction, utc_now
from crm_shared.directory import ProfileChange
from crm_shared.tombstones import ERASED_CANDIDATES_COLLECTION, tombstone_id
from helpers import unique
from integration.campaigns.application.test_delivery import Setup

pytestmark = pytest.mark.integration


def profile(candidate_id: str, *, consent: bool, title: str = "Engineer") -> CandidateProfile:
    return CandidateProfile(
        candidate_id=candidate_id,
        first_name="Zoë",
        last_name="Ñúñez",
        emails=[f"{candidate_id}@example.org"],
        source="sourced",
        marketing_consent=consent,
        current_title=title,
    )


async def project(setup: Setup, changes: list[ProfileChange]) -> list[str]:
    async def work(session: Session) -> list[str]:
        return await project_profiles(setup.database, setup.tenant, changes, session)

    return await in_transaction(setup.mongo, work)


async def stored(setup: Setup, candidate_id: str) -> tuple[bool, str | None]:
    recipient = await RecipientRepository(setup.database, setup.tenant).get(candidate_id)
    assert recipient is not None
    return recipient.marketing_consent, recipient.current_title


async def test_a_batch_leaves_what_its_events_one_by_one_leave(delivery: Setup) -> None:
    start = utc_now()
    ada, bob = unique("ada"), unique("bob")
    changes = [
        ProfileChange(profile(ada, consent=False, title="Intern"), start),
        ProfileChange(profile(bob, consent=True), start),
        ProfileChange(profile(ada, consent=True, title="Analyst"), start + timedelta(seconds=1)),
        ProfileChange(profile(bob, consent=False), start + timedelta(seconds=2)),
        ProfileChange(profile(ada, consent=False, title="Lead"), start + timedelta(seconds=3)),
    ]
    withdrawn = await project(delivery, changes)
    # Each withdrawal is told once, in order: Bob's, then Ada's after she had consented.
    assert withdrawn == [bob, ada]
    assert await stored(delivery, ada) == (False, "Lead")
    assert await stored(delivery, bob) == (False, "Engineer")


async def test_an_older_profile_arriving_later_does_not_replace_a_newer_one(
    delivery: Setup,
) -> None:
    """`candidate.created` consumed after `candidate.updated` (its group lagging): the consent
    given by the update stays."""
    created_at = utc_now()
    zoe = unique("zoe")
    updated = ProfileChange(
        profile(zoe, consent=True, title="Analyst"), created_at + timedelta(seconds=5)
    )
    assert await project(delivery, [updated]) == []
    late_create = ProfileChange(profile(zoe, consent=False, title="Intern"), created_at)
    assert await project(delivery, [late_create]) == []
    assert await stored(delivery, zoe) == (True, "Analyst")
    # Within one batch too, and a later change still applies.
    later = ProfileChange(
        profile(zoe, consent=False, title="Lead"), created_at + timedelta(seconds=9)
    )
    assert await project(delivery, [late_create, later, late_create]) == [zoe]
    assert await stored(delivery, zoe) == (False, "Lead")


async def test_a_profile_of_an_erased_person_stores_nothing(delivery: Setup) -> None:
    erased, kept = unique("erased"), unique("kept")
    await delivery.database[ERASED_CANDIDATES_COLLECTION].insert_one(
        {"_id": tombstone_id(delivery.tenant, erased), "tenant_id": delivery.tenant}
    )
    now = utc_now()
    await project(
        delivery,
        [
            ProfileChange(profile(erased, consent=True), now),
            ProfileChange(profile(kept, consent=True), now),
        ],
    )
    recipients = RecipientRepository(delivery.database, delivery.tenant)
    assert await recipients.get(erased) is None
    assert await recipients.get(kept) is not None

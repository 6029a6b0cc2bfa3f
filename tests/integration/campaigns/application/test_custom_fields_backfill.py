"""`candidate.custom_fields_backfilled` (the candidates service's migration 10) gives a
recipient projected before campaigns kept custom fields the values its candidate holds, and
never undoes values a profile event brought, whichever of the two is consumed first."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crm_campaigns.application.recipients import fill_custom_fields, project_profiles
from crm_campaigns.domain.templates import custom_value
from crm_campaigns.repositories.collections import RECIPIENTS
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_shared import (
    CandidateCustomFieldsBackfilled,
    CandidateProfile,
    Session,
    in_transaction,
    utc_now,
)
from crm_shared.directory import ProfileChange
from helpers import unique
from integration.campaigns.application.test_delivery import Setup

pytestmark = pytest.mark.integration


def profile(candidate_id: str, **custom_fields: Any) -> CandidateProfile:
    return CandidateProfile(
        candidate_id=candidate_id,
        first_name="Zoë",
        last_name="Ñúñez",
        emails=[f"{candidate_id}@example.org"],
        source="sourced",
        marketing_consent=True,
        current_title="Engineer",
        custom_fields=custom_fields,
    )


async def project(setup: Setup, change: ProfileChange) -> None:
    async def work(session: Session) -> None:
        await project_profiles(setup.database, setup.tenant, [change], session)

    await in_transaction(setup.mongo, work)


async def backfill(setup: Setup, candidate_id: str, **custom_fields: Any) -> None:
    event = CandidateCustomFieldsBackfilled(candidate_id=candidate_id, custom_fields=custom_fields)

    async def work(session: Session) -> None:
        await fill_custom_fields(setup.database, setup.tenant, event, session)

    await in_transaction(setup.mongo, work)


async def stored_before(setup: Setup, candidate_id: str, at: Any) -> None:
    """A recipient as campaigns stored it before it kept custom fields: without the key."""
    await project(setup, ProfileChange(profile(candidate_id), at))
    await setup.database[RECIPIENTS].update_one(
        {"tenant_id": setup.tenant, "candidate_id": candidate_id},
        {"$unset": {"custom_fields": ""}},
    )


async def merged_values(setup: Setup, candidate_id: str) -> dict[str, Any]:
    """What `candidate.custom_fields` gives a template for the recipient, printed."""
    recipient = await RecipientRepository(setup.database, setup.tenant).get(candidate_id)
    assert recipient is not None
    return {key: custom_value(value) for key, value in recipient.custom_fields.items()}


async def test_a_recipient_stored_before_gets_the_values_its_candidate_holds(
    delivery: Setup,
) -> None:
    zoe, at = unique("zoe"), utc_now()
    await stored_before(delivery, zoe, at)
    assert await merged_values(delivery, zoe) == {}

    await backfill(delivery, zoe, preferred_stack="Rust", notice_weeks=4)

    assert await merged_values(delivery, zoe) == {"preferred_stack": "Rust", "notice_weeks": "4"}
    recipient = await RecipientRepository(delivery.database, delivery.tenant).get(zoe)
    assert recipient is not None
    # Nothing else of the profile moves, nor how new it is.
    assert (recipient.current_title, recipient.marketing_consent) == ("Engineer", True)
    assert recipient.profile_as_of is not None
    assert abs(recipient.profile_as_of - at) < timedelta(milliseconds=1)


async def test_a_newer_profile_consumed_first_is_not_undone(delivery: Setup) -> None:
    zoe, at = unique("zoe"), utc_now()
    await stored_before(delivery, zoe, at)
    # The candidate changed after the migration read the values; its event came in first.
    await project(delivery, ProfileChange(profile(zoe, preferred_stack="Go"), at + timedelta(1)))

    await backfill(delivery, zoe, preferred_stack="Rust")
    # Redelivered, or a value emptied since: still the profile event's.
    await backfill(delivery, zoe, preferred_stack="Rust")

    assert await merged_values(delivery, zoe) == {"preferred_stack": "Go"}


async def test_a_newer_profile_consumed_after_replaces_the_backfilled_values(
    delivery: Setup,
) -> None:
    zoe, at = unique("zoe"), utc_now()
    await stored_before(delivery, zoe, at)
    await backfill(delivery, zoe, preferred_stack="Rust", notice_weeks=4)

    await project(delivery, ProfileChange(profile(zoe, preferred_stack="Go"), at + timedelta(1)))

    assert await merged_values(delivery, zoe) == {"preferred_stack": "Go"}


async def test_a_candidate_campaigns_never_projected_is_not_made_a_recipient(
    delivery: Setup,
) -> None:
    """Its `candidate.created`, still on its way, carries the values and everything else."""
    nobody = unique("nobody")
    await backfill(delivery, nobody, preferred_stack="Rust")
    assert await RecipientRepository(delivery.database, delivery.tenant).get(nobody) is None

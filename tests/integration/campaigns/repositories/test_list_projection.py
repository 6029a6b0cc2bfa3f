"""campaigns' copy of stored list membership follows the latest change, in whatever order the
additions and removals (two topics) are consumed."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from crm_campaigns.repositories.lists import StoredListRepository
from crm_shared import in_transaction, utc_now
from integration.campaigns.application.test_delivery import Setup

pytestmark = pytest.mark.integration


async def test_a_removal_consumed_before_its_addition_keeps_the_candidate_off_the_list(
    delivery: Setup,
) -> None:
    lists = StoredListRepository(delivery.database, delivery.tenant)
    added_at = utc_now() - timedelta(seconds=2)
    removed_at = added_at + timedelta(seconds=1)

    async def consume(member: bool, changed_at: datetime, candidate_id: str) -> None:
        await in_transaction(
            delivery.mongo,
            lambda session: lists.record(
                "list-1", candidate_id, member=member, changed_at=changed_at, session=session
            ),
        )

    # Out of order: the removal first, then the addition it undid.
    await consume(False, removed_at, "c-removed")
    await consume(True, added_at, "c-removed")
    # In order, for a candidate who stays.
    await consume(True, added_at, "c-kept")
    # Removed, then added again later: on the list.
    await consume(True, added_at, "c-back")
    await consume(False, removed_at, "c-back")
    await consume(True, removed_at + timedelta(seconds=1), "c-back")

    assert sorted(await lists.member_ids("list-1")) == ["c-back", "c-kept"]

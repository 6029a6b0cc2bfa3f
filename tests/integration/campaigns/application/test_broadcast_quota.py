"""The concurrent-broadcast quota holds when sends race for its last place: a send counts the
tenant's active broadcasts after taking its place, and gives the place back when over."""

from __future__ import annotations

import asyncio

import pytest

from crm_campaigns.application.broadcast_controls import (
    keep_within_concurrency_quota,
    send_broadcast,
)
from crm_campaigns.domain.models import Broadcast, BroadcastStatus, ListAudience
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from integration.campaigns.application.test_delivery import Setup

pytestmark = pytest.mark.integration


async def test_of_sends_racing_for_the_last_place_at_most_one_goes_ahead(
    delivery: Setup,
) -> None:
    broadcasts = BroadcastRepository(delivery.database, delivery.tenant)
    drafts = [
        Broadcast(
            tenant_id=delivery.tenant,
            name=f"News {number}",
            template_id="t",
            audience=ListAudience(candidate_ids=["c"]),
            created_by="rita",
        )
        for number in range(6)
    ]
    for draft in drafts:
        await broadcasts.add(draft)

    async def send(draft: Broadcast) -> bool:
        assert await send_broadcast(broadcasts, draft)
        return await keep_within_concurrency_quota(broadcasts, draft.id, limit=1)

    went_ahead = await asyncio.gather(*(send(draft) for draft in drafts))

    assert sum(went_ahead) <= 1
    assert await broadcasts.active_count() == sum(went_ahead)
    for draft, ahead in zip(drafts, went_ahead, strict=True):
        stored = await broadcasts.get(draft.id)
        assert stored is not None
        expected = BroadcastStatus.PREPARING if ahead else BroadcastStatus.DRAFT
        assert stored.status is expected
    # With the place free again, a send goes ahead.
    if not any(went_ahead):
        assert await send(drafts[0])

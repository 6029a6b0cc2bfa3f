"""The concurrent-broadcast quota holds when sends race for its last place: a send counts the
tenant's active broadcasts after taking its place, and gives the place back when over."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from crm_campaigns.application.broadcast_controls import (
    keep_within_concurrency_quota,
    send_broadcast,
)
from crm_campaigns.domain.models import Broadcast, BroadcastStatus, ListAudience
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.collections import BROADCASTS, MESSAGES
from crm_shared import utc_now
from helpers import unique
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


async def test_a_broadcast_with_nothing_to_send_now_holds_no_place(delivery: Setup) -> None:
    # Issue 17: a local-time broadcast with nothing due for hours and an A/B test waiting for
    # its winner made a tenant's next send a 429; they put no load on the runner or the
    # dispatchers until their time comes.
    broadcasts = BroadcastRepository(delivery.database, delivery.tenant)
    now = utc_now()
    local_time = await sending(delivery, materialized=True)
    await message(delivery, local_time, "queued", due=now + timedelta(hours=5))
    await message(delivery, local_time, "sent", due=now - timedelta(minutes=1))
    ab_waiting = await sending(
        delivery, materialized=False, test_ends_at=now + timedelta(minutes=3)
    )
    await message(delivery, ab_waiting, "sent", due=now - timedelta(minutes=1))
    assert await broadcasts.active_count() == 0

    # Work due now takes a place again: mail due, mail being sent, a winner to decide.
    due = await message(delivery, local_time, "queued", due=now - timedelta(seconds=1))
    assert await broadcasts.active_count() == 1
    await delivery.database[MESSAGES].update_one({"_id": due}, {"$set": {"status": "sending"}})
    assert await broadcasts.active_count() == 1
    await delivery.database[BROADCASTS].update_one(
        {"_id": ab_waiting}, {"$set": {"test_ends_at": now - timedelta(seconds=1)}}
    )
    assert await broadcasts.active_count() == 2
    # Preparing always counts.
    await sending(delivery, materialized=False, status=BroadcastStatus.PREPARING)
    assert await broadcasts.active_count() == 3


async def sending(
    delivery: Setup,
    *,
    materialized: bool,
    status: BroadcastStatus = BroadcastStatus.SENDING,
    test_ends_at: datetime | None = None,
) -> str:
    broadcast = Broadcast(
        tenant_id=delivery.tenant,
        name="News",
        template_id="t",
        audience=ListAudience(candidate_ids=["c"]),
        status=status,
        materialized=materialized,
        test_ends_at=test_ends_at,
        created_by="rita",
    )
    await BroadcastRepository(delivery.database, delivery.tenant).add(broadcast)
    return broadcast.id


async def message(delivery: Setup, broadcast_id: str, status: str, *, due: datetime) -> str:
    message_id = unique("message")
    await delivery.database[MESSAGES].insert_one(
        {
            "_id": message_id,
            "tenant_id": delivery.tenant,
            "broadcast_id": broadcast_id,
            "candidate_id": unique("c"),
            "status": status,
            "next_attempt_at": due,
        }
    )
    return message_id

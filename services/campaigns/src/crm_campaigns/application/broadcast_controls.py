"""What a user does to a broadcast once it exists: send, pause, resume, cancel.

Each returns False when the broadcast's state does not allow the action (any more). The
dispatchers pause broadcasts too (`hold_broadcast`) and settle the messages their recovery put
back in the queue (`settle_requeued`).

A pause or cancel stops the broadcast's messages in its transaction, and once more after the
commit (`stop_settled`). The transaction reads a snapshot: a message inserted while it is open
(a batch a dispatcher inserts claimed, messages the runner queues) is not in it, and whoever
inserted it may have checked the broadcast's status before the commit and seen it still going.
After the commit, whatever any writer inserted before its own check of the status is stored,
so the second pass reaches it; a writer that checks after the commit sees the pause and stops
what it inserted itself (`stop_settled` too). Either way nothing of a stopped broadcast is left
to be sent, but for the SMTP transactions already under way.
"""

from __future__ import annotations

from crm_campaigns.domain.lifecycle import BroadcastAction, broadcast_after, broadcast_allows
from crm_campaigns.domain.models import Broadcast, BroadcastStatus, MessageStatus
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_shared import (
    Database,
    MongoClient,
    Session,
    current_trace_context,
    in_transaction,
    utc_now,
)


async def send_broadcast(broadcasts: BroadcastRepository, broadcast: Broadcast) -> bool:
    """Starts a draft: the runner snapshots its audience and queues the messages for their
    time."""
    if not broadcast_allows(broadcast.status, BroadcastAction.SEND):
        return False
    return await broadcasts.transition(
        broadcast.id,
        BroadcastStatus.DRAFT,
        {
            "status": BroadcastStatus.PREPARING.value,
            "started_at": utc_now(),
            "trace_context": current_trace_context(),
            "lease_until": None,
        },
    )


async def keep_within_concurrency_quota(
    broadcasts: BroadcastRepository, broadcast_id: str, limit: int
) -> bool:
    """After a send: False, and the broadcast a draft again, if it made the tenant's preparing
    or sending broadcasts more than `limit`.

    Counted after the send took its place, so of two sends racing for the last place the later
    count sees both and gives its place back: the quota holds (at worst both give back). A
    broadcast a runner already took up in between goes ahead."""
    if await broadcasts.active_count() <= limit:
        return True
    return not await broadcasts.unsend(broadcast_id)


async def hold_broadcast(
    mongo: MongoClient, database: Database, tenant_id: str, broadcast_id: str, *, reason: str
) -> bool:
    """Pauses a preparing or sending broadcast and holds its queued messages; False if it was
    in neither state."""
    broadcasts = BroadcastRepository(database, tenant_id)

    async def hold(session: Session) -> bool:
        current = await broadcasts.get(broadcast_id, session=session)
        if current is None or not broadcast_allows(current.status, BroadcastAction.PAUSE):
            return False
        changes = {
            "status": BroadcastStatus.PAUSED.value,
            "pause_reason": reason,
            "paused_from": current.status.value,
        }
        if not await broadcasts.transition(broadcast_id, current.status, changes, session=session):
            return False
        await broadcasts.move_messages(
            broadcast_id, MessageStatus.QUEUED, MessageStatus.HELD, session=session
        )
        # A dispatcher may hold a claimed batch of it, handed or queued: what of it has not
        # started is held too, or the batch would run to its end after the pause.
        await broadcasts.stop_unstarted(broadcast_id, MessageStatus.HELD, session=session)
        return True

    held = await in_transaction(mongo, hold)
    if held:
        await stop_settled(broadcasts, broadcast_id)
    return held


async def pause_broadcast(mongo: MongoClient, database: Database, broadcast: Broadcast) -> bool:
    """Stops sending; queued messages are held until resumed."""
    if not broadcast_allows(broadcast.status, BroadcastAction.PAUSE):
        return False
    return await hold_broadcast(mongo, database, broadcast.tenant_id, broadcast.id, reason="paused")


async def resume_broadcast(
    mongo: MongoClient, broadcasts: BroadcastRepository, broadcast: Broadcast
) -> bool:
    """Continues a paused broadcast where it was paused, with a fresh error-rate window."""
    if not broadcast_allows(broadcast.status, BroadcastAction.RESUME):
        return False
    previous = broadcast_after(
        broadcast.status, BroadcastAction.RESUME, paused_from=broadcast.paused_from
    )

    async def resume(session: Session) -> bool:
        moved = await broadcasts.transition(
            broadcast.id,
            BroadcastStatus.PAUSED,
            {
                "status": previous.value,
                "pause_reason": None,
                "paused_from": None,
                "stats.attempts": 0,
                "stats.errors": 0,
                "run_errors": 0,
                "lease_until": None,
            },
            session=session,
        )
        if moved:
            await broadcasts.move_messages(
                broadcast.id, MessageStatus.HELD, MessageStatus.QUEUED, session=session
            )
        return moved

    return await in_transaction(mongo, resume)


async def cancel_broadcast(
    mongo: MongoClient, broadcasts: BroadcastRepository, broadcast: Broadcast
) -> bool:
    """Stops a broadcast for good: nothing not yet sent will be."""
    if not broadcast_allows(broadcast.status, BroadcastAction.CANCEL):
        return False

    async def cancel(session: Session) -> bool:
        moved = await broadcasts.transition(
            broadcast.id,
            broadcast.status,
            {"status": BroadcastStatus.CANCELLED.value, "completed_at": utc_now()},
            session=session,
        )
        if moved:
            for status in (MessageStatus.QUEUED, MessageStatus.HELD):
                await broadcasts.move_messages(
                    broadcast.id, status, MessageStatus.CANCELLED, session=session
                )
            await broadcasts.stop_unstarted(broadcast.id, MessageStatus.CANCELLED, session=session)
        return moved

    cancelled = await in_transaction(mongo, cancel)
    if cancelled:
        await stop_settled(broadcasts, broadcast.id)
    return cancelled


async def settle_requeued(database: Database, tenant_id: str, broadcast_id: str) -> None:
    """After messages of a broadcast went back to the queue (recovered claims), holds them if
    the broadcast is paused and cancels them if it is cancelled, as pausing or cancelling it
    would have done had they been queued then."""
    await stop_settled(BroadcastRepository(database, tenant_id), broadcast_id)


async def stop_settled(broadcasts: BroadcastRepository, broadcast_id: str) -> bool:
    """If the broadcast is paused or cancelled, holds or cancels its messages that are queued
    or claimed but not started, outside any transaction (so it reaches every message stored
    before it reads them); True if the broadcast was stopped.

    Whoever stores messages of a broadcast calls it after storing them, and the pause and the
    cancel after their commit (see the module's docstring)."""
    current = await broadcasts.get(broadcast_id)
    if current is None:
        return True
    if current.status is BroadcastStatus.PAUSED:
        target = MessageStatus.HELD
    elif current.status is BroadcastStatus.CANCELLED:
        target = MessageStatus.CANCELLED
    else:
        return False
    await broadcasts.move_messages(broadcast_id, MessageStatus.QUEUED, target)
    await broadcasts.stop_unstarted(broadcast_id, target)
    return True

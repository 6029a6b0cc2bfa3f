"""What a user does to a broadcast once it exists: send, pause, resume, cancel.

Each returns False when the broadcast's state does not allow the action (any more). The
dispatchers pause broadcasts too (`hold_broadcast`) and settle the messages their recovery put
back in the queue (`settle_requeued`).

A pause or cancel changes the broadcast's status alone (one conditional write, no
transaction), and then stops its messages (`stop_settled`) outside any transaction. A
transaction holding the pause and the messages' moves together fought the dispatchers, who claim
and mark those same messages all the time: on MongoDB a write conflict aborts such a transaction
and the driver retries it from the start, again and again while a broadcast is sending; the
Rust SecantusDB server (0.5.3) instead retries the conflicting `update_many` inside the
transaction against its old snapshot, which never succeeds, and the whole database stalled
(found by a try-out: a cancel during sending, 504s everywhere, the cancel never recorded).
Outside a transaction each pass reads what is stored when it runs. A writer that inserted
messages before the status changed is reached by the pass after it; a writer that checks the
status after it sees the pause and stops what it inserted itself (`stop_settled` too). Either
way nothing of a stopped broadcast is left to be sent, but for the SMTP transactions already
under way. Should the process die between the status and the pass, a dispatcher that claims a
queued message of the stopped broadcast finds it stopped and settles it.
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
    database: Database, tenant_id: str, broadcast_id: str, *, reason: str
) -> bool:
    """Pauses a preparing or sending broadcast and holds its queued messages; False if it was
    in neither state."""
    broadcasts = BroadcastRepository(database, tenant_id)
    current = await broadcasts.get(broadcast_id)
    if current is None or not broadcast_allows(current.status, BroadcastAction.PAUSE):
        return False
    changes = {
        "status": BroadcastStatus.PAUSED.value,
        "pause_reason": reason,
        "paused_from": current.status.value,
    }
    if not await broadcasts.transition(broadcast_id, current.status, changes):
        return False
    # Queued messages are held, and what a dispatcher claimed but has not started too, or its
    # batch would run to its end after the pause.
    await stop_settled(broadcasts, broadcast_id)
    return True


async def pause_broadcast(database: Database, broadcast: Broadcast) -> bool:
    """Stops sending; queued messages are held until resumed."""
    if not broadcast_allows(broadcast.status, BroadcastAction.PAUSE):
        return False
    return await hold_broadcast(database, broadcast.tenant_id, broadcast.id, reason="paused")


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


async def cancel_broadcast(broadcasts: BroadcastRepository, broadcast: Broadcast) -> bool:
    """Stops a broadcast for good: nothing not yet sent will be."""
    if not broadcast_allows(broadcast.status, BroadcastAction.CANCEL):
        return False

    cancelled = await broadcasts.transition(
        broadcast.id,
        broadcast.status,
        {"status": BroadcastStatus.CANCELLED.value, "completed_at": utc_now()},
    )
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
    stopped = [MessageStatus.QUEUED]
    if target is MessageStatus.CANCELLED:
        stopped.append(MessageStatus.HELD)
    for status in stopped:
        await broadcasts.move_messages(broadcast_id, status, target)
    await broadcasts.stop_unstarted(broadcast_id, target)
    return True

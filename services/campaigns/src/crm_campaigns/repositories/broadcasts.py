"""Broadcasts: one-off sends to an audience, and their messages' progress."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING

from crm_campaigns.domain.broadcasts import MessageTally
from crm_campaigns.domain.lifecycle import UNFINISHED_BROADCASTS
from crm_campaigns.domain.models import (
    Broadcast,
    BroadcastStatus,
    MessageStatus,
    failure_reason_of,
)
from crm_campaigns.domain.pool_stages import with_stage_renamed
from crm_campaigns.repositories.collections import (
    BROADCASTS,
    MESSAGES,
)
from crm_shared import (
    Database,
    PoolStageRenamed,
    Session,
    TenantScopedCollection,
    from_document,
    to_document,
    utc_now,
)


class BroadcastRepository:
    """The tenant's broadcasts."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self._broadcasts = TenantScopedCollection(database[BROADCASTS], tenant_id)
        self._messages = TenantScopedCollection(database[MESSAGES], tenant_id)

    async def rename_pool_stage(self, renamed: PoolStageRenamed, *, session: Session) -> None:
        """Broadcasts to the renamed stage that have not snapshotted their audience yet (drafts
        and those preparing) name its new name; one that did keeps the record of its audience."""
        documents = await self._broadcasts.find(
            {
                "audience.type": "pool",
                "audience.pool_id": renamed.pool_id,
                "status": {"$in": [BroadcastStatus.DRAFT.value, BroadcastStatus.PREPARING.value]},
            },
            session=session,
        )
        for document in documents:
            audience, changed = with_stage_renamed(
                document["audience"], renamed.pool_id, renamed.from_stage, renamed.to_stage
            )
            if changed:
                await self._broadcasts.update_one(
                    {"_id": document["_id"]},
                    {"$set": {"audience": audience}, "$inc": {"version": 1}},
                    session=session,
                )

    async def unfinished_using_template(
        self, template_id: str, *, session: Session | None = None
    ) -> list[Broadcast]:
        """The broadcasts that will still render `template_id`."""
        documents = await self._broadcasts.find(
            {
                "template_id": template_id,
                "status": {"$in": [status.value for status in UNFINISHED_BROADCASTS]},
            },
            session=session,
        )
        return [from_document(Broadcast, d) for d in documents]

    async def add(self, broadcast: Broadcast) -> None:
        # BSON has no date or time-of-day type: the schedule is stored as its JSON form.
        document = to_document(broadcast) | {"schedule": broadcast.schedule.model_dump(mode="json")}
        await self._broadcasts.insert_one(document)

    async def replace_draft(self, broadcast: Broadcast, version: int) -> bool:
        """Replaces a draft's definition if it is still a draft at `version`."""
        definition = to_document(broadcast)
        result = await self._broadcasts.update_one(
            {"_id": broadcast.id, "status": BroadcastStatus.DRAFT.value, "version": version},
            {
                "$set": {
                    field: definition[field]
                    for field in ("name", "template_id", "audience", "ab_test")
                }
                | {"schedule": broadcast.schedule.model_dump(mode="json")},
                "$inc": {"version": 1},
            },
        )
        return result.modified_count == 1

    async def delete_draft(self, broadcast_id: str) -> bool:
        """Deletes a broadcast that was never sent; False if it is not a draft (any more)."""
        result = await self._broadcasts.delete_one(
            {"_id": broadcast_id, "status": BroadcastStatus.DRAFT.value}
        )
        return result.deleted_count == 1

    async def get(self, broadcast_id: str, *, session: Session | None = None) -> Broadcast | None:
        document = await self._broadcasts.find_one({"_id": broadcast_id}, session=session)
        return from_document(Broadcast, document) if document else None

    async def active_count(self) -> int:
        """How many of the tenant's broadcasts have work to do now: preparing, or sending with
        mail due (queued and due, or being sent) or an A/B winner to decide. A paused one has
        none, nor has one sending whose mail all waits for a later time (a local-time or
        scheduled send, an A/B test's rest until its winner): the concurrency quota limits the
        load a tenant puts on the runner and the dispatchers at once, and those put none on
        them until their time comes (then they go ahead whatever the count)."""
        now = utc_now()
        candidates = await self._broadcasts.find(
            {"status": {"$in": [BroadcastStatus.PREPARING.value, BroadcastStatus.SENDING.value]}},
            projection={"status": 1, "materialized": 1, "test_ends_at": 1},
        )
        active = 0
        for broadcast in candidates:
            if broadcast["status"] == BroadcastStatus.PREPARING.value:
                active += 1
                continue
            ends = broadcast.get("test_ends_at")
            if not broadcast.get("materialized") and ends is not None and ends <= now:
                active += 1  # its winner is due: the rest's mail is made and sent now
                continue
            due = await self._messages.find_one(
                {
                    "broadcast_id": broadcast["_id"],
                    "$or": [
                        {"status": MessageStatus.SENDING.value},
                        {"status": MessageStatus.QUEUED.value, "next_attempt_at": {"$lte": now}},
                    ],
                }
            )
            active += due is not None
        return active

    async def page(self, *, after: str | None, limit: int) -> list[Broadcast]:
        query: dict[str, Any] = {"_id": {"$gt": after}} if after else {}
        documents = await self._broadcasts.find(query, sort=[("_id", ASCENDING)], limit=limit)
        return [from_document(Broadcast, d) for d in documents]

    async def transition(
        self,
        broadcast_id: str,
        expected: BroadcastStatus,
        changes: dict[str, Any],
        *,
        session: Session | None = None,
    ) -> bool:
        """Applies `changes` only if the broadcast is still in `expected`; True if it was."""
        result = await self._broadcasts.update_one(
            {"_id": broadcast_id, "status": expected.value}, {"$set": changes}, session=session
        )
        return result.modified_count == 1

    async def unsend(self, broadcast_id: str) -> bool:
        """Makes a broadcast just sent a draft again, unless a runner already took it up."""
        result = await self._broadcasts.update_one(
            {
                "_id": broadcast_id,
                "status": BroadcastStatus.PREPARING.value,
                "lease_until": None,
            },
            {"$set": {"status": BroadcastStatus.DRAFT.value, "started_at": None}},
        )
        return result.modified_count == 1

    async def renew_lease(
        self, broadcast_id: str, expected: BroadcastStatus, owner: str, lease: timedelta
    ) -> bool:
        """Extends `owner`'s lease while the broadcast is still in `expected`; False if it is
        not, or another worker holds the lease now."""
        result = await self._broadcasts.update_one(
            {"_id": broadcast_id, "status": expected.value, "lease_owner": owner},
            {"$set": {"lease_until": utc_now() + lease}},
        )
        return result.modified_count == 1

    async def move_messages(
        self,
        broadcast_id: str,
        source: MessageStatus,
        target: MessageStatus,
        *,
        session: Session | None = None,
    ) -> int:
        """Moves the broadcast's messages in `source` to `target` (hold, release, cancel)."""
        result = await self._messages.update_many(
            {"broadcast_id": broadcast_id, "status": source.value},
            {"$set": {"status": target.value}},
            session=session,
        )
        return result.modified_count

    async def stop_unstarted(
        self, broadcast_id: str, target: MessageStatus, *, session: Session | None = None
    ) -> int:
        """Moves the broadcast's messages that a dispatcher claimed but whose SMTP transaction
        has not started to `target` (held or cancelled), releasing the claim.

        A dispatcher marks each message started, conditionally on its still being `sending`,
        right before its transaction: a message moved here first fails that mark and is not
        sent; a message marked first is in its transaction and finishes it."""
        result = await self._messages.update_many(
            {
                "broadcast_id": broadcast_id,
                "status": MessageStatus.SENDING.value,
                "attempt_started_at": None,
            },
            {
                "$set": {
                    "status": target.value,
                    "claim_id": None,
                    "lease_owner": None,
                    "lease_until": None,
                }
            },
            session=session,
        )
        return result.modified_count

    async def record_preparation(
        self, broadcast_id: str, *, unknown: int, audience_size: int | None = None
    ) -> None:
        """Records, while the runner prepares the broadcast, the size of the audience it read and
        how many of it campaigns does not know (skipped, no message) so far, so that a
        broadcast paused or cancelled halfway shows who it was for. Whatever its status: a
        chunk that went in after a pause is in the figures too (held)."""
        changes: dict[str, Any] = {"stats.skipped.unknown_candidate": unknown}
        if audience_size is not None:
            changes["audience_size"] = audience_size
        await self._broadcasts.update_one({"_id": broadcast_id}, {"$set": changes})

    async def decide_winner(self, broadcast_id: str, winner: str) -> None:
        """Records the A/B winner unless one was recorded already."""
        await self._broadcasts.update_one(
            {"_id": broadcast_id, "winner": None},
            {"$set": {"winner": winner, "winner_decided_at": utc_now()}},
        )

    async def release_lease(self, broadcast_id: str, owner: str) -> None:
        """Gives up `owner`'s lease on the broadcast, whatever its status."""
        await self._broadcasts.update_one(
            {"_id": broadcast_id, "lease_owner": owner},
            {"$set": {"lease_owner": None, "lease_until": None}},
        )

    async def tally(self, broadcast_id: str) -> MessageTally:
        """The broadcast's messages counted by status, with the reasons of the skipped and
        the failed, in one grouped query (the progress view asks every two seconds)."""
        groups = await self._messages.aggregate(
            {"broadcast_id": broadcast_id},
            [
                {
                    "$group": {
                        "_id": {
                            "status": "$status",
                            "suppression_reason": "$suppression_reason",
                            "failure_reason": "$failure_reason",
                        },
                        "messages": {"$sum": 1},
                    }
                }
            ],
        )
        by_status: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        for group in groups:
            key, messages = group["_id"], int(group["messages"])
            status = MessageStatus(key["status"])
            by_status[status.value] += messages
            if status is MessageStatus.SUPPRESSED:
                skipped[str(key.get("suppression_reason"))] += messages
            elif status is MessageStatus.FAILED:
                failed[str(failure_reason_of(status, key.get("failure_reason")))] += messages
        return MessageTally(dict(by_status), dict(skipped), dict(failed))

    async def variant_tallies(self, broadcast_id: str) -> dict[str, dict[str, int]]:
        """For each A/B variant's test group: its messages, and how many were sent, delivered
        (sent, no bounce reported: as analytics counts them), and delivered and opened (by a
        person) or clicked, in one grouped query. An open of a message that bounced later
        does not count: the rates are of the delivered messages (docs/campaigns.md)."""

        def bounced(kind: str) -> dict[str, Any]:
            return {"$eq": ["$bounce_type", kind]}

        delivered = {
            "$cond": [
                {"$eq": ["$status", MessageStatus.SENT.value]},
                {"$cond": [bounced("hard"), 0, {"$cond": [bounced("soft"), 0, 1]}]},
                0,
            ]
        }

        def delivered_and(condition: dict[str, Any]) -> dict[str, Any]:
            return {"$sum": {"$cond": [condition, delivered, 0]}}

        groups = await self._messages.aggregate(
            {"broadcast_id": broadcast_id, "in_ab_test": True},
            [
                {
                    "$group": {
                        "_id": "$variant",
                        "messages": {"$sum": 1},
                        "sent": {
                            "$sum": {
                                "$cond": [{"$eq": ["$status", MessageStatus.SENT.value]}, 1, 0]
                            }
                        },
                        "delivered": {"$sum": delivered},
                        "opened": delivered_and({"$gt": ["$opens", 0]}),
                        "clicked": delivered_and({"$gt": ["$clicks", 0]}),
                    }
                }
            ],
        )
        figures = ("messages", "sent", "delivered", "opened", "clicked")
        return {
            str(group["_id"]): {figure: int(group[figure]) for figure in figures}
            for group in groups
        }

    async def await_recipients(
        self, broadcast_id: str, count: int, *, until: datetime | None
    ) -> None:
        """Records how many of a preparing broadcast's audience it waits for; while it waits,
        its runner's lease ends at `until`, when it is looked at again."""
        changes: dict[str, Any] = {"awaiting_recipients": count}
        if until is not None:
            changes["lease_until"] = until
        await self._broadcasts.update_one(
            {"_id": broadcast_id, "status": BroadcastStatus.PREPARING.value}, {"$set": changes}
        )


async def complete_if_done(database: Database, tenant_id: str, broadcast_id: str) -> bool:
    """Marks a sending broadcast completed once all its messages are queued and none is left
    without an outcome (queued, sending or held)."""
    broadcasts = TenantScopedCollection(database[BROADCASTS], tenant_id)
    messages = TenantScopedCollection(database[MESSAGES], tenant_id)
    current = await broadcasts.find_one({"_id": broadcast_id})
    if current is None or current.get("status") != BroadcastStatus.SENDING.value:
        return False
    if not current.get("materialized"):
        return False
    unfinished = [MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.HELD]
    # An existence check, not a count: it runs after every batch, with up to the whole audience
    # still unfinished.
    if await messages.find_one(
        {"broadcast_id": broadcast_id, "status": {"$in": [s.value for s in unfinished]}}
    ):
        return False
    result = await broadcasts.update_one(
        {"_id": broadcast_id, "status": BroadcastStatus.SENDING.value, "materialized": True},
        {"$set": {"status": BroadcastStatus.COMPLETED.value, "completed_at": utc_now()}},
    )
    return result.modified_count == 1


async def complete_finished_broadcasts(database: Database) -> int:
    """Completes every sending broadcast that has nothing left to send; returns how many.

    Deliberately cross-tenant. The dispatchers complete the broadcasts they sent for, but a
    process that died after a broadcast's last outcome, or whose last claims were recovered by
    another process, leaves no dispatcher that would; this sweep does, whoever runs it.
    """
    sending = (
        await database[BROADCASTS]
        .find({"status": BroadcastStatus.SENDING.value, "materialized": True}, {"tenant_id": 1})
        .to_list()
    )
    completed = 0
    for broadcast in sending:
        completed += await complete_if_done(database, broadcast["tenant_id"], broadcast["_id"])
    return completed


# Broadcasts with work ahead of them (a draft has none yet; the rest are finished).
OPEN_BROADCASTS = (BroadcastStatus.PREPARING, BroadcastStatus.SENDING, BroadcastStatus.PAUSED)


async def open_broadcast_figures(database: Database) -> tuple[dict[BroadcastStatus, int], int]:
    """How many broadcasts are preparing, sending or paused, and how many queued messages the
    sending ones have yet to finish (sent, failed or skipped), from their progress counters.

    Deliberately cross-tenant: these are the service's figures for `/metrics`, no tenant's."""
    open_broadcasts = (
        await database[BROADCASTS]
        .find(
            {"status": {"$in": [status.value for status in OPEN_BROADCASTS]}},
            {"status": 1, "queued": 1, "stats.finished": 1},
        )
        .to_list()
    )
    by_status = dict.fromkeys(OPEN_BROADCASTS, 0)
    remaining = 0
    for broadcast in open_broadcasts:
        status = BroadcastStatus(broadcast["status"])
        by_status[status] += 1
        if status is BroadcastStatus.SENDING:
            finished = int((broadcast.get("stats") or {}).get("finished", 0))
            remaining += max(0, int(broadcast.get("queued", 0)) - finished)
    return by_status, remaining

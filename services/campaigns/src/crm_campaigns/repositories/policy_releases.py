"""The re-evaluation of mail the contact policy held, after the tenant changed the policy.

Its progress lives on the policy's own document (`release`), so a restart resumes it and any
replica may take the next batch: a batch is claimed with a short lease.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument

from crm_campaigns.domain.contact_policy import PolicyReason, PolicyRelease
from crm_campaigns.domain.models import MessageStatus
from crm_campaigns.repositories.collections import CONTACT_POLICIES, MESSAGES
from crm_shared import Database, TenantScopedCollection

HELD_REASONS = sorted(reason.value for reason in PolicyReason)


def held_by_policy(now: datetime) -> dict[str, Any]:
    """Queued messages the policy holds back now (quiet hours, the cap); not those waiting for
    another reason (a retry's backoff, the tenant's rate: they carry no future `deferred_until`
    of the policy)."""
    return {
        "status": MessageStatus.QUEUED.value,
        "policy_reason": {"$in": HELD_REASONS},
        "deferred_until": {"$gt": now},
    }


class PolicyReleaseRepository:
    """One tenant's re-evaluation: its state and the held messages it walks."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._policies = TenantScopedCollection(database[CONTACT_POLICIES], tenant_id)
        self._messages = TenantScopedCollection(database[MESSAGES], tenant_id)

    async def held(self, now: datetime) -> int:
        return await self._messages.count(held_by_policy(now))

    async def request(self, held: int, at: datetime) -> PolicyRelease:
        """Starts a re-evaluation from the first held message (a running one starts over: the
        newest policy is the one that counts)."""
        release = PolicyRelease(status="running", requested_at=at, held=held)
        await self._policies.update_one(
            {},
            {
                "$set": {
                    "release": release.model_dump(),
                    "release_after": None,
                    "release_lease_until": None,
                }
            },
            upsert=True,
        )
        return release

    async def current(self) -> PolicyRelease | None:
        document = await self._policies.find_one({})
        stored = (document or {}).get("release")
        return PolicyRelease.model_validate(stored) if stored else None

    async def next_held(self, after: str | None, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` held messages after the id `after`, by id."""
        query = held_by_policy(now)
        if after is not None:
            query["_id"] = {"$gt": after}
        return await self._messages.find(
            query,
            sort=[("_id", 1)],
            limit=limit,
            projection={"candidate_id": 1, "deferred_until": 1, "next_attempt_at": 1},
        )

    async def bring_forward(self, moves: list[tuple[dict[str, Any], datetime, str | None]]) -> int:
        """Moves each held message's due time to the new moment, if it still waits as it was
        read (the dispatcher may have taken it meanwhile); returns how many moved."""
        updates = []
        for document, due, reason in moves:
            held = {
                "_id": document["_id"],
                "status": MessageStatus.QUEUED.value,
                "next_attempt_at": document["next_attempt_at"],
            }
            fields: dict[str, Any] = {"next_attempt_at": due}
            # Let out now: nothing holds it any more; else held, sooner, for this reason.
            fields |= {"policy_reason": reason, "deferred_until": due if reason else None}
            updates.append((held, {"$set": fields}))
        result = await self._messages.update_each(updates)
        return result.modified_count if result is not None else 0

    async def advance(
        self,
        requested_at: datetime,
        *,
        after: str | None,
        examined: int,
        released: int,
        finished_at: datetime | None,
    ) -> None:
        """Records a batch's progress, unless a newer policy change restarted the walk."""
        update: dict[str, Any] = {
            "$set": {"release_after": after, "release_lease_until": None},
            "$inc": {"release.examined": examined, "release.released": released},
        }
        if finished_at is not None:
            update["$set"] |= {"release.status": "done", "release.finished_at": finished_at}
        await self._policies.update_one({"release.requested_at": requested_at}, update)


async def claim_release(
    database: Database, now: datetime, lease: timedelta
) -> dict[str, Any] | None:
    """A running re-evaluation of any tenant whose next batch nobody works on, leased to the
    caller (deliberately cross-tenant, like the dispatcher's claims)."""
    return await database[CONTACT_POLICIES].find_one_and_update(
        {
            "release.status": "running",
            "$or": [{"release_lease_until": None}, {"release_lease_until": {"$lte": now}}],
        },
        {"$set": {"release_lease_until": now + lease}},
        return_document=ReturnDocument.AFTER,
    )

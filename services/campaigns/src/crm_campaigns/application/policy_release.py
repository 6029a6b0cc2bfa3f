"""Re-evaluates mail the contact policy held back once the tenant changed the policy.

Messages deferred by quiet hours or the frequency cap wait in the queue until the moment the
policy they were decided under gave them (`deferred_until`). When an admin loosens the policy,
they should not wait for that moment: `ContactPolicies.put` starts a re-evaluation, and the
`policy-release` worker walks the tenant's held messages in batches, asking the new policy
(`earlier_release`) when each may go and bringing it forward (to now, if nothing holds it any
more). It only ever brings mail forward: under a stricter policy a held message keeps its
moment, and the dispatcher, which decides again at send time, holds it further if it must.
A batch costs one read of messages, one of recipients, one of send ledgers and one bulk write.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from crm_campaigns.domain.contact_policy import ContactPolicy, earlier_release
from crm_campaigns.domain.policy import Verdict
from crm_campaigns.repositories.collections import CONTACT_LEDGER
from crm_campaigns.repositories.contact_policies import ContactPolicyRepository
from crm_campaigns.repositories.policy_releases import PolicyReleaseRepository, claim_release
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_shared import Database, TenantScopedCollection, Wakeup, utc_now

logger = logging.getLogger(__name__)

RELEASE_LEASE = timedelta(seconds=60)


def to_millis(moment: datetime) -> datetime:
    """The moment as the database keeps it (milliseconds), so it can be matched again."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class PolicyReleaser:
    """Takes the next batch of any tenant's re-evaluation (see the module's docstring)."""

    def __init__(
        self, database: Database, *, batch_size: int, messages_queued: Wakeup | None = None
    ) -> None:
        self._database = database
        self._batch_size = batch_size
        self._messages_queued = messages_queued

    async def release_batch(self) -> int:
        """Re-evaluates up to one batch of one tenant's held messages; returns how many."""
        now = utc_now()
        claimed = await claim_release(self._database, now, RELEASE_LEASE)
        if claimed is None:
            return 0
        tenant_id: str = claimed["tenant_id"]
        requested_at: datetime = claimed["release"]["requested_at"]
        releases = PolicyReleaseRepository(self._database, tenant_id)
        held = await releases.next_held(claimed.get("release_after"), now, self._batch_size)
        policy = await ContactPolicyRepository(self._database, tenant_id).get()
        moves = await self._moves(tenant_id, policy, held, now)
        released = await releases.bring_forward(moves)
        done = len(held) < self._batch_size
        await releases.advance(
            requested_at,
            after=held[-1]["_id"] if held else claimed.get("release_after"),
            examined=len(held),
            released=released,
            finished_at=now if done else None,
        )
        if released:
            logger.info("contact policy changed: %d held messages brought forward", released)
            if self._messages_queued is not None:
                self._messages_queued.notify()
        # A finished walk handled less than a batch, but another tenant's may wait: go on.
        return self._batch_size if held else 0

    async def _moves(
        self,
        tenant_id: str,
        policy: ContactPolicy,
        held: list[dict[str, Any]],
        now: datetime,
    ) -> list[tuple[dict[str, Any], datetime, str | None]]:
        candidate_ids = sorted({document["candidate_id"] for document in held})
        recipients = await RecipientRepository(self._database, tenant_id).many(candidate_ids)
        ledgers = await TenantScopedCollection(self._database[CONTACT_LEDGER], tenant_id).find_in(
            "candidate_id", candidate_ids, projection={"candidate_id": 1, "sends": 1}
        )
        sends = {
            ledger["candidate_id"]: [entry["at"] for entry in ledger.get("sends", [])]
            for ledger in ledgers
        }
        moves: list[tuple[dict[str, Any], datetime, str | None]] = []
        for document in held:
            recipient = recipients.get(document["candidate_id"])
            decision = earlier_release(
                policy,
                held_until=document["deferred_until"],
                now=now,
                time_zone=recipient.time_zone if recipient else None,
                recent_sends=sends.get(document["candidate_id"], []),
            )
            if decision is None:
                continue
            if decision.verdict is Verdict.ALLOW or decision.retry_at is None:
                moves.append((document, now, None))
            else:
                moves.append((document, decision.retry_at, str(decision.reason)))
        return moves

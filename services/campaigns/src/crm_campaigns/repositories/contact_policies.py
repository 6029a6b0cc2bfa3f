"""The tenant's contact policy and the send ledger its frequency caps read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from crm_campaigns.domain.contact_policy import ContactPolicy
from crm_campaigns.domain.policy import ALLOW, Decision, Verdict
from crm_campaigns.repositories.collections import (
    CONTACT_LEDGER,
    CONTACT_POLICIES,
    GOVERNANCE_COUNTERS,
    LEDGER_RETENTION,
)
from crm_shared import (
    Database,
    Session,
    TenantScopedCollection,
    utc_now,
)


class ContactPolicyRepository:
    """The tenant's contact policy and the tally of what it held back."""

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._policies = TenantScopedCollection(database[CONTACT_POLICIES], tenant_id)
        self._counters = TenantScopedCollection(database[GOVERNANCE_COUNTERS], tenant_id)

    async def get(self, *, session: Session | None = None) -> ContactPolicy:
        """The tenant's policy; the permissive default when none was set."""
        return await self.stored(session=session) or ContactPolicy()

    async def stored(self, *, session: Session | None = None) -> ContactPolicy | None:
        """The policy the tenant set, if it set one."""
        document = await self._policies.find_one({}, session=session)
        if document is None:
            return None
        return ContactPolicy.model_validate(document["policy"])

    async def put(self, policy: ContactPolicy, updated_by: str) -> None:
        await self._policies.update_one(
            {},
            {
                "$set": {
                    "policy": policy.model_dump(mode="json"),
                    "updated_by": updated_by,
                    "updated_at": utc_now(),
                }
            },
            upsert=True,
        )

    async def count_outcome(
        self, verdict: str, reason: str, *, session: Session | None = None
    ) -> None:
        """Adds one to the tally of a verdict for a reason (e.g. `defer`, `quiet_hours`)."""
        await self._counters.update_one(
            {}, {"$inc": {f"outcomes.{verdict}.{reason}": 1}}, upsert=True, session=session
        )

    async def outcomes(self) -> dict[str, int]:
        """Every tally as `<verdict>.<reason>` -> count."""
        document = await self._counters.find_one({})
        by_verdict: dict[str, dict[str, int]] = (document or {}).get("outcomes", {})
        return {
            f"{verdict}.{reason}": int(count)
            for verdict, reasons in by_verdict.items()
            for reason, count in reasons.items()
        }


class LedgerContentionError(RuntimeError):
    """A candidate's send ledger kept changing under us; the message is retried later."""


class ContactLedger:
    """Each candidate's recent marketing sends, shared by every sequence and broadcast.

    A send is reserved in the ledger before the message goes out, with a conditional update on
    the ledger's version: two dispatchers deciding for one candidate at once cannot both take
    the last slot, because the second one's update finds the version changed and decides again.
    """

    def __init__(self, database: Database, tenant_id: str) -> None:
        self._ledgers = TenantScopedCollection(database[CONTACT_LEDGER], tenant_id)

    async def sends(self, candidate_id: str) -> list[datetime]:
        """When the candidate's recent marketing messages were sent."""
        document = await self._ledgers.find_one({"candidate_id": candidate_id})
        return [entry["at"] for entry in (document or {}).get("sends", [])]

    async def reserve(
        self,
        candidate_id: str,
        message_id: str,
        decide: Callable[[list[datetime]], Decision],
        *,
        now: datetime,
        max_rounds: int = 20,
    ) -> Decision:
        """Reserves a slot for `message_id` if `decide` allows it given the recent sends."""
        for _ in range(max_rounds):
            document = await self._ledgers.find_one({"candidate_id": candidate_id})
            entries: list[dict[str, Any]] = (document or {}).get("sends", [])
            if any(entry["message_id"] == message_id for entry in entries):
                return ALLOW  # reserved by an earlier attempt of this message
            decision = decide([entry["at"] for entry in entries])
            if decision.verdict is not Verdict.ALLOW:
                return decision
            kept = [entry for entry in entries if entry["at"] > now - LEDGER_RETENTION]
            kept.append({"message_id": message_id, "at": now})
            if document is None:
                try:
                    await self._ledgers.insert_one(
                        {"candidate_id": candidate_id, "version": 1, "sends": kept}
                    )
                except DuplicateKeyError:
                    continue
                return decision
            updated = await self._ledgers.update_one(
                {"candidate_id": candidate_id, "version": document["version"]},
                {"$set": {"sends": kept}, "$inc": {"version": 1}},
            )
            if updated.modified_count:
                return decision
        raise LedgerContentionError(f"the send ledger of {candidate_id} is contended")

    async def release(self, candidate_id: str, message_id: str) -> None:
        """Gives back the slot of a message that was finally not sent."""
        await self._ledgers.update_one(
            {"candidate_id": candidate_id},
            {"$pull": {"sends": {"message_id": message_id}}, "$inc": {"version": 1}},
        )

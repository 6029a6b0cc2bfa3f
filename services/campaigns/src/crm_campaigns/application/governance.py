"""Contact governance at send time: the suppression list and the tenant's contact policy.

The dispatcher asks right before a message leaves, so whatever changed after the message was
queued (an unsubscribe, a bounce, an erasure, another campaign's mail) still counts:

- `suppressed` checks a batch against the suppression list with one query per tenant: nothing
  goes to an address that bounced, was erased or was suppressed by hand, and no marketing mail
  to one that unsubscribed (the opt-in confirmation it asked for may still go).
- `contact_policy` applies the frequency cap and quiet hours to marketing mail. An allowed
  message takes its slot in the candidate's send ledger atomically (see `ContactLedger`), so
  two messages for one candidate deciding at once cannot both take the last slot. A message
  held back is deferred or skipped; the reason is counted per tenant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from crm_campaigns.application.policy_release import to_millis
from crm_campaigns.domain.contact_policy import (
    ContactPolicy,
    PolicyRelease,
    changes_timing,
    decide,
)
from crm_campaigns.domain.models import Message, MessageCategory, Recipient, SuppressionReason
from crm_campaigns.domain.policy import ALLOW, Decision, SendCheck, SendRule, Verdict
from crm_campaigns.domain.suppression import (
    ListReason,
    Suppression,
    blocking_reason,
    email_sha256,
    named_candidate,
)
from crm_campaigns.repositories.collections import SUPPRESSIONS
from crm_campaigns.repositories.contact_policies import ContactLedger, ContactPolicyRepository
from crm_campaigns.repositories.policy_releases import PolicyReleaseRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_shared import Database, Wakeup, utc_now


class ContactGovernor:
    """Answers, for messages about to be sent, whether governance lets them go now."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def suppressed(self, messages: Sequence[Message]) -> dict[str, SuppressionReason]:
        """The messages (by id) the suppression list stops, with the reason."""
        stopped: dict[str, SuppressionReason] = {}
        by_tenant: dict[str, list[Message]] = {}
        for message in messages:
            if message.to_email:
                by_tenant.setdefault(message.tenant_id, []).append(message)
        for tenant_id, tenant_messages in by_tenant.items():
            hashes = {email_sha256(m.to_email or ""): m for m in tenant_messages}
            # One query for the tenant's whole batch; the filter names the tenant explicitly.
            listed: dict[str, set[ListReason]] = {}
            async for entry in self._database[SUPPRESSIONS].find(
                {"tenant_id": tenant_id, "email_sha256": {"$in": sorted(hashes)}}
            ):
                listed.setdefault(entry["email_sha256"], set()).add(ListReason(entry["reason"]))
            for message in tenant_messages:
                reasons = listed.get(email_sha256(message.to_email or ""), set())
                reason = blocking_reason(reasons, message.category)
                if reason is not None:
                    stopped[message.id] = SuppressionReason(reason.value)
        return stopped

    async def contact_policy(
        self, message: Message, recipient: Recipient | None, *, now: datetime
    ) -> Decision:
        """The frequency cap and quiet hours for one message; reserves its slot if allowed."""
        if message.category is not MessageCategory.MARKETING:
            return ALLOW
        policies = ContactPolicyRepository(self._database, message.tenant_id)
        # Sends are recorded even without a cap, so a cap set later counts them.
        policy = await policies.get()
        time_zone = recipient.time_zone if recipient else None
        decision = await ContactLedger(self._database, message.tenant_id).reserve(
            message.candidate_id,
            message.id,
            lambda sends: decide(policy, now=now, time_zone=time_zone, recent_sends=sends),
            now=now,
        )
        if decision.verdict is not Verdict.ALLOW and decision.reason is not None:
            await policies.count_outcome(decision.verdict.value, str(decision.reason))
        return decision


def suppression_rule(governor: ContactGovernor) -> SendRule:
    """The send rule of the suppression list (see `ContactGovernor.suppressed`)."""

    async def suppression_list(checks: Sequence[SendCheck]) -> Mapping[str, Decision]:
        stopped = await governor.suppressed([check.message for check in checks])
        return {message_id: Decision.skip(reason) for message_id, reason in stopped.items()}

    return suppression_list


def contact_policy_rule(governor: ContactGovernor) -> SendRule:
    """The send rule of the contact policy; it goes last, so only a message every other rule
    lets through takes a slot of the frequency cap."""

    async def contact_policy(checks: Sequence[SendCheck]) -> Mapping[str, Decision]:
        decided: dict[str, Decision] = {}
        for check in checks:
            decision = await governor.contact_policy(check.message, check.recipient, now=check.now)
            if decision.verdict is Verdict.SKIP:
                decided[check.message.id] = Decision.skip(SuppressionReason.FREQUENCY_CAP)
            elif decision.verdict is Verdict.DEFER:
                decided[check.message.id] = decision
        return decided

    return contact_policy


@dataclass(frozen=True)
class SuppressionList:
    """One tenant's suppression list as people edit it: entries added, read and lifted, each
    naming the candidate whose address it is where that is known."""

    suppressions: SuppressionRepository
    recipients: RecipientRepository

    async def add(self, suppression: Suppression) -> bool:
        """Suppresses the address for the reason; False when it already was. An entry naming
        no candidate names the one holding the address, if the tenant has one on file."""
        if suppression.candidate_id is None:
            holder = named_candidate(await self.recipients.holders_of(suppression.email_sha256))
            if holder is not None:
                suppression = suppression.model_copy(update={"candidate_id": holder})
        return await self.suppressions.add(suppression)

    async def get(self, suppression_id: str) -> Suppression | None:
        """A listed entry, or one someone lifted (a `LiftedSuppression`)."""
        return await self.suppressions.get(suppression_id) or await self.suppressions.lifted(
            suppression_id
        )

    async def lift(self, suppression_id: str, lifted_by: str) -> bool:
        """Takes the entry off the list, keeping what it was; False when there was none."""
        return await self.suppressions.lift(suppression_id, lifted_by=lifted_by, at=utc_now())

    async def _candidate(self, candidate_id: str | None) -> tuple[str, list[str]] | None:
        if candidate_id is None:
            return None
        recipient = await self.recipients.get(candidate_id)
        return candidate_id, list(recipient.email_sha256) if recipient else []

    async def page(
        self,
        *,
        email_sha256: str | None,
        reason: ListReason | None,
        after: str | None,
        limit: int,
        candidate_id: str | None = None,
    ) -> list[Suppression]:
        """Up to `limit` entries, oldest first, after the id `after`, optionally of one address
        (by hash), reason or candidate (the entries naming them or any of their addresses)."""
        return await self.suppressions.page(
            email_sha256=email_sha256,
            reason=reason,
            after=after,
            limit=limit,
            candidate=await self._candidate(candidate_id),
        )

    async def walk(
        self,
        *,
        email_sha256: str | None,
        reason: ListReason | None,
        candidate_id: str | None,
        batch: int,
    ) -> AsyncIterator[list[Suppression]]:
        """Every entry `page` would list, `batch` at a time (an export)."""
        async for entries in self.suppressions.walk(
            email_sha256=email_sha256,
            reason=reason,
            candidate=await self._candidate(candidate_id),
            batch=batch,
        ):
            yield entries

    async def names(self, entries: Sequence[Suppression]) -> dict[str, str]:
        """The names of the candidates `entries` name, by id, in one read (a page's worth);
        a candidate no longer on file (erased) has none."""
        ids = sorted({entry.candidate_id for entry in entries if entry.candidate_id})
        found = await self.recipients.many(ids)
        return {
            candidate_id: name
            for candidate_id, recipient in found.items()
            if (name := " ".join(filter(None, (recipient.first_name, recipient.last_name))))
        }


@dataclass(frozen=True)
class ContactPolicies:
    """One tenant's contact policy (frequency cap, quiet hours) and how often it applied."""

    policies: ContactPolicyRepository
    releases: PolicyReleaseRepository
    # Wakes this process's `policy-release` worker (others poll).
    policy_changed: Wakeup | None = None

    async def get(self) -> ContactPolicy:
        return await self.policies.get()

    async def put(self, policy: ContactPolicy, updated_by: str) -> None:
        """Replaces the policy. A change of when mail may go (the cap, quiet hours, their zone,
        `on_limit`) re-evaluates the mail the old policy holds, in the background
        (`application/policy_release.py`); the soft-bounce limit alone does not."""
        before = await self.policies.get()
        await self.policies.put(policy, updated_by)
        if changes_timing(before, policy):
            now = to_millis(utc_now())
            await self.releases.request(await self.releases.held(now), now)
            if self.policy_changed is not None:
                self.policy_changed.notify()

    async def release(self) -> PolicyRelease | None:
        """The latest re-evaluation of held mail, if the policy ever changed how mail waits."""
        return await self.releases.current()

    async def outcomes(self) -> dict[str, int]:
        """How often the policy deferred or skipped a message, by verdict and reason."""
        return await self.policies.outcomes()

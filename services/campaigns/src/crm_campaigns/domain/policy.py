"""The one place that decides whether a message may leave right now.

The mail dispatcher asks `SendPolicy.may_send` about every claimed message immediately before
handing it to SMTP, after the message was rendered and queued, so a fact that changed meanwhile
(consent withdrawn, an address suppressed, a frequency cap reached, quiet hours begun) still
stops it. Each rule looks at a whole batch at once, so a rule that needs the database makes one
query per batch, not one per message, and answers only for the messages it objects to:

- `skip`: the message will never be sent; it ends as `suppressed` with the reason.
- `defer`: not now; it goes back to the queue until `retry_at` (no delivery attempt is counted).

The first rule (in order) that objects to a message decides; a message no rule objects to is
allowed. Rules are composed in `main.create_app`; new rules are added there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from crm_campaigns.domain.models import Message, MessageCategory, Recipient, SuppressionReason


class Verdict(StrEnum):
    ALLOW = "allow"
    DEFER = "defer"
    SKIP = "skip"


@dataclass(frozen=True)
class Decision:
    """What a rule decided about one message; `retry_at` only for `defer`."""

    verdict: Verdict
    reason: SuppressionReason | str | None = None
    retry_at: datetime | None = None

    @classmethod
    def skip(cls, reason: SuppressionReason | str) -> Decision:
        return cls(Verdict.SKIP, reason)

    @classmethod
    def defer(cls, reason: SuppressionReason | str, retry_at: datetime) -> Decision:
        return cls(Verdict.DEFER, reason, retry_at)


ALLOW = Decision(Verdict.ALLOW)


@dataclass(frozen=True)
class SendCheck:
    """A message about to be sent, with its recipient as the projection knows them now."""

    message: Message
    recipient: Recipient | None
    now: datetime


# A rule answers for the messages (by id) it objects to; silence means "fine by me".
SendRule = Callable[[Sequence[SendCheck]], Awaitable[Mapping[str, Decision]]]


async def require_email_address(checks: Sequence[SendCheck]) -> Mapping[str, Decision]:
    """A message without an address cannot be sent."""
    return {
        check.message.id: Decision.skip(SuppressionReason.NO_EMAIL_ADDRESS)
        for check in checks
        if not check.message.to_email
    }


async def require_active_candidate(checks: Sequence[SendCheck]) -> Mapping[str, Decision]:
    """No marketing mail to an archived (or merged) record; transactional mail the person asked
    for still goes."""
    return {
        check.message.id: Decision.skip(SuppressionReason.ARCHIVED)
        for check in checks
        if check.message.category is MessageCategory.MARKETING
        and check.recipient is not None
        and not check.recipient.active
    }


async def require_marketing_consent(checks: Sequence[SendCheck]) -> Mapping[str, Decision]:
    """No marketing mail without the candidate's current consent (an unknown candidate has none).

    Transactional mail (an opt-in confirmation the person asked for) needs no marketing consent.
    """
    return {
        check.message.id: Decision.skip(SuppressionReason.NO_MARKETING_CONSENT)
        for check in checks
        if check.message.category is MessageCategory.MARKETING
        and (check.recipient is None or not check.recipient.marketing_consent)
    }


DEFAULT_RULES: tuple[SendRule, ...] = (require_email_address, require_marketing_consent)


class SendPolicy:
    """Runs the rules in order over a batch; the first objection to a message decides it."""

    def __init__(self, rules: Sequence[SendRule] = DEFAULT_RULES) -> None:
        self.rules: list[SendRule] = list(rules)

    async def may_send(self, checks: Sequence[SendCheck]) -> dict[str, Decision]:
        """A decision for every message of the batch, by message id."""
        decided: dict[str, Decision] = {}
        for rule in self.rules:
            pending = [check for check in checks if check.message.id not in decided]
            if not pending:
                break
            for message_id, decision in (await rule(pending)).items():
                if decision.verdict is not Verdict.ALLOW:
                    decided.setdefault(message_id, decision)
        return {check.message.id: decided.get(check.message.id, ALLOW) for check in checks}

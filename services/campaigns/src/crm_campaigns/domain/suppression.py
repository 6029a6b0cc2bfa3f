"""The suppression list: addresses the tenant must not mail, keyed by a hash of the address.

Entries hold the SHA-256 of the normalised address, never the address itself, so the list can
outlive an erasure (an erased person must stay unmailable) without keeping their data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from crm_campaigns.domain.models import MessageCategory
from crm_shared import email_sha256, new_id, utc_now


class ListReason(StrEnum):
    """Why an address is on the suppression list."""

    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    # The person reported our mail as spam (a provider's feedback loop).
    COMPLAINED = "complained"
    ERASED = "erased"
    MANUAL = "manual"


__all__ = [
    "LiftedSuppression",
    "ListReason",
    "Suppression",
    "blocking_reason",
    "email_sha256",
    "named_candidate",
]

# An unsubscribed person may still receive the confirmation of an opt-in they asked for.
_TRANSACTIONAL_ALLOWED = frozenset({ListReason.UNSUBSCRIBED})


def blocking_reason(reasons: set[ListReason], category: MessageCategory) -> ListReason | None:
    """The suppression that stops a message of `category`, or None when it may be sent."""
    for reason in (
        ListReason.ERASED,
        ListReason.BOUNCED,
        ListReason.COMPLAINED,
        ListReason.MANUAL,
        ListReason.UNSUBSCRIBED,
    ):
        if reason not in reasons:
            continue
        if category is MessageCategory.TRANSACTIONAL and reason in _TRANSACTIONAL_ALLOWED:
            continue
        return reason
    return None


class Suppression(BaseModel):
    """One reason one address of a tenant is suppressed."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    email_sha256: str
    reason: ListReason
    source: str = Field(description="What put it there, e.g. `consent.changed`, `dsn`, a user.")
    candidate_id: str | None = None
    message_id: str | None = None
    note: str | None = None
    created_at: datetime = Field(default_factory=utc_now)


class LiftedSuppression(Suppression):
    """An entry someone lifted, kept as it was listed with who lifted it and when: the audit
    log names only the entry's id, and this is what that id stood for."""

    lifted_at: datetime
    lifted_by: str


def named_candidate(owners: Sequence[tuple[str, bool]]) -> str | None:
    """The candidate a hand-made entry names, from the `(candidate_id, active)` of every
    candidate holding the address: an active record before an archived or merged one, then
    the lowest id (so the same entry names the same person whatever order the store answers
    in); None when no candidate holds it."""
    if not owners:
        return None
    return min(owners, key=lambda owner: (not owner[1], owner[0]))[0]

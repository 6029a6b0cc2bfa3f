"""Exit conditions as the candidate's standing, not only as events.

An exit event (a hire, an application, a reply, an unsubscribe) ends the enrolments in progress
when it arrives. That alone misses an enrolment that starts after the event, or one a merge
moves onto a record the event was about: the person was mailed although they were hired. So
what the events said is also kept as the candidate's standing, and an enrolment is checked
against it before it starts and before each of its steps.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from crm_campaigns.domain.models import ExitReason, SuppressionReason


@dataclass(frozen=True)
class CandidateStanding:
    """What campaigns knows of a candidate that ends (or keeps them out of) a sequence."""

    # Hired through an application of a connected ATS (not the ATS's history).
    hired: bool = False
    # An application in progress: applied recently and neither rejected nor hired since.
    applying: bool = False
    # An address of the candidate is on the suppression list as unsubscribed.
    unsubscribed: bool = False
    # The latest reply to one of our messages.
    replied_at: datetime | None = None


def exit_reason(
    exit_on: Collection[ExitReason],
    standing: CandidateStanding,
    *,
    enrolled_at: datetime | None,
) -> ExitReason | None:
    """Why an enrolment (started at `enrolled_at`; None: about to start) must end now, of the
    reasons the sequence exits on; None if it may go on.

    Hired, applying and unsubscribed are states: they keep a candidate out and end an enrolment
    whenever they hold. A reply is an answer to this enrolment only when it came after the
    enrolment started: one to an earlier mail keeps nobody out of a later sequence.
    """
    replied_since = (
        enrolled_at is not None
        and standing.replied_at is not None
        and standing.replied_at >= enrolled_at
    )
    for reason, holds in (
        (ExitReason.HIRED, standing.hired),
        (ExitReason.APPLIED, standing.applying),
        (ExitReason.UNSUBSCRIBED, standing.unsubscribed),
        (ExitReason.REPLIED, replied_since),
    ):
        if holds and reason in exit_on:
            return reason
    return None


# Suppressions that will not go away by waiting: the enrolment ends at the send step with the
# reason. A frequency cap defers (or skips one mail) and an archived record's enrolments follow
# the record (a merge moves them), so neither ends one.
_LASTING_SUPPRESSIONS: dict[str, ExitReason] = {
    SuppressionReason.NO_MARKETING_CONSENT.value: ExitReason.NO_MARKETING_CONSENT,
    SuppressionReason.NO_EMAIL_ADDRESS.value: ExitReason.NO_EMAIL_ADDRESS,
    SuppressionReason.UNSUBSCRIBED.value: ExitReason.UNSUBSCRIBED,
    SuppressionReason.BOUNCED.value: ExitReason.BOUNCED,
    SuppressionReason.COMPLAINED.value: ExitReason.COMPLAINED,
    SuppressionReason.ERASED.value: ExitReason.ERASED,
    SuppressionReason.MANUAL.value: ExitReason.SUPPRESSED,
}


def suppression_exit(suppression_reason: str) -> ExitReason | None:
    """Why an enrolment ends when its send step's message was suppressed for
    `suppression_reason`; None when the reason does not last (the enrolment goes on)."""
    return _LASTING_SUPPRESSIONS.get(suppression_reason)

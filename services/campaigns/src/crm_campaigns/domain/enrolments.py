"""Re-entry: whether a candidate may be enrolled in a sequence again."""

from __future__ import annotations

from datetime import datetime, timedelta

from crm_campaigns.domain.models import (
    ENROLMENTS_IN_PROGRESS,
    Enrolment,
    EnrolmentRefused,
    ReentryPolicy,
    Sequence,
)


def reentry_refusal(
    sequence: Sequence, latest: Enrolment, *, now: datetime
) -> EnrolmentRefused | None:
    """Why the candidate may not enter the sequence again after `latest`; None if they may."""
    if latest.status in ENROLMENTS_IN_PROGRESS:
        return EnrolmentRefused.ALREADY_ACTIVE
    policy = sequence.reentry.policy
    if policy is ReentryPolicy.NEVER:
        return EnrolmentRefused.REENTRY_NOT_ALLOWED
    if policy is ReentryPolicy.AFTER_DAYS:
        ended_at = latest.ended_at or latest.enrolled_at
        if now < ended_at + timedelta(days=sequence.reentry.days):
            return EnrolmentRefused.REENTRY_TOO_SOON
    return None

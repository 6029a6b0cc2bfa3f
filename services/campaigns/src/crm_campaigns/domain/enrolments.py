"""Re-entry: whether a candidate may be enrolled in a sequence again; pausing and resuming one
enrolment on its own."""

from __future__ import annotations

from datetime import datetime, timedelta

from crm_campaigns.domain.models import (
    ENROLMENTS_IN_PROGRESS,
    Enrolment,
    EnrolmentRefused,
    EnrolmentStatus,
    ReentryPolicy,
    Sequence,
    SequenceStatus,
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


class EnrolmentHoldRefused(ValueError):
    """An enrolment cannot be paused or resumed on its own in the state it is in."""


def paused_on_its_own(enrolment: Enrolment) -> bool:
    """Whether a person paused this enrolment (not only its sequence)."""
    return enrolment.status is EnrolmentStatus.PAUSED and enrolment.paused_by is not None


def check_pausable(enrolment: Enrolment) -> None:
    """An enrolment in progress may be paused on its own: one that is active or waiting, or one
    paused with its sequence (it then stays paused when the sequence resumes). A failed one
    waits for a retry already; an ended one has nothing left to pause."""
    whose = f"the enrolment of candidate {enrolment.candidate_id}"
    if paused_on_its_own(enrolment):
        raise EnrolmentHoldRefused(f"{whose} is paused already")
    if enrolment.status not in (EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED):
        advice = " (retry or remove it)" if enrolment.status is EnrolmentStatus.FAILED else ""
        raise EnrolmentHoldRefused(
            f"{whose} is {enrolment.status.value}: only an enrolment in progress can be "
            f"paused{advice}"
        )


def status_on_resume(enrolment: Enrolment, sequence_status: SequenceStatus) -> EnrolmentStatus:
    """The status an enrolment paused on its own resumes to: active, or paused still while its
    sequence is paused (it then goes on when the sequence resumes)."""
    whose = f"the enrolment of candidate {enrolment.candidate_id}"
    if not paused_on_its_own(enrolment):
        if enrolment.status is EnrolmentStatus.PAUSED:
            raise EnrolmentHoldRefused(
                f"{whose} is paused with its sequence: it resumes when the sequence does"
            )
        raise EnrolmentHoldRefused(f"{whose} is {enrolment.status.value}, not paused on its own")
    if sequence_status is SequenceStatus.PAUSED:
        return EnrolmentStatus.PAUSED
    return EnrolmentStatus.ACTIVE


# An ATS change older than this when it reaches campaigns is history (a backfill of the ATS's
# past, a webhook replayed long after): it enrols nobody and ends nothing. Connecting an ATS
# must not mail every applicant rejected in the last ten years.
ATS_CHANGE_HORIZON = timedelta(days=7)


def ats_change_is_current(occurred_at: datetime | None, *, now: datetime) -> bool:
    """Whether an ATS change dated `occurred_at` (undated: current) should still start or end
    sequences at `now`."""
    return occurred_at is None or now - occurred_at <= ATS_CHANGE_HORIZON

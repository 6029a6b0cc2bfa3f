"""Re-entry: a candidate in progress is never enrolled twice; after an ended enrolment the
sequence's re-entry policy decides. Pausing one enrolment on its own, and resuming it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_campaigns.domain.enrolments import (
    EnrolmentHoldRefused,
    check_pausable,
    paused_on_its_own,
    reentry_refusal,
    status_on_resume,
)
from crm_campaigns.domain.models import (
    Enrolment,
    EnrolmentRefused,
    EnrolmentStatus,
    ManualTrigger,
    Reentry,
    ReentryPolicy,
    Sequence,
    SequenceStatus,
    WaitStep,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 12, tzinfo=UTC)


def sequence(policy: ReentryPolicy, days: int = 0) -> Sequence:
    return Sequence(
        tenant_id="acme",
        name="Nurture",
        trigger=ManualTrigger(),
        steps=[WaitStep(days=1)],
        reentry=Reentry(policy=policy, days=days),
        created_by="recruiter",
    )


def ended(status: EnrolmentStatus, *, days_ago: int) -> Enrolment:
    return Enrolment(
        id="e1",
        tenant_id="acme",
        sequence_id="s1",
        candidate_id="c1",
        status=status,
        enrolled_at=NOW - timedelta(days=days_ago + 10),
        ended_at=NOW - timedelta(days=days_ago),
    )


@pytest.mark.parametrize(
    "status", [EnrolmentStatus.ACTIVE, EnrolmentStatus.FAILED, EnrolmentStatus.PAUSED]
)
def test_an_enrolment_in_progress_refuses_whatever_the_policy(status: EnrolmentStatus) -> None:
    latest = ended(status, days_ago=100)
    refused = reentry_refusal(sequence(ReentryPolicy.ALWAYS), latest, now=NOW)
    assert refused is EnrolmentRefused.ALREADY_ACTIVE


def test_never_refuses_after_an_ended_enrolment() -> None:
    latest = ended(EnrolmentStatus.COMPLETED, days_ago=100)
    refused = reentry_refusal(sequence(ReentryPolicy.NEVER), latest, now=NOW)
    assert refused is EnrolmentRefused.REENTRY_NOT_ALLOWED


def test_after_days_refuses_until_the_days_have_passed_since_it_ended() -> None:
    rule = sequence(ReentryPolicy.AFTER_DAYS, days=30)
    too_soon = ended(EnrolmentStatus.EXITED, days_ago=29)
    assert reentry_refusal(rule, too_soon, now=NOW) is EnrolmentRefused.REENTRY_TOO_SOON
    assert reentry_refusal(rule, ended(EnrolmentStatus.EXITED, days_ago=30), now=NOW) is None


def test_always_admits_after_an_ended_enrolment() -> None:
    latest = ended(EnrolmentStatus.COMPLETED, days_ago=0)
    assert reentry_refusal(sequence(ReentryPolicy.ALWAYS), latest, now=NOW) is None


def in_progress(status: EnrolmentStatus, paused_by: str | None = None) -> Enrolment:
    return Enrolment(
        id="e1",
        tenant_id="acme",
        sequence_id="s1",
        candidate_id="c1",
        status=status,
        paused_by=paused_by,
    )


@pytest.mark.parametrize("status", [EnrolmentStatus.ACTIVE, EnrolmentStatus.PAUSED])
def test_an_enrolment_in_progress_may_be_paused_on_its_own(status: EnrolmentStatus) -> None:
    check_pausable(in_progress(status))  # paused with its sequence: held beyond its resume


@pytest.mark.parametrize(
    ("enrolment", "said"),
    [
        (in_progress(EnrolmentStatus.PAUSED, "rita"), "paused already"),
        (in_progress(EnrolmentStatus.FAILED), "failed: only an enrolment in progress"),
        (in_progress(EnrolmentStatus.COMPLETED), "completed: only an enrolment in progress"),
        (in_progress(EnrolmentStatus.EXITED), "exited: only an enrolment in progress"),
    ],
)
def test_an_enrolment_paused_already_or_not_in_progress_is_not_paused(
    enrolment: Enrolment, said: str
) -> None:
    with pytest.raises(EnrolmentHoldRefused, match=said):
        check_pausable(enrolment)


def test_a_paused_enrolment_resumes_to_active_or_waits_with_its_paused_sequence() -> None:
    held = in_progress(EnrolmentStatus.PAUSED, "rita")
    assert paused_on_its_own(held)
    assert status_on_resume(held, SequenceStatus.ACTIVE) is EnrolmentStatus.ACTIVE
    assert status_on_resume(held, SequenceStatus.PAUSED) is EnrolmentStatus.PAUSED
    with_sequence = in_progress(EnrolmentStatus.PAUSED)
    assert not paused_on_its_own(with_sequence)
    with pytest.raises(EnrolmentHoldRefused, match="resumes when the sequence does"):
        status_on_resume(with_sequence, SequenceStatus.ACTIVE)
    # Who paused it no longer counts once it ended (an exit condition ended it meanwhile).
    ended = in_progress(EnrolmentStatus.EXITED, "rita")
    assert not paused_on_its_own(ended)
    with pytest.raises(EnrolmentHoldRefused, match="exited, not paused on its own"):
        status_on_resume(ended, SequenceStatus.ACTIVE)

"""Re-entry: a candidate in progress is never enrolled twice; after an ended enrolment the
sequence's re-entry policy decides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_campaigns.domain.enrolments import reentry_refusal
from crm_campaigns.domain.models import (
    Enrolment,
    EnrolmentRefused,
    EnrolmentStatus,
    ManualTrigger,
    Reentry,
    ReentryPolicy,
    Sequence,
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

"""Exit conditions as the candidate's standing: what keeps a candidate out of a sequence and
what ends an enrolment in progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_campaigns.domain.exits import CandidateStanding, exit_reason, suppression_exit
from crm_campaigns.domain.models import DEFAULT_EXIT_ON, ExitReason, SuppressionReason

START = datetime(2026, 5, 4, 15, 11, tzinfo=UTC)


def test_a_hired_person_is_kept_out_and_their_enrolment_ends() -> None:
    hired = CandidateStanding(hired=True)
    assert exit_reason(DEFAULT_EXIT_ON, hired, enrolled_at=None) is ExitReason.HIRED
    assert exit_reason(DEFAULT_EXIT_ON, hired, enrolled_at=START) is ExitReason.HIRED


def test_only_the_reasons_the_sequence_exits_on_count() -> None:
    standing = CandidateStanding(hired=True, applying=True)
    assert exit_reason([ExitReason.APPLIED], standing, enrolled_at=START) is ExitReason.APPLIED
    assert exit_reason([ExitReason.REPLIED], standing, enrolled_at=START) is None
    assert exit_reason([], CandidateStanding(unsubscribed=True), enrolled_at=None) is None
    assert (
        exit_reason(DEFAULT_EXIT_ON, CandidateStanding(unsubscribed=True), enrolled_at=None)
        is ExitReason.UNSUBSCRIBED
    )


def test_a_reply_ends_only_an_enrolment_it_came_during() -> None:
    replied = CandidateStanding(replied_at=START)
    assert exit_reason(DEFAULT_EXIT_ON, replied, enrolled_at=None) is None
    later = START + timedelta(days=1)
    assert exit_reason(DEFAULT_EXIT_ON, replied, enrolled_at=later) is None
    earlier = START - timedelta(minutes=1)
    assert exit_reason(DEFAULT_EXIT_ON, replied, enrolled_at=earlier) is ExitReason.REPLIED


def test_nothing_holds_for_a_plain_candidate() -> None:
    assert exit_reason(DEFAULT_EXIT_ON, CandidateStanding(), enrolled_at=START) is None


def test_a_send_suppressed_for_a_lasting_reason_ends_the_enrolment_with_it() -> None:
    assert suppression_exit(SuppressionReason.NO_MARKETING_CONSENT) is (
        ExitReason.NO_MARKETING_CONSENT
    )
    assert suppression_exit(SuppressionReason.UNSUBSCRIBED) is ExitReason.UNSUBSCRIBED
    assert suppression_exit(SuppressionReason.MANUAL) is ExitReason.SUPPRESSED
    # A frequency cap is no reason to give up on the person; an archived record's enrolments
    # follow the record (a merge moves them to the survivor).
    assert suppression_exit(SuppressionReason.FREQUENCY_CAP) is None
    assert suppression_exit(SuppressionReason.ARCHIVED) is None

"""The contact policy decides allow / defer / skip from the cap, quiet hours and time zones."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from crm_campaigns.domain.contact_policy import (
    ContactPolicy,
    FrequencyCap,
    LimitAction,
    PolicyReason,
    QuietHours,
    changes_timing,
    decide,
    earlier_release,
)
from crm_campaigns.domain.policy import Decision, Verdict

pytestmark = pytest.mark.unit

NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
CAP = FrequencyCap(max_messages=2, period_days=7)
NIGHTS = QuietHours(start=time(21, 0), end=time(8, 0))


def test_no_policy_allows_everything() -> None:
    decision = decide(ContactPolicy(), now=NOON, time_zone=None, recent_sends=[NOON] * 50)
    assert decision.verdict is Verdict.ALLOW
    assert decision.reason is None


def test_the_cap_counts_only_sends_inside_its_window() -> None:
    policy = ContactPolicy(frequency_cap=CAP)
    old = NOON - timedelta(days=7, seconds=1)
    recent = NOON - timedelta(days=1)
    assert (
        decide(policy, now=NOON, time_zone=None, recent_sends=[old, recent]).verdict
        is Verdict.ALLOW
    )
    full = decide(policy, now=NOON, time_zone=None, recent_sends=[old, recent, recent])
    assert full.verdict is Verdict.DEFER
    assert full.reason is PolicyReason.FREQUENCY_CAP


def test_a_full_cap_defers_until_the_oldest_counted_send_leaves_the_window() -> None:
    policy = ContactPolicy(frequency_cap=CAP)
    sends = [NOON - timedelta(days=6), NOON - timedelta(days=2), NOON - timedelta(days=1)]
    decision = decide(policy, now=NOON, time_zone=None, recent_sends=sends)
    # Three sends in the window, two allowed: the second oldest must leave it first.
    assert decision.retry_at == NOON - timedelta(days=2) + timedelta(days=7)
    assert (
        decide(policy, now=decision.retry_at, time_zone=None, recent_sends=sends).verdict
        is Verdict.ALLOW
    )


def test_skip_instead_of_defer_when_configured() -> None:
    policy = ContactPolicy(frequency_cap=CAP, on_limit=LimitAction.SKIP)
    decision = decide(policy, now=NOON, time_zone=None, recent_sends=[NOON, NOON])
    assert decision.verdict is Verdict.SKIP
    assert decision.reason is PolicyReason.FREQUENCY_CAP
    assert decision.retry_at is None


def test_quiet_hours_defer_to_the_morning_in_the_recipients_zone() -> None:
    policy = ContactPolicy(quiet_hours=NIGHTS)
    # 21:30 UTC is 23:30 in Berlin (summer time) and 17:30 in New York.
    evening = datetime(2026, 6, 10, 21, 30, tzinfo=UTC)
    berlin = decide(policy, now=evening, time_zone="Europe/Berlin", recent_sends=[])
    assert berlin.verdict is Verdict.DEFER
    assert berlin.reason is PolicyReason.QUIET_HOURS
    assert berlin.retry_at == datetime(2026, 6, 11, 6, 0, tzinfo=UTC)  # 08:00 CEST
    assert (
        decide(policy, now=evening, time_zone="America/New_York", recent_sends=[]).verdict
        is Verdict.ALLOW
    )


def test_quiet_hours_before_midnight_and_after_it() -> None:
    policy = ContactPolicy(quiet_hours=NIGHTS)
    early = datetime(2026, 6, 10, 3, 0, tzinfo=UTC)
    decision = decide(policy, now=early, time_zone="UTC", recent_sends=[])
    assert decision.retry_at == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    assert (
        decide(policy, now=early.replace(hour=8), time_zone="UTC", recent_sends=[]).verdict
        is Verdict.ALLOW
    )


def test_quiet_hours_across_the_spring_dst_change() -> None:
    # Berlin skips 02:00-03:00 on 29 March 2026; quiet hours end at 02:30, which does not exist.
    policy = ContactPolicy(quiet_hours=QuietHours(start=time(22, 0), end=time(2, 30)))
    night = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)  # 00:30 CET on the 29th
    decision = decide(policy, now=night, time_zone="Europe/Berlin", recent_sends=[])
    assert decision.verdict is Verdict.DEFER
    assert decision.retry_at is not None
    assert decision.retry_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    assert (
        decide(policy, now=decision.retry_at, time_zone="Europe/Berlin", recent_sends=[]).verdict
        is Verdict.ALLOW
    )


def test_quiet_hours_across_the_autumn_dst_change() -> None:
    policy = ContactPolicy(quiet_hours=NIGHTS)
    # 25 October 2026: Berlin goes from CEST (+2) to CET (+1) at 03:00.
    night = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 CEST
    decision = decide(policy, now=night, time_zone="Europe/Berlin", recent_sends=[])
    assert decision.retry_at == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)  # 08:00 CET


def test_a_cap_release_inside_quiet_hours_moves_on_to_the_morning() -> None:
    policy = ContactPolicy(frequency_cap=CAP, quiet_hours=NIGHTS)
    sends = [NOON - timedelta(days=7) + timedelta(hours=10), NOON - timedelta(days=1)]
    # The cap frees up at 22:00 UTC today, inside the quiet hours (UTC recipient).
    decision = decide(policy, now=NOON, time_zone="UTC", recent_sends=sends)
    assert decision.reason is PolicyReason.FREQUENCY_CAP
    assert decision.retry_at == datetime(2026, 6, 11, 8, 0, tzinfo=UTC)


def test_unknown_recipient_zones_fall_back_to_the_tenant_default() -> None:
    policy = ContactPolicy(quiet_hours=NIGHTS, default_time_zone="Asia/Tokyo")
    # 13:00 UTC is 22:00 in Tokyo.
    afternoon = datetime(2026, 6, 10, 13, 0, tzinfo=UTC)
    assert decide(policy, now=afternoon, time_zone="Mars/Olympus", recent_sends=[]).verdict is (
        Verdict.DEFER
    )
    assert (
        decide(policy, now=afternoon, time_zone="Europe/London", recent_sends=[]).verdict
        is Verdict.ALLOW
    )


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValidationError):
        ContactPolicy.model_validate({"default_time_zone": "Nowhere/Atlantis"})
    with pytest.raises(ValidationError):
        ContactPolicy.model_validate({"quiet_hours": {"start": "21:00", "end": "21:00"}})
    with pytest.raises(ValidationError):
        ContactPolicy.model_validate({"frequency_cap": {"max_messages": 0, "period_days": 7}})


def test_only_a_change_of_when_mail_may_go_re_evaluates_held_mail() -> None:
    strict = ContactPolicy(frequency_cap=CAP, quiet_hours=NIGHTS)
    assert changes_timing(strict, ContactPolicy())
    assert changes_timing(strict, strict.model_copy(update={"default_time_zone": "Asia/Tokyo"}))
    assert not changes_timing(strict, strict.model_copy(update={"soft_bounce_limit": 9}))


def test_a_held_message_is_brought_forward_never_pushed_back() -> None:
    week = NOON + timedelta(days=7)
    full = [NOON - timedelta(days=1), NOON - timedelta(days=2)]

    def release(policy: ContactPolicy, held_until: datetime) -> Decision | None:
        return earlier_release(
            policy, held_until=held_until, now=NOON, time_zone=None, recent_sends=full
        )

    allowed = release(ContactPolicy(), week)
    assert allowed is not None
    assert allowed.verdict is Verdict.ALLOW
    sooner = release(ContactPolicy(frequency_cap=CAP), week)
    assert sooner is not None
    assert sooner.retry_at == NOON + timedelta(days=5)
    # A stricter policy leaves the message's moment alone (the dispatcher decides at send time).
    assert release(ContactPolicy(frequency_cap=CAP), NOON + timedelta(hours=1)) is None

"""Delivery rules: error classes, backoff with jitter, the error threshold and the
send policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiosmtplib
import pytest

from crm_campaigns.application.handoff import DueMessageHints, SharedInterval
from crm_campaigns.domain.models import Message, Recipient, SuppressionReason
from crm_campaigns.domain.policy import Decision, SendCheck, SendPolicy, Verdict
from crm_campaigns.domain.sending import (
    ErrorThreshold,
    Outcome,
    classify_error,
    retry_delay,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_4xx_and_connection_errors_are_transient_and_5xx_permanent() -> None:
    assert classify_error(aiosmtplib.SMTPResponseException(451, "try later")) is Outcome.TRANSIENT
    assert classify_error(aiosmtplib.SMTPDataError(554, "rejected")) is Outcome.PERMANENT
    assert classify_error(aiosmtplib.SMTPServerDisconnected("gone")) is Outcome.TRANSIENT
    assert classify_error(ConnectionRefusedError()) is Outcome.TRANSIENT
    assert classify_error(aiosmtplib.SMTPTimeoutError("slow")) is Outcome.TRANSIENT
    # A server that refuses the connection's set-up (a 554 greeting, STARTTLS refused) says
    # nothing about the messages: they wait for it to be fixed.
    refused_tls = aiosmtplib.SMTPConnectResponseError(554, "TLS not available")
    assert classify_error(refused_tls) is Outcome.TRANSIENT
    refused = [aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@example.org")]
    assert classify_error(aiosmtplib.SMTPRecipientsRefused(refused)) is Outcome.PERMANENT
    greylisted = [aiosmtplib.SMTPRecipientRefused(450, "greylisted", "a@example.org")]
    assert classify_error(aiosmtplib.SMTPRecipientsRefused(greylisted)) is Outcome.TRANSIENT


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    base, cap = timedelta(seconds=5), timedelta(seconds=60)
    ceilings = [retry_delay(n, base=base, cap=cap, random_fraction=lambda: 1.0) for n in (1, 2, 3)]
    assert ceilings == [timedelta(seconds=5), timedelta(seconds=10), timedelta(seconds=20)]
    assert retry_delay(10, base=base, cap=cap, random_fraction=lambda: 1.0) == cap
    assert retry_delay(3, base=base, cap=cap, random_fraction=lambda: 0.5) == timedelta(seconds=10)
    jittered = {retry_delay(4, base=base, cap=cap) for _ in range(50)}
    assert len(jittered) > 1
    assert all(timedelta(0) <= d <= timedelta(seconds=40) for d in jittered)


def test_error_threshold_needs_the_minimum_sample_and_the_ratio() -> None:
    threshold = ErrorThreshold(min_sample=20, ratio=0.25)
    assert not threshold.exceeded(attempts=10, errors=10)
    assert not threshold.exceeded(attempts=20, errors=4)
    assert threshold.exceeded(attempts=20, errors=5)


def message(identifier: str, email: str | None = "a@example.org") -> Message:
    return Message(
        id=identifier,
        tenant_id="acme",
        candidate_id=f"c-{identifier}",
        template_id="t",
        to_email=email,
        subject="s",
        html="h",
        text="t",
    )


def recipient(identifier: str, consent: bool) -> Recipient:
    return Recipient(candidate_id=f"c-{identifier}", tenant_id="acme", marketing_consent=consent)


async def test_policy_allows_consented_mail_and_skips_the_rest_with_reasons() -> None:
    checks = [
        SendCheck(message("ok"), recipient("ok", True), NOW),
        SendCheck(message("no-consent"), recipient("no-consent", False), NOW),
        SendCheck(message("unknown"), None, NOW),
        SendCheck(message("no-address", email=None), recipient("no-address", True), NOW),
    ]
    decisions = await SendPolicy().may_send(checks)
    assert decisions["ok"].verdict is Verdict.ALLOW
    assert decisions["no-consent"] == Decision.skip(SuppressionReason.NO_MARKETING_CONSENT)
    assert decisions["unknown"] == Decision.skip(SuppressionReason.NO_MARKETING_CONSENT)
    assert decisions["no-address"] == Decision.skip(SuppressionReason.NO_EMAIL_ADDRESS)


async def test_the_first_objecting_rule_decides_and_later_rules_see_only_the_rest() -> None:
    seen: list[list[str]] = []
    later = NOW + timedelta(hours=8)

    async def quiet_hours(checks: object) -> dict[str, Decision]:
        return {"a": Decision.defer("quiet_hours", later)}

    async def recorder(checks: list[SendCheck]) -> dict[str, Decision]:
        seen.append([check.message.id for check in checks])
        return {"a": Decision.skip("never reached"), "b": Decision.skip("capped")}

    policy = SendPolicy([quiet_hours, recorder])  # type: ignore[list-item]
    decisions = await policy.may_send(
        [SendCheck(message(i), recipient(i, True), NOW) for i in ("a", "b", "c")]
    )
    assert decisions["a"] == Decision.defer("quiet_hours", later)
    assert decisions["b"] == Decision.skip("capped")
    assert decisions["c"].verdict is Verdict.ALLOW
    assert seen == [["b", "c"]]


def test_due_message_hints_come_out_oldest_first_and_drop_what_exceeds_the_capacity() -> None:
    hints = DueMessageHints(capacity=3)
    hints.add(["a", "b"])
    hints.add(["c", "d"])  # would make four: dropped whole, the due query finds them
    hints.add(["c"])
    assert len(hints) == 3
    assert hints.take(2) == ["a", "b"]
    assert hints.take(5) == ["c"]
    assert hints.take(1) == []


def test_with_ids_hinted_one_dispatcher_of_the_process_queries_per_interval() -> None:
    clock = [0.0]
    hints = DueMessageHints(query_interval=10, clock=lambda: clock[0])
    # Nothing hinted: whoever asks queries, every time.
    assert hints.should_query()
    assert hints.should_query()
    hints.add(["a", "b"])
    clock[0] = 5.0
    assert not hints.should_query()
    clock[0] = 10.0
    # The interval is up: the first dispatcher to ask queries, the next one takes hints.
    assert [hints.should_query(), hints.should_query()] == [True, False]
    hints.take(2)
    assert hints.should_query()


def test_a_shared_interval_lets_one_asker_through_per_interval() -> None:
    clock = [0.0]
    recovery = SharedInterval(10, clock=lambda: clock[0])
    # Four dispatchers ask at once: the first does the duty, the others skip it.
    assert [recovery.claim() for _ in range(4)] == [True, False, False, False]
    clock[0] = 9.9
    assert not recovery.claim()
    clock[0] = 10.0
    assert [recovery.claim(), recovery.claim()] == [True, False]

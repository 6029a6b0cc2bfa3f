"""Bounces (RFC 3464 DSNs, Postmark webhooks) and replies are read and matched to messages."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_campaigns.domain.inbound_mail import (
    InboundMailError,
    PostmarkBounce,
    PostmarkInbound,
    bounce_type_of,
    parse_dsn,
    referenced_message_ids,
)

pytestmark = pytest.mark.unit


def dsn(
    *,
    action: str = "failed",
    status: str = "5.1.1",
    original: str = "text/rfc822-headers",
    message_id: str = "enr1-0",
) -> bytes:
    """A DSN shaped like Postfix's (RFC 3464: report, status groups, returned headers)."""
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: talent@recruitcrm.local
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; nobody@example.org
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: User unknown

--B
Content-Type: {original}

From: Talent Team <talent@recruitcrm.local>
To: nobody@example.org
Subject: Hello
Message-ID: <{message_id}@recruitcrm.local>
X-CRM-Message-Id: {message_id}

--B--
""".encode()


def test_a_permanent_failure_is_a_hard_bounce_of_the_named_message() -> None:
    report = parse_dsn(dsn())
    assert report is not None
    assert report.bounce_type == "hard"
    assert report.message_ids == ["enr1-0"]
    assert report.recipient == "nobody@example.org"
    assert "User unknown" in report.reason


def test_the_original_may_come_back_whole() -> None:
    report = parse_dsn(dsn(original="message/rfc822", message_id="b-7"))
    assert report is not None
    assert report.message_ids == ["b-7"]


def test_transient_failures_and_delays_are_soft_and_deliveries_are_not_bounces() -> None:
    soft = parse_dsn(dsn(status="4.2.2"))
    assert soft is not None
    assert soft.bounce_type == "soft"
    delayed = parse_dsn(dsn(action="delayed", status="4.4.1"))
    assert delayed is not None
    assert delayed.bounce_type == "soft"
    assert parse_dsn(dsn(action="delivered", status="2.0.0")) is None
    assert bounce_type_of("failed", "") == "hard"
    assert bounce_type_of("relayed", "2.0.0") is None


def test_anything_but_a_dsn_is_refused() -> None:
    with pytest.raises(InboundMailError):
        parse_dsn(b"Subject: hi\r\n\r\njust a mail")
    with pytest.raises(InboundMailError):
        parse_dsn(b"")
    no_status = dsn().replace(b"message/delivery-status", b"text/plain")
    with pytest.raises(InboundMailError):
        parse_dsn(no_status)


def test_postmark_bounce_types_and_metadata() -> None:
    hard = PostmarkBounce.model_validate(
        {
            "RecordType": "Bounce",
            "Type": "HardBounce",
            "TypeCode": 1,
            "Email": "john@example.com",
            "Description": "The server was unable to deliver your message",
            "Details": "smtp;550 5.1.1 user unknown",
            "Metadata": {"crm-message-id": "m-1"},
        }
    ).report()
    assert hard is not None
    assert (hard.bounce_type, hard.message_ids) == ("hard", ["m-1"])
    soft = PostmarkBounce.model_validate(
        {"Type": "SoftBounce", "Email": "john@example.com"}
    ).report()
    assert soft is not None
    assert soft.bounce_type == "soft"
    assert soft.message_ids == []
    assert PostmarkBounce.model_validate(
        {"Type": "AutoResponder", "Email": "j@x.org"}
    ).report() is (None)
    with pytest.raises(ValidationError):
        PostmarkBounce.model_validate({"Email": "john@example.com"})


def test_replies_name_our_message_ids() -> None:
    assert referenced_message_ids("<a-1@recruitcrm.local>", "<x@y> <a-1@recruitcrm.local>") == [
        "a-1",
        "x",
    ]
    inbound = PostmarkInbound.model_validate(
        {
            "MessageID": "pm-1",
            "FromFull": {"Email": "ada@example.org"},
            "Headers": [
                {"Name": "In-Reply-To", "Value": "<enr1-0@recruitcrm.local>"},
                {"Name": "References", "Value": "<older@gmail.com> <enr1-0@recruitcrm.local>"},
            ],
        }
    )
    assert inbound.replied_to() == ["enr1-0", "older"]
    assert not inbound.automatic
    out_of_office = PostmarkInbound.model_validate(
        {
            "MessageID": "pm-2",
            "Headers": [
                {"Name": "In-Reply-To", "Value": "<enr1-0@recruitcrm.local>"},
                {"Name": "Auto-Submitted", "Value": "auto-replied"},
            ],
        }
    )
    assert out_of_office.automatic

"""Bounces (RFC 3464 DSNs, Postmark webhooks, SES notifications), spam complaints and replies are
read and matched to messages."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from pydantic import ValidationError

from crm_campaigns.domain.inbound_mail import (
    InboundMailError,
    PostmarkBounce,
    PostmarkInbound,
    SesNotification,
    bounce_type_of,
    parse_dsn,
    parse_reply,
    raw_mail_of_form,
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


def test_a_postmark_spam_complaint_is_a_complaint_not_a_bounce() -> None:
    webhook = PostmarkBounce.model_validate(
        {
            "RecordType": "SpamComplaint",
            "ID": 42,
            "Type": "SpamComplaint",
            "TypeCode": 100001,
            "Name": "Spam complaint",
            "MessageID": "00000000-0000-0000-0000-000000000000",
            "Email": "john@example.com",
            "Metadata": {"crm-message-id": "m-1"},
            "MessageStream": "outbound",
        }
    )
    assert webhook.is_complaint
    complaint = webhook.complaint()
    assert (complaint.message_ids, complaint.recipient) == (["m-1"], "john@example.com")
    bounce = PostmarkBounce.model_validate({"Type": "HardBounce", "Email": "j@x.org"})
    assert not bounce.is_complaint


def ses(
    kind: str, detail: Mapping[str, object], *, key: str = "notificationType"
) -> SesNotification:
    """An SES notification as AWS documents it, with the original headers included."""
    return SesNotification.model_validate(
        {
            key: kind,
            kind.lower(): detail,
            "mail": {
                "timestamp": "2026-12-02T09:59:38.237Z",
                "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
                "source": "talent@recruitcrm.example",
                "destination": ["jane@example.com"],
                "headersTruncated": False,
                "headers": [
                    {"name": "From", "value": "Talent <talent@recruitcrm.example>"},
                    {"name": "Message-ID", "value": "<b1-c1@recruitcrm.example>"},
                    {"name": "X-CRM-Message-Id", "value": "b1-c1"},
                ],
                "commonHeaders": {
                    "from": ["Talent <talent@recruitcrm.example>"],
                    "messageId": "<b1-c1@recruitcrm.example>",
                    "subject": "We are hiring",
                },
            },
        }
    )


def test_ses_bounces_are_hard_when_permanent_and_name_the_original_message() -> None:
    permanent = ses(
        "Bounce",
        {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {
                    "emailAddress": "jane@example.com",
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": "2026-12-02T10:00:00.000Z",
            "feedbackId": "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000",
        },
    ).bounce_report()
    assert permanent is not None
    assert (permanent.bounce_type, permanent.message_ids) == ("hard", ["b1-c1"])
    assert permanent.reason == "Permanent/General: smtp; 550 5.1.1 user unknown"
    assert permanent.recipient == "jane@example.com"
    for bounce_type in ("Transient", "Undetermined"):
        soft = ses(
            "Bounce",
            {
                "bounceType": bounce_type,
                "bounceSubType": "MailboxFull",
                "bouncedRecipients": [{"emailAddress": "jane@example.com"}],
            },
            key="eventType",  # a configuration set's event destination
        ).bounce_report()
        assert soft is not None
        assert soft.bounce_type == "soft"


def test_ses_complaints_except_not_spam_reports() -> None:
    detail: dict[str, object] = {
        "complainedRecipients": [{"emailAddress": "jane@example.com"}],
        "timestamp": "2026-12-02T10:00:00.000Z",
        "feedbackId": "0000013786031775-163e3910-53eb-4c8e-a04a-f29debf88a84-000000",
        "complaintFeedbackType": "abuse",
    }
    complaint = ses("Complaint", detail).complaint_report()
    assert complaint is not None
    assert (complaint.message_ids, complaint.feedback_type) == (["b1-c1"], "abuse")
    not_spam = ses("Complaint", detail | {"complaintFeedbackType": "not-spam"})
    assert not_spam.complaint_report() is None
    unspecified = ses("Complaint", {"complainedRecipients": detail["complainedRecipients"]})
    assert unspecified.complaint_report() is not None
    assert ses("Complaint", detail).bounce_report() is None


def test_without_original_headers_the_common_message_id_still_names_the_message() -> None:
    notification = SesNotification.model_validate(
        {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bouncedRecipients": [{"emailAddress": "jane@example.com"}],
            },
            "mail": {"messageId": "ses-id", "commonHeaders": {"messageId": "<b2-c9@x.example>"}},
        }
    )
    report = notification.bounce_report()
    assert report is not None
    assert report.message_ids == ["b2-c9"]
    bare = SesNotification.model_validate(
        {"notificationType": "Delivery", "mail": {"messageId": "ses-id"}}
    )
    assert (bare.bounce_report(), bare.complaint_report(), bare.message_ids()) == (None, None, [])


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


RAW_REPLY = """From: =?utf-8?q?Zo=C3=AB_M=C3=BCller?= <zoe@example.org>
To: talent@recruitcrm.local
Subject: Re: Hello Zoë
Message-ID: <CAF=abc123@mail.gmail.com>
In-Reply-To: <enr1-0@recruitcrm.local>
References: <older@gmail.com> <enr1-0@recruitcrm.local>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="A"

--A
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: quoted-printable

Ja, gerne! Gr=C3=BC=C3=9Fe

On Thu, 5 Dec 2026, Talent wrote:
> Hello Zo=C3=AB
--A
Content-Type: text/html; charset="utf-8"

<p>Ja, gerne!</p>
--A--
"""


def test_a_raw_reply_names_our_messages_and_keeps_what_the_person_wrote() -> None:
    report = parse_reply(RAW_REPLY.replace("\n", "\r\n").encode())
    assert report is not None
    assert report.message_ids == ["enr1-0", "older"]
    assert report.reply_id == "mime:<CAF=abc123@mail.gmail.com>"
    assert report.excerpt == "Ja, gerne! Grüße"
    # Without a Message-ID the reply is named by its content: the same mail posted again is
    # the same reply.
    anonymous = RAW_REPLY.replace("Message-ID: <CAF=abc123@mail.gmail.com>\n", "").encode()
    first, again = parse_reply(anonymous), parse_reply(anonymous)
    assert first is not None
    assert again is not None
    assert first.reply_id == again.reply_id
    assert first.reply_id.startswith("mime:sha256:")
    html_only = parse_reply(
        b"From: a@example.org\r\nIn-Reply-To: <m-1@x>\r\nContent-Type: text/html\r\n\r\n"
        b"<div>Sounds good<br>Bo</div>"
    )
    assert html_only is not None
    assert html_only.excerpt == "Sounds good Bo"


def test_an_automatic_raw_reply_is_none_and_a_non_mail_is_refused() -> None:
    out_of_office = RAW_REPLY.replace("MIME-Version", "Auto-Submitted: auto-replied\nMIME-Version")
    assert parse_reply(out_of_office.encode()) is None
    with pytest.raises(InboundMailError, match="not a mail"):
        parse_reply(b'{"Subject": "x"}')


def test_sendgrids_raw_inbound_parse_form_holds_the_mail_in_its_email_field() -> None:
    boundary = "xYzZY"
    form = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="to"\r\n\r\n'
        "talent@recruitcrm.local\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="email"\r\n\r\n'
        f"{RAW_REPLY}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    raw = raw_mail_of_form(form, f"multipart/form-data; boundary={boundary}")
    report = parse_reply(raw)
    assert report is not None
    assert report.message_ids == ["enr1-0", "older"]
    no_mail = form.replace(b'name="email"', b'name="text"')
    with pytest.raises(InboundMailError, match="no `email` field"):
        raw_mail_of_form(no_mail, f"multipart/form-data; boundary={boundary}")

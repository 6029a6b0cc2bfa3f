"""Mail coming back: delivery status notifications (bounces) and replies.

Every message we send carries `Message-ID: <{message id}@{sender domain}>` and
`X-CRM-Message-Id: {message id}`, so what comes back names the message it is about:

- A DSN (RFC 3464: `multipart/report; report-type=delivery-status`) returns the original
  headers in its third part; its `message/delivery-status` part has one field group per
  recipient, whose `Action` and `Status` (RFC 3463 `class.subject.detail`) say what happened:
  `failed` with a 5.x.x status is permanent (hard), 4.x.x or `delayed` is transient (soft).
- Postmark's bounce webhook (https://postmarkapp.com/developer/webhooks/bounce-webhook) posts
  JSON with `Type` (`HardBounce`, `SoftBounce`, `Transient`, ...), `Email`, `Description` and
  the `Metadata` we set on sending through `X-PM-Metadata-crm-message-id`.
- Postmark's spam complaint webhook
  (https://postmarkapp.com/developer/webhooks/spam-complaint-webhook) posts the same shape with
  `RecordType` `SpamComplaint`.
- Amazon SES publishes bounce and complaint notifications (JSON: `notificationType`, or
  `eventType` from a configuration set's event destination; `mail` with the original `headers`
  and `commonHeaders`; `bounce.bouncedRecipients[]`, `complaint.complainedRecipients[]`) to an
  SNS topic, whose HTTPS subscription posts them wrapped in an SNS envelope
  (`crm_campaigns.adapters.sns`).
  SES replaces the Message-ID it sends with, so the message is found from the original headers.
- Postmark's inbound webhook (https://postmarkapp.com/developer/webhooks/inbound-webhook) posts
  a received mail as JSON with its `Headers`; a reply's `In-Reply-To` / `References` name our
  Message-ID.
- Any other mail server or service posts a reply as it received it: the raw mail (RFC 5322,
  MIME), as an MTA's pipe to `curl --data-binary` sends it, or a `multipart/form-data` post
  whose `email` field holds it (SendGrid's Inbound Parse with "POST the raw, full MIME
  message").
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import message_from_bytes, message_from_string, policy
from email.message import Message
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from crm_campaigns.domain.reply_text import reply_excerpt

BounceType = Literal["hard", "soft"]
# Purpose of the signed token in a tenant's inbound mail URLs.
INBOUND_PURPOSE = "mail-inbound"
METADATA_MESSAGE_ID = "crm-message-id"
POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress"})
POSTMARK_SOFT = frozenset({"SoftBounce", "Transient", "DnsError", "Blocked"})
POSTMARK_COMPLAINT = "SpamComplaint"
# SES bounce types: Permanent is final; Transient and Undetermined may clear up.
SES_HARD = frozenset({"Permanent"})
# A feedback report that says the mail was not spam after all.
NOT_SPAM = "not-spam"
_MESSAGE_ID = re.compile(r"<([^<>@\s]+)@[^<>\s]+>")
_STATUS = re.compile(r"^([245])\.\d{1,3}\.\d{1,3}$")


class InboundMailError(ValueError):
    """What was posted is not the kind of mail or document the endpoint takes."""


def message_id_header(message_id: str, domain: str) -> str:
    """The RFC 5322 Message-ID of one of our messages."""
    return f"<{message_id}@{domain}>"


def referenced_message_ids(*header_values: str | None) -> list[str]:
    """Our message ids named by Message-ID style headers (`<id@domain>` lists), in order."""
    found: list[str] = []
    for value in header_values:
        for match in _MESSAGE_ID.finditer(value or ""):
            if match.group(1) not in found:
                found.append(match.group(1))
    return found


def bounce_type_of(action: str, status: str) -> BounceType | None:
    """hard / soft from a DSN recipient's Action and Status; None when it was not a failure."""
    action = action.strip().lower()
    matched = _STATUS.match(status.strip().split(" ")[0]) if status else None
    status_class = matched.group(1) if matched else ""
    if action == "failed":
        return "soft" if status_class == "4" else "hard"
    if action == "delayed" or status_class == "4":
        return "soft"
    return None


@dataclass(frozen=True)
class ReplyReport:
    """A person's reply to one of our messages: which messages it names, an id of the reply
    that stays the same when the provider delivers it again, and the excerpt of its text."""

    message_ids: list[str]
    reply_id: str
    excerpt: str


@dataclass(frozen=True)
class BounceReport:
    """What a bounce says, whichever way it arrived."""

    message_ids: list[str]
    bounce_type: BounceType
    reason: str
    recipient: str | None


@dataclass(frozen=True)
class ComplaintReport:
    """A recipient marked one of our messages as spam (a provider's feedback loop)."""

    message_ids: list[str]
    recipient: str | None
    feedback_type: str


def _original_headers(report: Message) -> Message | None:
    for part in report.walk():
        content_type = part.get_content_type()
        if content_type == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                inner = payload[0]
                return inner if isinstance(inner, Message) else None
        if content_type == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                return message_from_string(text.decode("utf-8", "replace"), policy=policy.default)
    return None


def _status_groups(report: Message) -> list[Message]:
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                return [group for group in payload if isinstance(group, Message)]
    return []


def parse_dsn(raw: bytes) -> BounceReport | None:
    """The bounce a DSN reports; None when it reports delivery or relaying, not a failure.

    Raises `InboundMailError` when `raw` is not a delivery status notification.
    """
    report = message_from_bytes(raw, policy=policy.default)
    if report.get_content_type() != "multipart/report" or (
        report.get_param("report-type", "", header="content-type") != "delivery-status"
    ):
        raise InboundMailError("not a delivery status notification (multipart/report)")
    groups = _status_groups(report)
    if not groups:
        raise InboundMailError("the report has no message/delivery-status part")
    worst: tuple[BounceType, str, str | None] | None = None
    for group in groups[1:] or groups:
        kind = bounce_type_of(str(group.get("Action", "")), str(group.get("Status", "")))
        if kind is None:
            continue
        reason = str(group.get("Diagnostic-Code") or group.get("Status") or "").strip()
        recipient = str(group.get("Final-Recipient") or group.get("Original-Recipient") or "")
        address = recipient.split(";", 1)[-1].strip() or None
        if worst is None or (kind == "hard" and worst[0] == "soft"):
            worst = (kind, reason, address)
    if worst is None:
        return None
    original = _original_headers(report)
    message_ids: list[str] = []
    if original is not None:
        crm_id = str(original.get("X-CRM-Message-Id", "")).strip()
        message_ids = ([crm_id] if crm_id else []) + [
            found
            for found in referenced_message_ids(str(original.get("Message-ID", "")))
            if found != crm_id
        ]
    return BounceReport(message_ids, worst[0], worst[1][:500] or worst[0], worst[2])


class PostmarkBounce(BaseModel):
    """The fields of Postmark's bounce and spam complaint webhooks we use (they send more)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    record_type: str = Field(default="Bounce", alias="RecordType")
    type: str = Field(alias="Type", min_length=1)
    email: str = Field(alias="Email", min_length=3)
    description: str = Field(default="", alias="Description")
    details: str = Field(default="", alias="Details")
    metadata: dict[str, str | int | float | None] = Field(default_factory=dict, alias="Metadata")

    def report(self) -> BounceReport | None:
        """The bounce it reports; None for types that are not bounces (auto-replies, ...)."""
        if self.type in POSTMARK_HARD:
            kind: BounceType = "hard"
        elif self.type in POSTMARK_SOFT:
            kind = "soft"
        else:
            return None
        reason = f"{self.type}: {self.details or self.description}".strip()[:500]
        return BounceReport(self._message_ids(), kind, reason, self.email)

    @property
    def is_complaint(self) -> bool:
        return POSTMARK_COMPLAINT in (self.record_type, self.type)

    def complaint(self) -> ComplaintReport:
        """The spam complaint it reports (when `is_complaint`)."""
        return ComplaintReport(self._message_ids(), self.email, "abuse")

    def _message_ids(self) -> list[str]:
        message_id = self.metadata.get(METADATA_MESSAGE_ID)
        return [str(message_id)] if message_id else []


class _SesModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SesHeader(_SesModel):
    name: str
    value: str


class SesCommonHeaders(_SesModel):
    message_id: str = Field(default="", alias="messageId")


class SesMail(_SesModel):
    message_id: str = Field(default="", alias="messageId")
    headers: list[SesHeader] = Field(default_factory=list)
    common_headers: SesCommonHeaders = Field(
        default_factory=SesCommonHeaders, alias="commonHeaders"
    )


class SesRecipient(_SesModel):
    email_address: str = Field(alias="emailAddress")
    status: str = ""
    diagnostic_code: str = Field(default="", alias="diagnosticCode")


class SesBounce(_SesModel):
    bounce_type: str = Field(alias="bounceType")
    bounce_sub_type: str = Field(default="", alias="bounceSubType")
    bounced_recipients: list[SesRecipient] = Field(alias="bouncedRecipients", min_length=1)


class SesComplaint(_SesModel):
    complained_recipients: list[SesRecipient] = Field(alias="complainedRecipients", min_length=1)
    feedback_type: str | None = Field(default=None, alias="complaintFeedbackType")


class SesNotification(_SesModel):
    """An Amazon SES notification: a bounce, a complaint, or something we do not act on."""

    notification_type: str = Field(default="", alias="notificationType")
    event_type: str = Field(default="", alias="eventType")
    mail: SesMail
    bounce: SesBounce | None = None
    complaint: SesComplaint | None = None

    @property
    def kind(self) -> str:
        """Bounce, Complaint, Delivery, ... (`eventType` when published by a configuration set)."""
        return self.notification_type or self.event_type

    def message_ids(self) -> list[str]:
        """Our message ids named by the original headers: `X-CRM-Message-Id`, then Message-ID."""
        headers = {header.name.lower(): header.value for header in self.mail.headers}
        crm_id = headers.get("x-crm-message-id", "").strip()
        found = referenced_message_ids(
            headers.get("message-id"), self.mail.common_headers.message_id
        )
        return ([crm_id] if crm_id else []) + [each for each in found if each != crm_id]

    def bounce_report(self) -> BounceReport | None:
        """The bounce, for a `Bounce` notification."""
        if self.kind != "Bounce" or self.bounce is None:
            return None
        bounce = self.bounce
        recipient = bounce.bounced_recipients[0]
        kind: BounceType = "hard" if bounce.bounce_type in SES_HARD else "soft"
        detail = recipient.diagnostic_code or recipient.status or "no diagnostic"
        reason = f"{bounce.bounce_type}/{bounce.bounce_sub_type}: {detail}"[:500]
        return BounceReport(self.message_ids(), kind, reason, recipient.email_address)

    def complaint_report(self) -> ComplaintReport | None:
        """The complaint, for a `Complaint` notification that is not a not-spam report."""
        if self.kind != "Complaint" or self.complaint is None:
            return None
        feedback_type = self.complaint.feedback_type or "unspecified"
        if feedback_type == NOT_SPAM:
            return None
        recipient = self.complaint.complained_recipients[0].email_address
        return ComplaintReport(self.message_ids(), recipient, feedback_type)


class PostmarkHeader(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Name: str
    Value: str


class PostmarkAddress(BaseModel):
    model_config = ConfigDict(extra="ignore")

    Email: str = ""


class PostmarkInbound(BaseModel):
    """The fields of Postmark's inbound webhook we use (it sends more)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    message_id: str = Field(alias="MessageID", min_length=1)
    from_full: PostmarkAddress = Field(default_factory=PostmarkAddress, alias="FromFull")
    subject: str = Field(default="", alias="Subject")
    headers: list[PostmarkHeader] = Field(default_factory=list, alias="Headers")
    text_body: str = Field(default="", alias="TextBody")
    html_body: str = Field(default="", alias="HtmlBody")
    # Postmark's own cut of the reply above the quoted original (sent for replies it recognises).
    stripped_text_reply: str = Field(default="", alias="StrippedTextReply")

    def header(self, name: str) -> str | None:
        for header in self.headers:
            if header.Name.lower() == name.lower():
                return header.Value
        return None

    @property
    def automatic(self) -> bool:
        """An auto-reply (out of office, ...) per RFC 3834, which is not the person replying."""
        return is_automatic(self.header("Auto-Submitted"), self.header("X-Autoreply"))

    def replied_to(self) -> list[str]:
        """Our message ids this mail replies to, the direct parent first."""
        return referenced_message_ids(self.header("In-Reply-To"), self.header("References"))

    def excerpt(self) -> str:
        """What the person wrote (`reply_text.reply_excerpt`): Postmark's stripped reply when it
        sent one, else the text part, else the HTML part."""
        return reply_excerpt(self.stripped_text_reply or self.text_body, self.html_body)

    def report(self) -> ReplyReport:
        """The reply, named by Postmark's id of the inbound mail (the same on every retry)."""
        return ReplyReport(self.replied_to(), f"postmark:{self.message_id}", self.excerpt())


# Headers of which a posted mail must hold one to be taken for a mail at all.
_MAIL_HEADERS = ("From", "Message-ID", "In-Reply-To", "References", "Subject", "Date")


def is_automatic(auto_submitted: str | None, autoreply: str | None) -> bool:
    """An auto-reply (out of office, ...) per RFC 3834 `Auto-Submitted` (anything but `no`),
    or a mail marked `X-Autoreply`: not the person replying."""
    return (auto_submitted or "no").strip().lower() != "no" or autoreply is not None


def parse_reply(raw: bytes) -> ReplyReport | None:
    """A reply as the mail server received it (RFC 5322, MIME): the messages of ours it names,
    an id that stays the same when it is posted again (its `Message-ID`, else a digest of the
    mail) and what the person wrote; None for an automatic reply.

    Raises `InboundMailError` when `raw` holds no mail header.
    """
    mail = message_from_bytes(raw, policy=policy.default)
    if not any(mail.get(name) for name in _MAIL_HEADERS):
        raise InboundMailError("not a mail (RFC 5322): no From, Message-ID or Subject header")
    if is_automatic(mail.get("Auto-Submitted"), mail.get("X-Autoreply")):
        return None
    own_id = str(mail.get("Message-ID") or "").strip()
    reply_id = f"mime:{own_id}" if own_id else f"mime:sha256:{hashlib.sha256(raw).hexdigest()}"
    text, html = "", ""
    body = mail.get_body(preferencelist=("plain", "html"))
    if body is not None:
        content = str(body.get_content())
        if body.get_content_type() == "text/html":
            html = content
        else:
            text = content
    return ReplyReport(
        referenced_message_ids(mail.get("In-Reply-To"), mail.get("References")),
        reply_id,
        reply_excerpt(text, html),
    )


def raw_mail_of_form(body: bytes, content_type: str) -> bytes:
    """The raw mail a `multipart/form-data` post carries in its `email` field (SendGrid's
    Inbound Parse posting the raw, full MIME message); `InboundMailError` without one."""
    form = message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=policy.default
    )
    if not form.is_multipart():
        raise InboundMailError("not a multipart/form-data body")
    for part in form.iter_parts():
        if part.get_param("name", header="content-disposition") == "email":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload.strip():
                return payload
    raise InboundMailError("the form has no `email` field holding the raw mail")

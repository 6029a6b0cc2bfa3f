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
- Postmark's inbound webhook (https://postmarkapp.com/developer/webhooks/inbound-webhook) posts
  a received mail as JSON with its `Headers`; a reply's `In-Reply-To` / `References` name our
  Message-ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, message_from_string, policy
from email.message import Message
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BounceType = Literal["hard", "soft"]
# Purpose of the signed token in a tenant's inbound mail URLs.
INBOUND_PURPOSE = "mail-inbound"
METADATA_MESSAGE_ID = "crm-message-id"
POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress"})
POSTMARK_SOFT = frozenset({"SoftBounce", "Transient", "DnsError", "Blocked"})
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
class BounceReport:
    """What a bounce says, whichever way it arrived."""

    message_ids: list[str]
    bounce_type: BounceType
    reason: str
    recipient: str | None


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
    """The fields of Postmark's bounce webhook we use (it sends more)."""

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
        message_id = self.metadata.get(METADATA_MESSAGE_ID)
        reason = f"{self.type}: {self.details or self.description}".strip()[:500]
        return BounceReport([str(message_id)] if message_id else [], kind, reason, self.email)


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

    def header(self, name: str) -> str | None:
        for header in self.headers:
            if header.Name.lower() == name.lower():
                return header.Value
        return None

    @property
    def automatic(self) -> bool:
        """An auto-reply (out of office, ...) per RFC 3834, which is not the person replying."""
        submitted = (self.header("Auto-Submitted") or "no").strip().lower()
        return submitted != "no" or self.header("X-Autoreply") is not None

    def replied_to(self) -> list[str]:
        """Our message ids this mail replies to, the direct parent first."""
        return referenced_message_ids(self.header("In-Reply-To"), self.header("References"))

"""Who hears of a candidate's reply, and what the notification says."""

from __future__ import annotations

import hashlib

from crm_campaigns.domain.models import Message, Notification, Recipient, Reply

NO_TEXT = "(The reply holds no text of its own: only the quoted message.)"


def reply_notification_id(message_id: str, reply_id: str) -> str:
    """The same for every delivery of one reply, so a redelivered reply notifies nobody again."""
    digest = hashlib.sha256(reply_id.encode()).hexdigest()[:16]
    return f"reply-{message_id}-{digest}"


def replier_name(message: Message, recipient: Recipient | None) -> str:
    """The candidate as the recruiter knows them: their name, else the address mailed."""
    if recipient is not None:
        name = " ".join(part for part in (recipient.first_name, recipient.last_name) if part)
        if name:
            return name
    return message.to_email or "A candidate"


def reply_recipient(recipient: Recipient | None, author: str | None) -> str | None:
    """The user told of a reply: the candidate's owner, else whoever made the sequence or
    broadcast that sent the message (the rule of a `notify_owner` step)."""
    if recipient is not None and recipient.owner_id:
        return recipient.owner_id
    return author


def reply_notification(
    message: Message, recipient: Recipient | None, user_id: str, reply: Reply
) -> Notification:
    """ "Ada Lovelace replied to 'Data roles in Berlin'", with the excerpt as its body."""
    return Notification(
        id=reply_notification_id(message.id, reply.id),
        tenant_id=message.tenant_id,
        user_id=user_id,
        kind="reply",
        candidate_id=message.candidate_id,
        sequence_id=message.sequence_id,
        enrolment_id=message.enrolment_id,
        broadcast_id=message.broadcast_id,
        message_id=message.id,
        title=f"{replier_name(message, recipient)} replied to '{message.subject}'",
        body=reply.excerpt or NO_TEXT,
        created_at=reply.received_at,
    )

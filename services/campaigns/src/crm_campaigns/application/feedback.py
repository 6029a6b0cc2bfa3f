"""What comes back after sending: bounces, spam complaints and replies, matched to the message
they concern.

Each report is applied in one transaction: the message records it, the event is staged
(`message.bounced`, `message.complained`, `message.replied`), a bounce or complaint updates
the suppression list, and a reply leaves its excerpt on the message and a notification for the
candidate's owner. A report repeated by the provider (webhook
retries, a DSN and a webhook for the same failure) changes nothing the second time, and a
report about a message that never left (skipped by a send rule, cancelled, failed before SMTP)
changes nothing at all: it is answered `ignored`, since that mail cannot have bounced, been
reported as spam or been replied to.

`suppressed` in every answer that names a message says whether its address is on the
suppression list (for any reason) once the report is applied.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pymongo.errors import DuplicateKeyError

from crm_campaigns.adapters.sns import SnsEnvelope, SnsVerifier
from crm_campaigns.domain.inbound_mail import (
    BounceReport,
    ComplaintReport,
    ReplyReport,
    SesNotification,
)
from crm_campaigns.domain.models import REPLIES_KEPT, Message, Reply
from crm_campaigns.domain.replies import reply_notification, reply_recipient
from crm_campaigns.domain.suppression import ListReason, Suppression, email_sha256
from crm_campaigns.publishers import (
    to_message_bounced,
    to_message_complained,
    to_message_replied,
)
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.collections import MESSAGES
from crm_campaigns.repositories.contact_policies import ContactPolicyRepository
from crm_campaigns.repositories.messages import MessageRepository
from crm_campaigns.repositories.notifications import NotificationRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.suppressions import SoftBounceRepository, SuppressionRepository
from crm_shared import (
    Database,
    MongoClient,
    Outbox,
    Session,
    in_transaction,
    utc_now,
)

logger = logging.getLogger(__name__)

NEVER_SENT = "the message was never sent (status {status}): nothing was recorded"
DUPLICATE = "already recorded for this message: nothing changed"
UNMATCHED = "no message of this tenant matches the report: nothing was recorded"

FeedbackKind = Literal[
    "bounced", "complained", "replied", "duplicate", "unmatched", "ignored", "subscribed"
]


@dataclass(frozen=True)
class FeedbackOutcome:
    """What a bounce or reply report did (the inbound endpoints answer with it)."""

    outcome: FeedbackKind
    message_id: str | None = None
    bounce_type: str | None = None
    suppressed: bool = False
    detail: str | None = None


class MailFeedback:
    """Applies bounce and reply reports to one tenant's messages."""

    def __init__(
        self,
        *,
        mongo: MongoClient,
        database: Database,
        outbox: Outbox,
        sns: SnsVerifier | None = None,
    ) -> None:
        self._mongo = mongo
        self._database = database
        self._outbox = outbox
        self._sns = sns or SnsVerifier()

    async def _first_known(self, tenant_id: str, message_ids: list[str]) -> Message | None:
        messages = MessageRepository(self._database, tenant_id)
        for message_id in message_ids:
            message = await messages.get(message_id)
            if message is not None:
                return message
        return None

    async def _listed(
        self, tenant_id: str, address: str, *, session: Session | None = None
    ) -> bool:
        reasons = await SuppressionRepository(self._database, tenant_id).reasons(
            address, session=session
        )
        return bool(reasons)

    async def _never_sent(
        self, tenant_id: str, message: Message, kind: str, address: str | None
    ) -> FeedbackOutcome:
        """The answer to a report about a message that never left: nothing is recorded."""
        status = message.status.value
        logger.info(
            "ignored a %s about message %s of tenant %s: it was never sent (status %s)",
            kind,
            message.id,
            tenant_id,
            status,
        )
        listed = address is not None and await self._listed(tenant_id, address)
        return FeedbackOutcome(
            "ignored", message.id, suppressed=listed, detail=NEVER_SENT.format(status=status)
        )

    async def bounce(self, tenant_id: str, report: BounceReport, source: str) -> FeedbackOutcome:
        """Records a bounce: `message.bounced`, and the address suppressed when it is final."""
        message = await self._first_known(tenant_id, report.message_ids)
        if message is None:
            return FeedbackOutcome("unmatched", detail=UNMATCHED)
        address = email_sha256(message.to_email or report.recipient or "")
        if not message.may_have_left:
            return await self._never_sent(tenant_id, message, "bounce", address)
        policy = await ContactPolicyRepository(self._database, tenant_id).get()

        async def record(session: Session) -> FeedbackOutcome:
            # A hard bounce overrides a soft one; each message bounces at most once per kind.
            not_yet = (
                {"bounce_type": {"$ne": "hard"}}
                if report.bounce_type == "hard"
                else {"bounce_type": None}
            )
            updated = await self._database[MESSAGES].update_one(
                {"_id": message.id, "tenant_id": tenant_id, **not_yet},
                {
                    "$set": {
                        "bounce_type": report.bounce_type,
                        "bounce_reason": report.reason,
                        "bounced_at": utc_now(),
                    }
                },
                session=session,
            )
            if not updated.modified_count:
                listed = await self._listed(tenant_id, address, session=session)
                return FeedbackOutcome(
                    "duplicate", message.id, report.bounce_type, listed, DUPLICATE
                )
            await to_message_bounced(
                self._outbox,
                message,
                bounce_type=report.bounce_type,
                reason=report.reason,
                source=source,
                session=session,
            )
            final = report.bounce_type == "hard"
            note = None
            if not final:
                soft_bounces = await SoftBounceRepository(self._database, tenant_id).count(
                    address, session=session
                )
                final = soft_bounces >= policy.soft_bounce_limit
                note = f"{soft_bounces} soft bounces"
            if final:
                await SuppressionRepository(self._database, tenant_id).add(
                    Suppression(
                        tenant_id=tenant_id,
                        email_sha256=address,
                        reason=ListReason.BOUNCED,
                        source=source,
                        candidate_id=message.candidate_id,
                        message_id=message.id,
                        note=note or report.reason[:200],
                    ),
                    # A hard bounce is the stronger evidence: an entry listed for soft bounces
                    # ("3 soft bounces") names the hard bounce from now on.
                    refresh=report.bounce_type == "hard",
                    session=session,
                )
            listed = final or await self._listed(tenant_id, address, session=session)
            return FeedbackOutcome("bounced", message.id, report.bounce_type, listed)

        outcome = await in_transaction(self._mongo, record)
        self._outbox.notify_committed()
        return outcome

    async def complaint(
        self, tenant_id: str, report: ComplaintReport, source: str
    ) -> FeedbackOutcome:
        """Records a spam complaint: the message notes it and the address is suppressed for all
        mail (reason `complained`), once per message."""
        message = await self._first_known(tenant_id, report.message_ids)
        if message is None:
            return FeedbackOutcome("unmatched", detail=UNMATCHED)
        address = email_sha256(message.to_email or report.recipient or "")
        if not message.may_have_left:
            return await self._never_sent(tenant_id, message, "complaint", address)

        async def record(session: Session) -> FeedbackOutcome:
            updated = await self._database[MESSAGES].update_one(
                {"_id": message.id, "tenant_id": tenant_id, "complained_at": None},
                {"$set": {"complained_at": utc_now(), "complaint_type": report.feedback_type}},
                session=session,
            )
            if not updated.modified_count:
                listed = await self._listed(tenant_id, address, session=session)
                return FeedbackOutcome("duplicate", message.id, suppressed=listed, detail=DUPLICATE)
            await to_message_complained(
                self._outbox,
                message,
                feedback_type=report.feedback_type,
                source=source,
                session=session,
            )
            await SuppressionRepository(self._database, tenant_id).add(
                Suppression(
                    tenant_id=tenant_id,
                    email_sha256=address,
                    reason=ListReason.COMPLAINED,
                    source=source,
                    candidate_id=message.candidate_id,
                    message_id=message.id,
                    note=f"spam complaint ({report.feedback_type})",
                ),
                session=session,
            )
            return FeedbackOutcome("complained", message.id, suppressed=True)

        outcome = await in_transaction(self._mongo, record)
        self._outbox.notify_committed()
        return outcome

    async def sns_delivery(self, tenant_id: str, envelope: SnsEnvelope) -> FeedbackOutcome:
        """An SNS delivery of Amazon SES notifications: verified (raises `SnsError` if SNS did not
        sign it), then a subscription is confirmed, a bounce or complaint recorded."""
        await self._sns.verify(envelope)
        if envelope.type == "SubscriptionConfirmation":
            await self._sns.confirm(envelope)
            return FeedbackOutcome("subscribed")
        if envelope.type != "Notification":
            return FeedbackOutcome("ignored")
        try:
            notification = SesNotification.model_validate_json(envelope.message)
        except ValueError:
            # Something else published to the topic: acknowledged, so SNS does not retry it.
            return FeedbackOutcome("ignored")
        if (bounce := notification.bounce_report()) is not None:
            return await self.bounce(tenant_id, bounce, "ses")
        if (complaint := notification.complaint_report()) is not None:
            return await self.complaint(tenant_id, complaint, "ses")
        return FeedbackOutcome("ignored")

    async def _author(self, tenant_id: str, message: Message) -> str | None:
        """Who made the sequence or broadcast that sent the message."""
        if message.sequence_id:
            sequence = await SequenceRepository(self._database, tenant_id).get(message.sequence_id)
            if sequence is not None:
                return sequence.created_by
        if message.broadcast_id:
            broadcast = await BroadcastRepository(self._database, tenant_id).get(
                message.broadcast_id
            )
            if broadcast is not None:
                return broadcast.created_by
        return None

    async def reply(
        self, tenant_id: str, report: ReplyReport, *, received_at: datetime
    ) -> FeedbackOutcome:
        """Records the candidate's reply to a message: its excerpt on the message and a
        notification for the candidate's owner (once per reply), `message.replied` (once per
        message: its first reply)."""
        message = await self._first_known(tenant_id, report.message_ids)
        if message is None:
            return FeedbackOutcome("unmatched", detail=UNMATCHED)
        if not message.may_have_left:
            return await self._never_sent(tenant_id, message, "reply", None)
        reply = Reply(id=report.reply_id, received_at=received_at, excerpt=report.excerpt)
        recipient = await RecipientRepository(self._database, tenant_id).get(message.candidate_id)
        user_id = reply_recipient(recipient, await self._author(tenant_id, message))
        notification = reply_notification(message, recipient, user_id, reply) if user_id else None
        notifications = NotificationRepository(self._database, tenant_id)

        async def record(session: Session) -> FeedbackOutcome:
            # The reply's id makes a redelivery change nothing: not the message (whose kept
            # replies name it) and not the notifications (whose id derives from it).
            added = await self._database[MESSAGES].update_one(
                {"_id": message.id, "tenant_id": tenant_id, "replies.id": {"$ne": reply.id}},
                {"$push": {"replies": {"$each": [reply.model_dump()], "$slice": -REPLIES_KEPT}}},
                session=session,
            )
            if not added.modified_count or (
                notification is not None
                and await notifications.exists(notification.id, session=session)
            ):
                return FeedbackOutcome("duplicate", message.id, detail=DUPLICATE)
            first = await self._database[MESSAGES].update_one(
                {"_id": message.id, "tenant_id": tenant_id, "replied_at": None},
                {"$set": {"replied_at": received_at}},
                session=session,
            )
            if first.modified_count:
                await to_message_replied(
                    self._outbox, message, received_at=received_at, session=session
                )
            if notification is not None:
                await notifications.add(notification, session=session)
            else:
                # Nobody to tell (no owner, and the sequence or broadcast is gone): the excerpt
                # stays on the message, and the log says why nobody heard of it.
                logger.warning(
                    "reply to message %s of tenant %s: the candidate has no owner and the "
                    "message's sequence or broadcast no author, so nobody was notified",
                    message.id,
                    tenant_id,
                )
            return FeedbackOutcome("replied", message.id)

        try:
            outcome = await in_transaction(self._mongo, record)
        except DuplicateKeyError:
            # The same reply delivered twice at once: the other delivery recorded it.
            return FeedbackOutcome("duplicate", message.id, detail=DUPLICATE)
        self._outbox.notify_committed()
        return outcome

"""Delivery: sends queued messages over SMTP, reusing one connection, and records the outcome.

Messages are claimed with a lease like enrolments. Consent is checked against the projection at
send time, so a withdrawal that arrived after the message was queued still stops it. A message
is marked sent, with its `message.sent` event, right after the SMTP server accepted it; if the
process dies in between, the message is sent again after its lease expires (at least once),
with the same Message-ID header so receiving systems can recognise the repeat.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from crm_campaigns.domain.models import Message, MessageStatus, SuppressionReason
from crm_campaigns.publishers import to_message_sent
from crm_campaigns.repository import MESSAGES, RecipientRepository, claim_next
from crm_shared import (
    Database,
    MongoClient,
    Outbox,
    Session,
    from_document,
    in_transaction,
    utc_now,
)

RETRY_BACKOFF = timedelta(seconds=5)

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class SmtpTransport:
    """One reused SMTP connection, reopened when the server dropped it."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._host = host
        self._port = port
        self._timeout = timeout
        self._client: aiosmtplib.SMTP | None = None

    async def send(self, message: EmailMessage) -> None:
        """Hands a message to the SMTP server."""
        if self._client is None or not self._client.is_connected:
            self._client = aiosmtplib.SMTP(
                hostname=self._host, port=self._port, timeout=self._timeout, start_tls=False
            )
            await self._client.connect()
        try:
            await self._client.send_message(message)
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
            self._client = None
            raise

    async def close(self) -> None:
        """Closes the connection politely."""
        if self._client is not None and self._client.is_connected:
            try:
                await self._client.quit()
            except aiosmtplib.SMTPException:
                self._client.close()
        self._client = None


def email_for(message: Message, sender: str, message_domain: str) -> EmailMessage:
    """The RFC 5322 message for a rendered message."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to_email or ""
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(idstring=message.id, domain=message_domain)
    email["X-CRM-Message-Id"] = message.id
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


class MailDispatcher:
    """Sends every tenant's queued messages."""

    def __init__(
        self,
        *,
        mongo: MongoClient,
        database: Database,
        outbox: Outbox,
        transport: SmtpTransport,
        sender: str,
        lease: timedelta,
        batch_size: int,
        max_attempts: int,
    ) -> None:
        self._mongo = mongo
        self._database = database
        self._outbox = outbox
        self._transport = transport
        self._sender = sender
        self._domain = sender.rsplit("@", 1)[-1].strip("> ") or "recruitcrm.local"
        self._lease = lease
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self.owner = f"dispatcher-{uuid.uuid4().hex[:12]}"

    async def deliver_batch(self) -> int:
        """Sends up to one batch of due messages; returns how many it handled."""
        handled = 0
        while handled < self._batch_size:
            claimed = await claim_next(
                self._database,
                MESSAGES,
                {"status": MessageStatus.QUEUED.value, "next_attempt_at": {"$lte": utc_now()}},
                owner=self.owner,
                lease=self._lease,
                order_by="next_attempt_at",
            )
            if claimed is None:
                break
            token = otel_context.attach(propagate.extract(claimed.get("trace_context") or {}))
            try:
                with tracer.start_as_current_span("message.deliver"):
                    await self._deliver(claimed)
            finally:
                otel_context.detach(token)
            handled += 1
        if handled:
            self._outbox.notify_committed()
        return handled

    async def _deliver(self, claimed: dict[str, Any]) -> None:
        message = from_document(Message, claimed)
        recipient = await RecipientRepository(self._database, message.tenant_id).get(
            message.candidate_id
        )
        if not message.to_email:
            await self._finish(
                message, MessageStatus.SUPPRESSED, SuppressionReason.NO_EMAIL_ADDRESS
            )
            return
        if recipient is None or not recipient.marketing_consent:
            await self._finish(
                message, MessageStatus.SUPPRESSED, SuppressionReason.NO_MARKETING_CONSENT
            )
            return
        try:
            with tracer.start_as_current_span("smtp.send"):
                await self._transport.send(email_for(message, self._sender, self._domain))
        except (aiosmtplib.SMTPException, OSError) as error:
            await self._retry_later(message, error)
            return
        await self._finish(message, MessageStatus.SENT, None)

    async def _finish(
        self, message: Message, status: MessageStatus, reason: SuppressionReason | None
    ) -> None:
        async def record(session: Session) -> None:
            updated = await self._database[MESSAGES].update_one(
                {
                    "_id": message.id,
                    "lease_owner": self.owner,
                    "status": MessageStatus.QUEUED.value,
                },
                {
                    "$set": {
                        "status": status.value,
                        "suppression_reason": reason,
                        "sent_at": utc_now() if status is MessageStatus.SENT else None,
                        "lease_owner": None,
                        "lease_until": None,
                    }
                },
                session=session,
            )
            if updated.modified_count and status is MessageStatus.SENT:
                await to_message_sent(self._outbox, message, session=session)

        await in_transaction(self._mongo, record)

    async def _retry_later(self, message: Message, error: BaseException) -> None:
        attempts = message.attempts + 1
        logger.warning("sending message %s failed (attempt %d): %r", message.id, attempts, error)
        final = attempts >= self._max_attempts
        await self._database[MESSAGES].update_one(
            {"_id": message.id, "lease_owner": self.owner},
            {
                "$set": {
                    "attempts": attempts,
                    "last_error": repr(error)[:500],
                    "status": MessageStatus.FAILED.value if final else MessageStatus.QUEUED.value,
                    "next_attempt_at": utc_now() + RETRY_BACKOFF * 2 ** (attempts - 1),
                    "lease_owner": None,
                    "lease_until": None,
                }
            },
        )

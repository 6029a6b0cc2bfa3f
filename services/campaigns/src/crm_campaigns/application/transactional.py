"""What every transactional mail (a consent confirmation, an event confirmation) shares: who
may not get one, and sending it as the tenant.

Transactional mail goes out whatever the marketing consent (the person asked for it) but never
to a person or address an erasure left a tombstone for, nor one the suppression list holds as
bounced, complained or suppressed by hand (an unsubscribed address still gets it).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from crm_campaigns.adapters.senders import Senders
from crm_campaigns.adapters.smtp import MailTransport
from crm_campaigns.application.delivery_metrics import DeliveryMetrics
from crm_campaigns.domain.mail import smtp_bytes
from crm_campaigns.domain.models import MessageCategory
from crm_campaigns.domain.sending import Outcome
from crm_campaigns.domain.suppression import blocking_reason
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_shared import Database, Session, email_sha256, is_erased, is_erased_address


async def transactional_block(
    database: Database,
    tenant_id: str,
    candidate_id: str | None,
    email: str,
    *,
    session: Session,
) -> str | None:
    """Why a transactional mail may not go to this person and address, or None if it may."""
    if candidate_id is not None and await is_erased(
        database, tenant_id, candidate_id, session=session
    ):
        return "erased"
    if await is_erased_address(database, tenant_id, email, session=session):
        return "erased"
    listed = await SuppressionRepository(database, tenant_id).reasons(
        email_sha256(email), session=session
    )
    reason = blocking_reason(listed, MessageCategory.TRANSACTIONAL)
    return reason.value if reason is not None else None


async def send_as_tenant(
    transport: MailTransport,
    senders: Senders,
    tenant_id: str,
    email: EmailMessage,
    recipient: str,
) -> None:
    """Sends `email`, written from the tenant's sender (`senders.for_tenant(...).sender`),
    DKIM-signed if it has a key, through its own account if it has one, like every other mail
    of the tenant. A message without a `Date` (RFC 5322 requires one; spam filters score its
    absence) gets the time it is sent."""
    if "Date" not in email:
        email["Date"] = formatdate(localtime=False)
    profile = senders.for_tenant(tenant_id)
    # CRLF line endings: what is signed must be what goes out.
    content = await profile.sign(smtp_bytes(email))
    if (account := profile.account) is not None:
        await account.transport.send_raw(account.envelope_sender, recipient, content)
    else:
        await transport.send_raw(senders.envelope_sender, recipient, content)


@dataclass(frozen=True)
class TransactionalMailer:
    """Sends a tenant's transactional mail as the tenant (`send_as_tenant`) and counts each SMTP
    transaction in `crm_smtp_messages_total` beside the marketing mail's: a failed one as
    `deferred`, since the consumer that asked for it delivers the event again."""

    transport: MailTransport
    senders: Senders
    metrics: DeliveryMetrics | None = None

    def sender_of(self, tenant_id: str) -> str:
        """The tenant's From address."""
        return self.senders.for_tenant(tenant_id).sender

    @property
    def message_domain(self) -> str:
        return self.senders.message_domain

    async def send(self, tenant_id: str, email: EmailMessage, recipient: str) -> None:
        try:
            await send_as_tenant(self.transport, self.senders, tenant_id, email, recipient)
        except Exception:
            if self.metrics is not None:
                self.metrics.attempted(Outcome.TRANSIENT, final=False)
            raise
        if self.metrics is not None:
            self.metrics.attempted(Outcome.SENT, final=True)

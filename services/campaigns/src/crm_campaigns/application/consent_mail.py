"""Consent confirmation mails (double opt-in, re-permission): transactional, not marketing.

They go out whatever the marketing consent (asking for consent is their purpose) but never to an
address an erasure left a tombstone for, nor one the suppression list holds as bounced or
suppressed by hand (an unsubscribed address may still confirm a new opt-in). They are sent
straight from the subscriber, kept apart from the marketing send path: the consumer retries a
failed send and dead-letters it in the end, and what was sent is recorded without the address
(only its digest).
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from email.utils import make_msgid

from crm_campaigns.application.transactional import TransactionalMailer, transactional_block
from crm_shared import (
    ConsentConfirmationRequested,
    Database,
    EventEnvelope,
    Session,
    email_sha256,
    utc_now,
)

CONSENT_MAILS = "consent_mails"

SUBJECTS = {
    "double_opt_in": "Please confirm your subscription",
    "re_permission": "Would you like to keep hearing from us?",
}
INTRODUCTIONS = {
    "double_opt_in": "thank you for joining our talent community. Please confirm that you want "
    "to hear from us about roles and events:",
    "re_permission": "your consent to hear from us about roles and events ends soon. If you "
    "would like to keep hearing from us, please confirm:",
}


def confirmation_email(
    request: ConsentConfirmationRequested, *, sender: str, message_id: str, domain: str
) -> EmailMessage:
    """The confirmation mail for a request."""
    introduction = INTRODUCTIONS[request.reason]
    email = EmailMessage()
    email["From"] = sender
    email["To"] = request.email
    email["Subject"] = SUBJECTS[request.reason]
    email["Message-ID"] = make_msgid(idstring=message_id, domain=domain)
    email["X-CRM-Message-Id"] = message_id
    email["Auto-Submitted"] = "auto-generated"
    greeting = f"Hello {request.first_name}" if request.first_name else "Hello"
    email.set_content(
        f"{greeting},\n\n{introduction}\n\n{request.confirm_url}\n\n"
        "If you did not ask for this, ignore this mail and nothing will happen.\n"
    )
    email.add_alternative(
        f"<html><body><p>{html.escape(greeting)},</p><p>{html.escape(introduction)}</p>"
        f'<p><a href="{html.escape(request.confirm_url)}">Confirm</a></p>'
        "<p>If you did not ask for this, ignore this mail and nothing will happen.</p>"
        "</body></html>",
        subtype="html",
    )
    return email


async def send_confirmation(
    mailer: TransactionalMailer,
    tenant_id: str,
    request: ConsentConfirmationRequested,
    message_id: str,
) -> None:
    """Sends the confirmation mail as the tenant's sender (DKIM-signed if it has a key), through
    its own account if it has one, like every other mail of the tenant."""
    email = confirmation_email(
        request,
        sender=mailer.sender_of(tenant_id),
        message_id=message_id,
        domain=mailer.message_domain,
    )
    await mailer.send(tenant_id, email, request.email)


async def mail_consent_confirmation(
    database: Database,
    mailer: TransactionalMailer,
    envelope: EventEnvelope[ConsentConfirmationRequested],
    session: Session,
) -> None:
    """Mails the confirmation link unless the person or address may not get it; records what
    was done by address digest."""
    request = envelope.data
    tenant_id = envelope.tenant_id
    message_id = f"consent-{envelope.id}"
    # A bounced or hand-suppressed address gets nothing; an unsubscribed one may.
    suppressed = (
        await transactional_block(
            database, tenant_id, request.candidate_id, request.email, session=session
        )
        is not None
    )
    if not suppressed:
        await send_confirmation(mailer, tenant_id, request, message_id)
    await database[CONSENT_MAILS].update_one(
        {"_id": message_id},
        {
            "$set": {
                "tenant_id": tenant_id,
                "candidate_id": request.candidate_id,
                "email_sha256": email_sha256(request.email),
                "reason": request.reason,
                "purpose": request.purpose,
                "status": "suppressed" if suppressed else "sent",
                "recorded_at": utc_now(),
            }
        },
        upsert=True,
        session=session,
    )

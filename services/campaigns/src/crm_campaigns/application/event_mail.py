"""Mailing an event's registrants (transactional): the confirmation of a registration (with
the QR code of its door code), the notice that their event moved or was cancelled, and
reminders before it, each with its calendar invitation; and the notice that they joined the
waitlist (no invitation).

Like consent confirmations they are sent straight from the subscriber, apart from the marketing
send path: marketing consent does not apply (the person asked to come), erasures and the
suppression list do (`transactional_block`). Each mail is recorded by address digest in
`event_mails`, which `GET /event-mails` lists: sent, suppressed (and why) or failed (and the
error). A failure is recorded outside the subscriber's transaction, so it stays when the
transaction is undone, and raised again: the consumer retries, then dead-letters the event.
"""

from __future__ import annotations

from typing import Any

from crm_campaigns.adapters.qr import qr_png
from crm_campaigns.application.transactional import TransactionalMailer, transactional_block
from crm_campaigns.domain.event_mail import (
    EventMail,
    EventMailStatus,
    RegistrantMail,
    registrant_email,
)
from crm_campaigns.repositories.event_mails import EventMailRepository
from crm_shared import (
    Database,
    EventEnvelope,
    EventInvitationChanged,
    EventRegistered,
    EventReminderRequested,
    EventWaitlisted,
    Session,
    email_sha256,
)


async def mail_registrant(
    database: Database,
    mailer: TransactionalMailer,
    envelope: EventEnvelope[Any],
    mail: RegistrantMail,
    session: Session,
) -> EventMailStatus:
    """Sends one registrant mail unless they may not get it, and records what was done; a
    failed send is recorded, then raised for the consumer to retry."""
    tenant_id = envelope.tenant_id
    mail_id = f"event-mail-{envelope.id}"
    mails = EventMailRepository(database, tenant_id)
    already = await mails.get(mail_id, session=session)
    if already is not None and already.status is EventMailStatus.SENT:
        return already.status  # delivered before a crash undid the consumer's commit

    def recorded(status: EventMailStatus, reason: str | None) -> EventMail:
        return EventMail(
            id=mail_id,
            tenant_id=tenant_id,
            event_id=mail.event_id,
            registration_id=mail.registration_id,
            candidate_id=mail.candidate_id,
            email_sha256=email_sha256(mail.email),
            kind=mail.kind,
            status=status,
            reason=reason,
            sequence=mail.sequence,
        )

    blocked = await transactional_block(
        database, tenant_id, mail.candidate_id, mail.email, session=session
    )
    if blocked is not None:
        await mails.record(recorded(EventMailStatus.SUPPRESSED, blocked), session=session)
        return EventMailStatus.SUPPRESSED
    email = registrant_email(
        mail,
        sender=mailer.sender_of(tenant_id),
        message_id=mail_id,
        domain=mailer.message_domain,
        qr_png=qr_png(mail.check_in_url) if mail.check_in_url else None,
    )
    try:
        await mailer.send(tenant_id, email, mail.email)
    except Exception as error:
        # Outside the transaction: it is undone by the raise, the record must stay.
        await mails.record(recorded(EventMailStatus.FAILED, repr(error)[:500]))
        raise
    await mails.record(recorded(EventMailStatus.SENT, None), session=session)
    return EventMailStatus.SENT


async def confirm_registration(
    database: Database,
    mailer: TransactionalMailer,
    envelope: EventEnvelope[EventRegistered],
    session: Session,
) -> None:
    """Mails the confirmation of a registration with its invitation (none for a walk-in)."""
    mail = RegistrantMail.confirming(envelope.data)
    if mail is not None:
        await mail_registrant(database, mailer, envelope, mail, session)


async def tell_waitlisted(
    database: Database,
    mailer: TransactionalMailer,
    envelope: EventEnvelope[EventWaitlisted],
    session: Session,
) -> None:
    """Mails a registrant that they are on the waitlist: their place is not confirmed."""
    await mail_registrant(
        database, mailer, envelope, RegistrantMail.waitlisting(envelope.data), session
    )


async def tell_registrant(
    database: Database,
    mailer: TransactionalMailer,
    envelope: EventEnvelope[EventInvitationChanged],
    session: Session,
) -> None:
    """Mails a registrant that their event moved or was cancelled, with the new invitation
    (unless the organiser edited it without telling registrants)."""
    mail = RegistrantMail.telling(envelope.data)
    if mail is not None:
        await mail_registrant(database, mailer, envelope, mail, session)


async def remind_registrant(
    database: Database,
    mailer: TransactionalMailer,
    envelope: EventEnvelope[EventReminderRequested],
    session: Session,
) -> None:
    """Mails a registrant the reminder of their event, with the invitation."""
    await mail_registrant(
        database, mailer, envelope, RegistrantMail.reminding(envelope.data), session
    )


async def event_mails(
    database: Database,
    tenant_id: str,
    *,
    event_id: str | None,
    registration_id: str | None,
    status: EventMailStatus | None,
    after: str | None,
    limit: int,
) -> list[EventMail]:
    """The tenant's registrant mails by id (stable pages), of one event or registration if
    given."""
    return await EventMailRepository(database, tenant_id).page(
        event_id=event_id,
        registration_id=registration_id,
        status=status,
        after=after,
        limit=limit,
    )

"""Mailing a person invited to a tenant's team (`user.invited`, from the gateway).

Staff mail, not marketing: no consent applies, but an address an erasure names or the
suppression list holds (hard bounce, complaint, suppressed by hand) is not mailed and is
recorded `suppressed` (`transactional_block`). Each invitation is mailed once: its record (by
`invitation_mail_id`) is written outside the consumer's transaction as soon as it is known, so a
redelivered event skips an invitation already sent or suppressed. A failed send is recorded and
raised: the consumer delivers the event again (its retries), then dead-letters it, and the
failure stays recorded. Inviting a removed member again is a new invitation, so a new mail."""

from __future__ import annotations

from crm_campaigns.application.transactional import TransactionalMailer, transactional_block
from crm_campaigns.domain.invitation_mail import (
    InvitationMail,
    InvitationMailStatus,
    invitation_email,
    invitation_mail_id,
)
from crm_campaigns.repositories.invitation_mails import InvitationMailRepository
from crm_shared import Database, EventEnvelope, Session, UserInvited, email_sha256


async def mail_invitation(
    database: Database,
    mailer: TransactionalMailer,
    envelope: EventEnvelope[UserInvited],
    session: Session,
) -> InvitationMailStatus:
    """Mails the invitation unless it was mailed before or the address may not get it, and
    records what was done."""
    tenant_id = envelope.tenant_id
    invitation = envelope.data
    mail_id = invitation_mail_id(invitation.invitation_id)
    mails = InvitationMailRepository(database, tenant_id)
    already = await mails.get(mail_id)
    if already is not None and already.status is not InvitationMailStatus.FAILED:
        return already.status  # sent or suppressed before: a redelivery mails nobody twice

    def recorded(status: InvitationMailStatus, reason: str | None) -> InvitationMail:
        return InvitationMail(
            id=mail_id,
            tenant_id=tenant_id,
            invitation_id=invitation.invitation_id,
            user_id=invitation.user_id,
            email_sha256=email_sha256(invitation.email),
            status=status,
            reason=reason,
        )

    blocked = await transactional_block(
        database, tenant_id, None, invitation.email, session=session
    )
    if blocked is not None:
        await mails.record(recorded(InvitationMailStatus.SUPPRESSED, blocked))
        return InvitationMailStatus.SUPPRESSED
    email = invitation_email(
        invitation,
        sender=mailer.sender_of(tenant_id),
        mail_id=mail_id,
        domain=mailer.message_domain,
    )
    try:
        await mailer.send(tenant_id, email, invitation.email)
    except Exception as error:
        # Outside the transaction: it is undone by the raise, the record must stay.
        await mails.record(recorded(InvitationMailStatus.FAILED, repr(error)[:500]))
        raise
    await mails.record(recorded(InvitationMailStatus.SENT, None))
    return InvitationMailStatus.SENT


async def invitation_mails(
    database: Database,
    tenant_id: str,
    *,
    user_ids: list[str],
    status: InvitationMailStatus | None,
    after: str | None,
    limit: int,
) -> list[InvitationMail]:
    """The tenant's invitation mails in id order (the order of the invitations, stable pages),
    of the given people if any."""
    return await InvitationMailRepository(database, tenant_id).page(
        user_ids=user_ids, status=status, after=after, limit=limit
    )

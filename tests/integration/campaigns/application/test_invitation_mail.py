"""The mail to a person invited to a tenant's team (`user.invited`) against SecantusDB and a
real SMTP server: who invited them, their roles and the sign-in link, once per invitation
however often the event is delivered; a suppressed address is recorded, not mailed; a send
that fails is recorded and raised for the consumer to retry."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime

import aiosmtplib
import pytest
from conftest import SmtpSink

from crm_campaigns.adapters.senders import Senders
from crm_campaigns.adapters.smtp import SmtpPool
from crm_campaigns.application.invitation_mail import invitation_mails, mail_invitation
from crm_campaigns.application.transactional import TransactionalMailer
from crm_campaigns.domain.invitation_mail import (
    InvitationMail,
    InvitationMailStatus,
    invitation_mail_id,
)
from crm_campaigns.domain.suppression import ListReason, Suppression
from crm_campaigns.repositories.invitation_mails import InvitationMailRepository
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_devstack.infra import free_ports
from crm_shared import (
    USER_INVITED,
    EventEnvelope,
    Session,
    UserInvited,
    email_sha256,
    in_transaction,
)
from helpers import unique
from integration.campaigns.application.test_delivery import Setup

pytestmark = pytest.mark.integration

SENDER = "Talent Team <talent@recruitcrm.example>"
SIGN_IN = "https://crm.example.com/console/sign-in?tenant=acme"


def invited(tenant: str, email: str, **changes: object) -> EventEnvelope[UserInvited]:
    payload = UserInvited(
        invitation_id=unique("inv"),
        user_id=unique("usr"),
        email=email,
        roles=["coordinator", "recruiter"],
        invited_by_user_id="usr_ada",
        invited_by_name="Ada Lovelace",
        tenant_name="Acme Corp",
        sign_in_url=SIGN_IN,
        invited_at=datetime(2027, 1, 1, tzinfo=UTC),
    ).model_copy(update=changes)
    return EventEnvelope[UserInvited](
        type=USER_INVITED.name,
        source="gateway",
        tenant_id=tenant,
        subject=payload.user_id,
        schema_version=1,
        data=payload,
    )


async def deliver(delivery: Setup, pool: SmtpPool, envelope: EventEnvelope[UserInvited]) -> None:
    """What the subscriber does with one delivery of the event."""
    mailer = TransactionalMailer(pool, Senders.from_settings(SENDER, {}))

    async def work(session: Session) -> None:
        await mail_invitation(delivery.database, mailer, envelope, session)

    await in_transaction(delivery.mongo, work)


async def record(delivery: Setup, envelope: EventEnvelope[UserInvited]) -> InvitationMail | None:
    return await InvitationMailRepository(delivery.database, delivery.tenant).get(
        invitation_mail_id(envelope.data.invitation_id)
    )


async def test_an_invitation_is_mailed_once_naming_inviter_roles_and_sign_in_link(
    delivery: Setup, smtp_sink: SmtpSink
) -> None:
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    address = f"{unique('nina')}@example.org"
    envelope = invited(delivery.tenant, address)
    try:
        await deliver(delivery, pool, envelope)
        await deliver(delivery, pool, envelope)  # redelivered: not mailed again
    finally:
        await pool.close()

    [mail] = smtp_sink.messages_to(address)
    parsed = mail.parsed()
    assert parsed["Subject"] == "You are invited to Acme Corp on Recruitment CRM"
    assert parsed["From"] == SENDER
    text = parsed.get_body(("plain",))
    html = parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    plain = text.get_content()
    assert "Ada Lovelace invited you to join Acme Corp" in plain
    assert "as coordinator and recruiter" in plain
    assert SIGN_IN in plain
    assert 'href="https://crm.example.com/console/sign-in?tenant=acme"' in html.get_content()
    stored = await record(delivery, envelope)
    assert stored is not None
    assert (stored.status, stored.attempts) == (InvitationMailStatus.SENT, 1)
    assert stored.email_sha256 == email_sha256(address)


async def test_the_operators_invitation_names_the_tenants_administrators(
    delivery: Setup, smtp_sink: SmtpSink
) -> None:
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    address = f"{unique('gia')}@example.org"
    try:
        await deliver(
            delivery,
            pool,
            invited(
                delivery.tenant,
                address,
                roles=["admin"],
                invited_by_user_id=None,
                invited_by_name="",
            ),
        )
    finally:
        await pool.close()

    [mail] = smtp_sink.messages_to(address)
    text = mail.parsed().get_body(("plain",))
    assert text is not None
    assert "An administrator of Acme Corp invited you to join Acme Corp" in text.get_content()
    assert "as admin." in text.get_content()


async def test_a_suppressed_address_is_recorded_not_mailed(
    delivery: Setup, smtp_sink: SmtpSink
) -> None:
    address = f"{unique('bounced')}@example.org"
    await SuppressionRepository(delivery.database, delivery.tenant).add(
        Suppression(
            tenant_id=delivery.tenant,
            email_sha256=email_sha256(address),
            reason=ListReason.BOUNCED,
            source="test",
        )
    )
    envelope = invited(delivery.tenant, address)
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    try:
        await deliver(delivery, pool, envelope)
    finally:
        await pool.close()

    assert smtp_sink.messages_to(address) == []
    stored = await record(delivery, envelope)
    assert stored is not None
    assert (stored.status, stored.reason) == (InvitationMailStatus.SUPPRESSED, "bounced")


async def test_a_failed_send_is_recorded_and_raised_then_a_retry_sends_it_once(
    delivery: Setup, smtp_sink: SmtpSink
) -> None:
    [nothing_listens] = free_ports(1)
    down = SmtpPool("127.0.0.1", nothing_listens, 2, 1)
    address = f"{unique('unlucky')}@example.org"
    envelope = invited(delivery.tenant, address)

    with pytest.raises((OSError, aiosmtplib.SMTPException)):  # refused, however it says so
        await deliver(delivery, down, envelope)
    await down.close()

    failed = await record(delivery, envelope)
    assert failed is not None
    assert (failed.status, failed.attempts) == (InvitationMailStatus.FAILED, 1)
    assert failed.reason
    up = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    try:
        await deliver(delivery, up, envelope)  # the consumer's retry
        await deliver(delivery, up, envelope)  # delivered again after a lost commit
    finally:
        await up.close()
    sent = await record(delivery, envelope)
    assert sent is not None
    assert (sent.status, sent.attempts) == (InvitationMailStatus.SENT, 2)
    assert len(smtp_sink.messages_to(address)) == 1


async def test_invitation_mails_are_listed_by_person_in_the_order_of_the_invitations(
    delivery: Setup, smtp_sink: SmtpSink
) -> None:
    base = unique("inv")
    nina, omar, bounced = (f"{unique(n)}@example.org" for n in ("nina", "omar", "bounced"))
    await SuppressionRepository(delivery.database, delivery.tenant).add(
        Suppression(
            tenant_id=delivery.tenant,
            email_sha256=email_sha256(bounced),
            reason=ListReason.BOUNCED,
            source="test",
        )
    )
    first = invited(delivery.tenant, nina, invitation_id=f"{base}_1", user_id="usr_nina")
    others = invited(delivery.tenant, omar, invitation_id=f"{base}_2", user_id="usr_omar")
    blocked = invited(delivery.tenant, bounced, invitation_id=f"{base}_3", user_id="usr_bo")
    resent = invited(delivery.tenant, nina, invitation_id=f"{base}_4", user_id="usr_nina")
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    try:
        for envelope in (resent, first, others, blocked):  # mailed in any order
            await deliver(delivery, pool, envelope)
    finally:
        await pool.close()

    def listed(
        user_ids: list[str],
        status: InvitationMailStatus | None = None,
        after: str | None = None,
        limit: int = 10,
    ) -> Awaitable[list[InvitationMail]]:
        return invitation_mails(
            delivery.database,
            delivery.tenant,
            user_ids=user_ids,
            status=status,
            after=after,
            limit=limit,
        )

    ninas = await listed(["usr_nina"])
    assert [m.invitation_id for m in ninas] == [f"{base}_1", f"{base}_4"]
    both = await listed(["usr_nina", "usr_bo"])
    assert [m.invitation_id for m in both] == [f"{base}_1", f"{base}_3", f"{base}_4"]
    [suppressed] = await listed([], InvitationMailStatus.SUPPRESSED)
    assert (suppressed.user_id, suppressed.reason) == ("usr_bo", "bounced")
    page_one = await listed([], limit=2)
    page_two = await listed([], after=page_one[-1].id, limit=2)
    assert [m.invitation_id for m in page_one + page_two] == [f"{base}_{n}" for n in (1, 2, 3, 4)]
    other_tenant = await invitation_mails(
        delivery.database, unique("globex"), user_ids=[], status=None, after=None, limit=10
    )
    assert other_tenant == []

"""A tenant with its own sender domain: the dispatcher sends its mail From that domain with a
DKIM signature that verifies, as received by a real SMTP server, against the key published for
the tenant's selector; other tenants send as the platform, unsigned."""

from __future__ import annotations

import base64
from datetime import timedelta

import dkim
import pytest
from conftest import SmtpSink
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crm_campaigns.delivery import MailDispatcher
from crm_campaigns.domain.policy import SendPolicy
from crm_campaigns.senders import Senders, TenantSenderSettings
from crm_campaigns.smtp import SmtpPool
from crm_shared import Outbox
from integration.campaigns.test_delivery import Setup, limits, queue

pytestmark = pytest.mark.integration

PLATFORM = "Talent Team <talent@recruitcrm.example>"


async def test_a_tenants_mail_is_from_its_domain_and_signed_with_its_key(
    delivery: Setup, smtp_sink: SmtpSink
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    domain = f"{delivery.tenant}.example"
    senders = Senders.from_settings(
        PLATFORM,
        {
            delivery.tenant: TenantSenderSettings(
                sender=f"Careers <careers@{domain}>",
                dkim_selector="crm1",
                dkim_private_key=pem,
            )
        },
    )
    [signed_to] = await queue(delivery, 1)
    pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
    worker = MailDispatcher(
        mongo=delivery.mongo,
        database=delivery.database,
        outbox=Outbox(delivery.database, "campaigns"),
        transport=pool,
        policy=SendPolicy(),
        sender=PLATFORM,
        lease=timedelta(seconds=60),
        batch_size=50,
        limits=limits(),
        senders=senders,
    )
    assert await worker.deliver_batch() == 1
    # Another tenant, through the same dispatcher, sends as the platform.
    delivery.tenant = f"{delivery.tenant}-other"
    [unsigned_to] = await queue(delivery, 1)
    assert await worker.deliver_batch() == 1
    await pool.close()

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        if name == f"crm1._domainkey.{domain}.".encode():
            return b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
        return None

    [received] = smtp_sink.messages_to(signed_to)
    assert received.parsed()["From"] == f"Careers <careers@{domain}>"
    # The envelope stays the platform's: bounces come back to one address.
    assert received.mail_from == "talent@recruitcrm.example"
    assert dkim.verify(received.raw(), dnsfunc=txt)
    [other] = smtp_sink.messages_to(unsigned_to)
    assert other.parsed()["From"] == PLATFORM
    assert b"DKIM-Signature" not in other.raw()

"""A tenant with its own sender domain: the dispatcher sends its mail From that domain with a
DKIM signature that verifies, as received by a real SMTP server, against the key published for
the tenant's selector, and through the tenant's own mail server account when it has one; other
tenants send as the platform, unsigned, through the platform's server."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from pathlib import Path

import dkim
import pytest
import trustme
from conftest import SmtpSink
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crm_campaigns.adapters.senders import Senders, TenantSenderSettings, TenantSmtpSettings
from crm_campaigns.adapters.smtp import SmtpPool, SmtpTls
from crm_campaigns.application.delivery import MailDispatcher
from crm_campaigns.domain.policy import SendPolicy
from crm_shared import Outbox
from integration.campaigns.adapters.test_smtp_security import (
    PASSWORD,
    USER,
    RecordingSmtp,
    running,
    server_context,
)
from integration.campaigns.application.test_delivery import Setup, limits, queue

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


async def test_a_tenant_with_its_own_account_sends_through_it_as_itself(
    delivery: Setup, smtp_sink: SmtpSink, tmp_path: Path
) -> None:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    own = RecordingSmtp(pipelining=True)
    with running(own, SmtpTls.STARTTLS, server_context(ca, "127.0.0.1")) as port:
        own_account = TenantSmtpSettings(
            host="127.0.0.1",
            port=port,
            security=SmtpTls.STARTTLS,
            username=USER,
            password=PASSWORD,
            ca_file=str(ca_file),
        )
        domain = f"{delivery.tenant}.example"
        senders = Senders.from_settings(
            PLATFORM,
            {
                delivery.tenant: TenantSenderSettings(
                    sender=f"Careers <careers@{domain}>", smtp=own_account
                )
            },
            timeout=5,
        )
        [own_to] = await queue(delivery, 1)
        platform_pool = SmtpPool(smtp_sink.host, smtp_sink.port, 10, 1)
        worker = MailDispatcher(
            mongo=delivery.mongo,
            database=delivery.database,
            outbox=Outbox(delivery.database, "campaigns"),
            transport=platform_pool,
            policy=SendPolicy(),
            sender=PLATFORM,
            lease=timedelta(seconds=60),
            batch_size=50,
            # One message to the platform's provider, then a long wait: the tenant's own account
            # must not draw on it, or the second send would wait that long.
            limits=limits(provider_rate=0.001, provider_burst=1),
            senders=senders,
        )
        assert await asyncio.wait_for(worker.deliver_batch(), 10) == 1
        delivery.tenant = f"{delivery.tenant}-other"
        [platform_to] = await queue(delivery, 1)
        assert await asyncio.wait_for(worker.deliver_batch(), 10) == 1
        await platform_pool.close()
        await senders.close()
    # Over TLS, logged in as the tenant's user, with the tenant's address as envelope sender.
    assert own.accepted == [(own_to, True, USER)]
    assert own.senders == [f"careers@{domain}"]
    assert smtp_sink.messages_to(own_to) == []
    [received] = smtp_sink.messages_to(platform_to)
    assert received.mail_from == "talent@recruitcrm.example"

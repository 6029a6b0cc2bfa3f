"""Tenants with a mail server account of their own: configured with TLS for credentials, sent
through with the tenant's envelope sender and the account's own limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser, Parser

import pytest
from pydantic import ValidationError

from crm_campaigns.adapters.senders import (
    SenderAccount,
    SenderProfile,
    Senders,
    TenantSenderSettings,
    TenantSmtpSettings,
)
from crm_campaigns.adapters.smtp import SmtpPool, SmtpTls
from crm_campaigns.application.consent_mail import send_confirmation
from crm_campaigns.application.transactional import TransactionalMailer
from crm_shared import ConsentConfirmationRequested, RateLimiter

pytestmark = pytest.mark.unit

PLATFORM = "Talent Team <talent@recruitcrm.example>"


class CapturingTransport:
    size = 1

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.contents: list[bytes] = []

    async def send(self, message: EmailMessage) -> None:
        raise AssertionError("not used")

    async def send_raw(self, sender: str, recipient: str, content: bytes) -> None:
        self.sent.append((sender, recipient))
        self.contents.append(content)

    async def close(self) -> None:
        pass


def test_an_own_account_needs_tls_for_its_credentials() -> None:
    with pytest.raises(ValidationError, match="need security starttls or tls"):
        TenantSmtpSettings(host="smtp.acme.example", security=SmtpTls.NONE, username="acme")
    account = TenantSmtpSettings(host="smtp.acme.example", username="acme", password="pw")
    assert (account.port, account.security) == (587, SmtpTls.STARTTLS)
    assert "pw" not in repr(account)


async def test_a_tenant_account_has_its_own_connections_address_and_limit() -> None:
    senders = Senders.from_settings(
        PLATFORM,
        {
            "acme": TenantSenderSettings(
                sender="Acme <talent@acme.example>",
                smtp=TenantSmtpSettings(host="smtp.acme.example", rate_per_second=1, burst=2),
            ),
            "globex": TenantSenderSettings(sender="Globex <jobs@globex.example>"),
        },
        pool_size=3,
    )
    account = senders.for_tenant("acme").account
    assert account is not None
    assert isinstance(account.transport, SmtpPool)
    assert account.transport.size == 3
    assert account.envelope_sender == "talent@acme.example"
    assert [account.reserve() for _ in range(2)] == [0.0, 0.0]
    assert account.reserve() > 0
    assert senders.for_tenant("globex").account is None
    assert senders.envelope_sender == "talent@recruitcrm.example"
    await senders.close()


async def test_consent_confirmations_use_the_tenants_account() -> None:
    platform, own = CapturingTransport(), CapturingTransport()
    senders = Senders(
        SenderProfile(PLATFORM),
        {
            "acme": SenderProfile(
                "Acme <talent@acme.example>",
                account=SenderAccount(
                    own,
                    "talent@acme.example",
                    RateLimiter(0, 1),
                    TenantSmtpSettings(host="smtp.acme.example"),
                ),
            )
        },
    )
    request = ConsentConfirmationRequested(
        candidate_id="c1",
        email="ada@example.org",
        first_name="Ada",
        purpose="marketing",
        reason="double_opt_in",
        confirm_url="https://crm.example/confirm",
    )
    mailer = TransactionalMailer(platform, senders)
    await send_confirmation(mailer, "acme", request, "consent-1")
    await send_confirmation(mailer, "globex", request, "consent-2")
    assert own.sent == [("talent@acme.example", "ada@example.org")]
    assert platform.sent == [("talent@recruitcrm.example", "ada@example.org")]


async def test_a_transactional_mail_without_a_date_is_sent_with_one() -> None:
    transport = CapturingTransport()
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = PLATFORM, "ada@example.org", "Weekly report"
    mail.set_content("Figures")

    await TransactionalMailer(transport, Senders(SenderProfile(PLATFORM), {})).send(
        "acme", mail, "ada@example.org"
    )

    [content] = transport.contents
    sent = BytesParser(policy=policy.default).parsebytes(content)
    assert sent["Date"] is not None
    # `-0000`: UTC, written as the marketing mail's `Date` is (formatdate, not local time).
    assert abs(sent["Date"].datetime.replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(minutes=5)


async def test_a_transactional_mail_to_a_non_ascii_address_names_it_readably() -> None:
    transport = CapturingTransport()
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = (
        "Ørsted Talent <talent@orsted.example>",
        "josé@example.es",
        "Välkommen",
    )
    mail.set_content("Hej")

    await TransactionalMailer(transport, Senders(SenderProfile(PLATFORM), {})).send(
        "acme", mail, "josé@example.es"
    )

    [content] = transport.contents
    assert "To: josé@example.es\r\n".encode() in content  # RFC 6532, not an encoded word
    # The standard library reads bytes as ASCII: UTF-8 headers are read from text.
    sent = Parser(policy=policy.SMTPUTF8).parsestr(content.decode())
    assert sent["To"].addresses[0].addr_spec == "josé@example.es"
    assert sent["From"].addresses[0].addr_spec == "talent@orsted.example"
    assert sent["From"].addresses[0].display_name == "Ørsted Talent"


def test_sender_name_in_templates_is_the_tenants_own() -> None:
    senders = Senders(
        SenderProfile(PLATFORM),
        {"acme": SenderProfile('"Björk & Ørsted Talent, Malmö" <talent@acme.example>')},
    )
    assert senders.display_name("acme") == "Björk & Ørsted Talent, Malmö"
    assert senders.display_name("globex") == "Talent Team"

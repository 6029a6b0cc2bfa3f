"""DKIM signing of a tenant's mail: the signature verifies with dkimpy against the public key
published for the tenant's selector, covers the headers that matter, and the key never shows
(admins see the DNS record to publish instead)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from crm_campaigns.adapters.senders import DkimSigner, Senders, SigningError, TenantSenderSettings
from crm_campaigns.application.consent_mail import send_confirmation
from crm_campaigns.application.transactional import TransactionalMailer
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.domain.mail import raw_email
from crm_campaigns.domain.models import Message
from crm_campaigns.main import create_app
from crm_shared import ConsentConfirmationRequested, Principal, Role
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY, internal_bearer

pytestmark = pytest.mark.unit

DOMAIN, SELECTOR = "acme.example", "crm2026"
SENDER = f"Acme Talent <talent@{DOMAIN}>"


def new_key() -> tuple[bytes, bytes]:
    """A 2048-bit RSA key: its PEM and the DER public key a DKIM TXT record carries."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, public


@pytest.fixture(scope="module")
def key() -> tuple[bytes, bytes]:
    return new_key()


def dns(public_key: bytes, selector: str = SELECTOR) -> Callable[..., bytes | None]:
    """The DNS the verifier sees: the TXT record at `<selector>._domainkey.<domain>`."""
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public_key)

    def txt(name: bytes, timeout: float = 5) -> bytes | None:
        return record if name == f"{selector}._domainkey.{DOMAIN}.".encode() else None

    return txt


def message(**overrides: str) -> Message:
    values = {
        "id": "b1-c1",
        "tenant_id": "acme",
        "candidate_id": "c1",
        "template_id": "t",
        "to_email": "ada@example.org",
        "subject": "Grüße aus Köln",
        "html": "<p>Hi Ada</p>",
        "text": "Hi Ada",
        "unsubscribe_url": "https://crm.example/u/token",
    } | overrides
    return Message.model_validate(values)


def test_signed_mail_verifies_against_the_published_key(key: tuple[bytes, bytes]) -> None:
    pem, public = key
    signer = DkimSigner(DOMAIN, SELECTOR, pem)
    signed = signer.sign(raw_email(message(), SENDER, "mail.crm.example"))
    assert signed.startswith(b"DKIM-Signature: ")
    assert dkim.verify(signed, dnsfunc=dns(public))
    fields = dict(
        part.strip().split("=", 1)
        for part in signed.split(b"\r\n\r\n")[0].decode().split("DKIM-Signature:")[1].split(";")
        if "=" in part
    )
    assert (fields["d"], fields["s"], fields["c"]) == (DOMAIN, SELECTOR, "relaxed/relaxed")
    signed_headers = {header.strip().lower() for header in fields["h"].split(":")}
    assert {
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "list-unsubscribe",
        "list-unsubscribe-post",
    } <= signed_headers


@pytest.mark.parametrize(
    ("original", "tampered"),
    [
        (b"Subject: =?utf-8?", b"Subject: Re: =?utf-8?"),
        (b"List-Unsubscribe: <https://crm.example/u/token>", b"List-Unsubscribe: <https://x/>"),
        (b"Hi Ada", b"Hi Bob"),
    ],
    ids=["subject", "list-unsubscribe", "body"],
)
def test_a_changed_header_or_body_breaks_the_signature(
    key: tuple[bytes, bytes], original: bytes, tampered: bytes
) -> None:
    pem, public = key
    signed = DkimSigner(DOMAIN, SELECTOR, pem).sign(raw_email(message(), SENDER, "x"))
    assert original in signed
    assert not dkim.verify(signed.replace(original, tampered, 1), dnsfunc=dns(public))


def test_another_key_under_the_selector_does_not_verify(key: tuple[bytes, bytes]) -> None:
    pem, _ = key
    _, other_public = new_key()
    signed = DkimSigner(DOMAIN, SELECTOR, pem).sign(raw_email(message(), SENDER, "x"))
    assert not dkim.verify(signed, dnsfunc=dns(other_public))


async def test_each_tenant_sends_as_its_sender_signed_with_its_key(
    key: tuple[bytes, bytes], tmp_path: Path
) -> None:
    pem, public = key
    key_file = tmp_path / "acme-dkim.pem"
    key_file.write_bytes(pem)
    senders = Senders.from_settings(
        "Talent Team <talent@recruitcrm.local>",
        {
            "acme": TenantSenderSettings(
                sender=SENDER, dkim_selector=SELECTOR, dkim_private_key_file=str(key_file)
            ),
            "globex": TenantSenderSettings(sender="Globex <jobs@globex.example>"),
        },
    )
    acme = senders.for_tenant("acme")
    assert acme.sender == SENDER
    assert dkim.verify(await acme.sign(raw_email(message(), acme.sender, "x")), dnsfunc=dns(public))
    globex = senders.for_tenant("globex")
    assert (globex.sender, globex.signer) == ("Globex <jobs@globex.example>", None)
    content = raw_email(message(), globex.sender, "x")
    assert await globex.sign(content) == content
    other = senders.for_tenant("initech")
    assert (other.sender, other.signer) == ("Talent Team <talent@recruitcrm.local>", None)


def test_tenant_senders_come_from_the_environment_and_never_show_the_key(
    key: tuple[bytes, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    pem, _ = key
    acme_sender = {"sender": SENDER, "dkim_selector": SELECTOR, "dkim_private_key": pem.decode()}
    monkeypatch.setenv("TENANT_SENDERS", json.dumps({"acme": acme_sender}))
    settings = CampaignsSettings()
    acme = settings.tenant_senders["acme"]
    assert acme.private_key() == pem
    private_part = pem.decode().splitlines()[1]
    assert private_part not in repr(settings)
    assert private_part not in settings.model_dump_json()
    signer = Senders.from_settings(settings.smtp_sender, settings.tenant_senders)
    assert private_part not in repr(signer.for_tenant("acme"))


def test_a_broken_key_or_half_a_dkim_setting_stops_the_service_starting() -> None:
    with pytest.raises(SigningError, match=DOMAIN):
        DkimSigner(DOMAIN, SELECTOR, b"-----BEGIN PRIVATE KEY-----\nbm9wZQ==\n-----END")
    # dkimpy would sign with any key (cryptography no longer makes RSA keys under 1024 bits,
    # whose check this also is); receivers would not verify it.
    not_rsa = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(SigningError, match="an RSA key of at least 1024 bits"):
        DkimSigner(DOMAIN, SELECTOR, not_rsa)
    with pytest.raises(ValidationError, match="needs exactly one"):
        TenantSenderSettings(sender=SENDER, dkim_selector=SELECTOR)
    with pytest.raises(ValidationError, match="needs its dkim_selector"):
        TenantSenderSettings(sender=SENDER, dkim_private_key_file="/run/secrets/acme.pem")
    with pytest.raises(ValidationError, match="no address"):
        TenantSenderSettings(sender="Acme Talent")


class CapturingTransport:
    """A mail transport that keeps what it was given."""

    size = 1

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bytes]] = []

    async def send(self, message: EmailMessage) -> None:
        raise AssertionError("consent mail goes out through send_raw")

    async def send_raw(self, sender: str, recipient: str, content: bytes) -> None:
        self.sent.append((sender, recipient, content))

    async def close(self) -> None:
        pass


async def test_consent_confirmations_go_out_as_the_tenant_signed(key: tuple[bytes, bytes]) -> None:
    pem, public = key
    senders = Senders.from_settings(
        "Talent Team <talent@recruitcrm.example>",
        {
            "acme": TenantSenderSettings(
                sender=SENDER, dkim_selector=SELECTOR, dkim_private_key=pem.decode()
            )
        },
    )
    request = ConsentConfirmationRequested(
        candidate_id="c1",
        email="ada@example.org",
        first_name="Ada",
        purpose="marketing",
        reason="double_opt_in",
        confirm_url="https://crm.example/public/v1/community/confirm/token",
    )
    transport = CapturingTransport()
    mailer = TransactionalMailer(transport, senders)
    await send_confirmation(mailer, "acme", request, "consent-1")
    await send_confirmation(mailer, "globex", request, "consent-2")
    (acme_from, acme_to, acme_mail), (globex_from, _, globex_mail) = transport.sent
    # The envelope stays the platform's; the From is the tenant's, and signed.
    assert (acme_from, acme_to, globex_from) == (
        "talent@recruitcrm.example",
        "ada@example.org",
        "talent@recruitcrm.example",
    )
    assert f"From: {SENDER}".encode() in acme_mail
    assert dkim.verify(acme_mail, dnsfunc=dns(public))
    assert b"From: Talent Team <talent@recruitcrm.example>" in globex_mail
    assert b"DKIM-Signature" not in globex_mail
    parsed = message_from_bytes(globex_mail, policy=policy.default)
    assert str(parsed["Message-ID"]).endswith("@recruitcrm.example>")


async def test_admins_see_the_dns_record_to_publish_never_the_key(
    key: tuple[bytes, bytes],
) -> None:
    pem, public = key
    secrets = {
        "internal_token_public_key": INTERNAL_TOKEN_PUBLIC_KEY,
        "link_signing_secret": "unit-tests-link-signing-secret-0123456789",
        "tracking_secret": "unit-tests-tracking-secret-0123456789",
    }
    app = create_app(
        CampaignsSettings.model_validate(
            secrets
            | {
                "tenant_senders": {
                    "acme": {
                        "sender": SENDER,
                        "dkim_selector": SELECTOR,
                        "dkim_private_key": pem.decode(),
                        "smtp": {
                            "host": "smtp.acme.example",
                            "username": "acme-relay",
                            "password": "acme-relay-password",
                        },
                    }
                }
            }
        )
    )

    def as_(tenant_id: str, role: Role) -> dict[str, str]:
        principal = Principal(tenant_id=tenant_id, user_id="ada", roles=frozenset({role}))
        return internal_bearer(principal, "campaigns")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://campaigns"
    ) as client:
        acme = await client.get("/settings/sender", headers=as_("acme", "admin"))
        recruiter = await client.get("/settings/sender", headers=as_("acme", "recruiter"))
        other = await client.get("/settings/sender", headers=as_("globex", "admin"))
    assert acme.status_code == 200, acme.text
    shown = acme.json()
    assert shown["dkim"]["dns_name"] == f"{SELECTOR}._domainkey.{DOMAIN}"
    assert shown["dkim"]["dns_txt"] == "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode()
    assert shown["account"] == {
        "host": "smtp.acme.example",
        "port": 587,
        "security": "starttls",
        "username": "acme-relay",
        "rate_per_second": 0.0,
    }
    assert (shown["own_sender"], shown["envelope_sender"]) == (True, f"talent@{DOMAIN}")
    assert pem.decode().splitlines()[1] not in acme.text
    assert "acme-relay-password" not in acme.text
    assert recruiter.status_code == 403
    assert other.json() == {
        "own_sender": False,
        "sender": "Talent Team <talent@recruitcrm.local>",
        "envelope_sender": "talent@recruitcrm.local",
        "dkim": None,
        "account": None,
    }

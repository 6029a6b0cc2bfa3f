"""Each tenant's sender: the From address its mail goes out with, for that address's domain the
DKIM key its mail is signed with (RFC 6376, through dkimpy), and optionally a mail server account
of its own (its own provider) instead of the platform's.

A tenant without a sender of its own sends as `SMTP_SENDER`, unsigned (the relay may sign). The
envelope sender (Return-Path) stays the platform's, so bounces come back to one place, unless the
tenant sends through its own account (whose provider only takes its own addresses); DMARC
alignment comes from the DKIM signature, whose domain is the From domain.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from crm_campaigns.adapters.smtp import MailTransport, SmtpPool, SmtpSecurity, SmtpTls
from crm_shared import RateLimiter

# Signed besides dkimpy's RFC 6376 list (From, To, Subject, Date, Message-ID, the MIME headers,
# List-Unsubscribe...): mailbox providers honour one-click unsubscribe only when it is signed.
EXTRA_SIGNED_HEADERS = (b"list-unsubscribe-post",)
# Relaxed for both: providers and relays re-fold headers and touch trailing whitespace.
CANONICALIZATION = (b"relaxed", b"relaxed")


class SigningError(Exception):
    """A message could not be signed; it is not sent unsigned, and retried like a 4xx."""


class TenantSmtpSettings(BaseModel):
    """A tenant's own mail server account, used instead of the platform's (`SMTP_*`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: SmtpTls = SmtpTls.STARTTLS
    username: str = ""
    password: SecretStr = SecretStr("")
    ca_file: str | None = None
    # The account's own sending limit (the platform's PROVIDER_RATE_PER_SECOND does not apply
    # to it); 0 = unlimited.
    rate_per_second: float = Field(default=0.0, ge=0)
    burst: float = Field(default=50.0, ge=1)

    @model_validator(mode="after")
    def _credentials_need_tls(self) -> TenantSmtpSettings:
        if self.username and self.security is SmtpTls.NONE:
            raise ValueError("SMTP credentials need security starttls or tls")
        return self

    def security_settings(self) -> SmtpSecurity:
        return SmtpSecurity(
            tls=self.security,
            username=self.username,
            password=self.password.get_secret_value(),
            ca_file=self.ca_file,
        )


class TenantSenderSettings(BaseModel):
    """A tenant's sender as configured (`TENANT_SENDERS`); the key is a secret reference (a file,
    typically a mounted secret) or a secret value, and is never shown or returned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sender: str
    dkim_selector: str = ""
    dkim_private_key_file: str = ""
    dkim_private_key: SecretStr = SecretStr("")
    smtp: TenantSmtpSettings | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TenantSenderSettings:
        if "@" not in parseaddr(self.sender)[1]:
            raise ValueError(f"sender {self.sender!r} has no address")
        has_key = bool(self.dkim_private_key_file) + bool(self.dkim_private_key.get_secret_value())
        if self.dkim_selector and has_key != 1:
            raise ValueError(
                "a DKIM selector needs exactly one of dkim_private_key_file and dkim_private_key"
            )
        if has_key and not self.dkim_selector:
            raise ValueError("a DKIM key needs its dkim_selector")
        return self

    def private_key(self) -> bytes:
        """The PEM private key, read from its file if it is one."""
        if self.dkim_private_key_file:
            return Path(self.dkim_private_key_file).read_bytes()
        return self.dkim_private_key.get_secret_value().encode()


MIN_RSA_KEY_BITS = 1024


@dataclass(frozen=True)
class DkimSigner:
    """Signs a domain's mail with its key, published at `<selector>._domainkey.<domain>`."""

    domain: str
    selector: str
    private_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        # A key that cannot sign, or that receivers would not trust (RFC 8301: RSA keys under
        # 1024 bits fail verification), should stop the service starting, not every message.
        try:
            key = serialization.load_pem_private_key(self.private_key, password=None)
        except (ValueError, TypeError) as unreadable:
            raise SigningError(f"the DKIM key of {self.domain} cannot be read") from unreadable
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_KEY_BITS:
            raise SigningError(
                f"the DKIM key of {self.domain} must be an RSA key of at least "
                f"{MIN_RSA_KEY_BITS} bits (2048 recommended)"
            )
        self.sign(b"From: check@" + self.domain.encode() + b"\r\n\r\ncheck\r\n")

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def dns_record(self) -> str:
        """The TXT record to publish at `dns_name`: the public half of the key."""
        key = serialization.load_pem_private_key(self.private_key, password=None)
        public = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"

    def sign(self, content: bytes) -> bytes:
        """The message with its DKIM-Signature header first."""
        try:
            signer = dkim.DKIM(content, linesep=b"\r\n")
            signer.should_sign.update(EXTRA_SIGNED_HEADERS)
            signature: bytes = signer.sign(
                self.selector.encode(),
                self.domain.encode(),
                self.private_key,
                canonicalize=CANONICALIZATION,
            )
        except dkim.DKIMException as error:
            raise SigningError(f"DKIM signing for {self.domain} failed: {error}") from error
        return signature + content


@dataclass(frozen=True)
class SenderAccount:
    """A tenant's own mail server account: its connections (shared by the process's
    dispatchers), the envelope sender it takes, and its sending limit."""

    transport: MailTransport
    envelope_sender: str
    limit: RateLimiter
    # As configured (for showing where it goes; its password stays a SecretStr).
    server: TenantSmtpSettings

    def reserve(self) -> float:
        """Seconds to wait before the next message may go to this account (its slot is taken)."""
        return self.limit.reserve("account")


@dataclass(frozen=True)
class SenderProfile:
    """Who a tenant's mail is from, how it is signed, and through which account it goes (None:
    the platform's)."""

    sender: str
    signer: DkimSigner | None = None
    account: SenderAccount | None = None

    async def sign(self, content: bytes) -> bytes:
        """`content` signed if this sender has a key. RSA in pure Python is milliseconds of CPU a
        message: off the event loop, so the API and consumers stay responsive meanwhile."""
        if self.signer is None:
            return content
        return await asyncio.to_thread(self.signer.sign, content)


class Senders:
    """The sender profile of each tenant, with the platform's sender for the rest."""

    def __init__(self, default: SenderProfile, tenants: Mapping[str, SenderProfile]) -> None:
        self._default = default
        self._tenants = dict(tenants)
        # Parsed once: a broadcast renders `sender.name` into every message.
        self._default_name = parseaddr(default.sender)[0]
        self._names = {tenant: parseaddr(profile.sender)[0] for tenant, profile in tenants.items()}

    @classmethod
    def from_settings(
        cls,
        default_sender: str,
        tenants: Mapping[str, TenantSenderSettings],
        *,
        timeout: float = 10.0,
        pool_size: int = 4,
    ) -> Senders:
        """Loads and checks every tenant's key (an unreadable or invalid key raises) and sets up
        the connections of the tenants with their own account (opened on first use)."""
        profiles = {}
        for tenant_id, configured in tenants.items():
            address = parseaddr(configured.sender)[1]
            signer = None
            if configured.dkim_selector:
                signer = DkimSigner(
                    address.rsplit("@", 1)[1].lower(),
                    configured.dkim_selector,
                    configured.private_key(),
                )
            account = None
            if (smtp := configured.smtp) is not None:
                pool = SmtpPool(smtp.host, smtp.port, timeout, pool_size, smtp.security_settings())
                limit = RateLimiter(smtp.rate_per_second, smtp.burst)
                account = SenderAccount(pool, address, limit, smtp)
            profiles[tenant_id] = SenderProfile(configured.sender, signer, account)
        return cls(SenderProfile(default_sender), profiles)

    def for_tenant(self, tenant_id: str) -> SenderProfile:
        return self._tenants.get(tenant_id, self._default)

    def display_name(self, tenant_id: str) -> str:
        """The display name of the tenant's From address (`sender.name` in its templates)."""
        return self._names.get(tenant_id, self._default_name)

    def has_own(self, tenant_id: str) -> bool:
        """Whether the tenant has a sender of its own (else it sends as the platform)."""
        return tenant_id in self._tenants

    async def close(self) -> None:
        """Closes the connections of the tenants' own accounts."""
        for profile in self._tenants.values():
            if profile.account is not None:
                await profile.account.transport.close()

    @property
    def envelope_sender(self) -> str:
        """The platform's address, where every tenant's bounces come back (MAIL FROM)."""
        return parseaddr(self._default.sender)[1]

    @property
    def message_domain(self) -> str:
        """The domain of the Message-IDs the platform gives its mail."""
        return self.envelope_sender.rsplit("@", 1)[-1] or "recruitcrm.local"

"""Each tenant's sender: the From address its mail goes out with and, for that address's domain,
the DKIM key its mail is signed with (RFC 6376, through dkimpy).

A tenant without a sender of its own sends as `SMTP_SENDER`, unsigned (the relay may sign). The
envelope sender (Return-Path) stays the platform's for every tenant, so bounces come back to one
place; DMARC alignment then comes from the DKIM signature, whose domain is the From domain.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

import dkim
from pydantic import BaseModel, ConfigDict, SecretStr, model_validator

# Signed besides dkimpy's RFC 6376 list (From, To, Subject, Date, Message-ID, the MIME headers,
# List-Unsubscribe...): mailbox providers honour one-click unsubscribe only when it is signed.
EXTRA_SIGNED_HEADERS = (b"list-unsubscribe-post",)
# Relaxed for both: providers and relays re-fold headers and touch trailing whitespace.
CANONICALIZATION = (b"relaxed", b"relaxed")


class SigningError(Exception):
    """A message could not be signed; it is not sent unsigned, and retried like a 4xx."""


class TenantSenderSettings(BaseModel):
    """A tenant's sender as configured (`TENANT_SENDERS`); the key is a secret reference (a file,
    typically a mounted secret) or a secret value, and is never shown or returned."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sender: str
    dkim_selector: str = ""
    dkim_private_key_file: str = ""
    dkim_private_key: SecretStr = SecretStr("")

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


@dataclass(frozen=True)
class DkimSigner:
    """Signs a domain's mail with its key, published at `<selector>._domainkey.<domain>`."""

    domain: str
    selector: str
    private_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        # A key that cannot sign should stop the service starting, not fail every message.
        self.sign(b"From: check@" + self.domain.encode() + b"\r\n\r\ncheck\r\n")

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
class SenderProfile:
    """Who a tenant's mail is from, and how it is signed."""

    sender: str
    signer: DkimSigner | None = None

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

    @classmethod
    def from_settings(
        cls, default_sender: str, tenants: Mapping[str, TenantSenderSettings]
    ) -> Senders:
        """Loads and checks every tenant's key (an unreadable or invalid key raises)."""
        profiles = {}
        for tenant_id, configured in tenants.items():
            signer = None
            if configured.dkim_selector:
                signer = DkimSigner(
                    parseaddr(configured.sender)[1].rsplit("@", 1)[1].lower(),
                    configured.dkim_selector,
                    configured.private_key(),
                )
            profiles[tenant_id] = SenderProfile(configured.sender, signer)
        return cls(SenderProfile(default_sender), profiles)

    def for_tenant(self, tenant_id: str) -> SenderProfile:
        return self._tenants.get(tenant_id, self._default)

    @property
    def envelope_sender(self) -> str:
        """The platform's address, where every tenant's bounces come back (MAIL FROM)."""
        return parseaddr(self._default.sender)[1]

    @property
    def message_domain(self) -> str:
        """The domain of the Message-IDs the platform gives its mail."""
        return self.envelope_sender.rsplit("@", 1)[-1] or "recruitcrm.local"

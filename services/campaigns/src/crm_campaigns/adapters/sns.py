"""Amazon SNS HTTP(S) deliveries: the envelope, and the proof that Amazon SNS sent it.

SNS signs every message it posts (`SignatureVersion` 1: SHA1withRSA, 2: SHA256withRSA) over a
canonical string of some of the envelope's fields, with the key of the X.509 certificate at
`SigningCertURL`. A message is trusted only if that URL is HTTPS on an SNS host
(`sns.<region>.amazonaws.com`, or `.amazonaws.com.cn` in China) and the signature verifies with
the certificate fetched from it; certificates are cached by URL. A `SubscriptionConfirmation` is
confirmed by fetching its `SubscribeURL`, which must be on an SNS host too (so a forged message
cannot make us fetch an arbitrary URL).

https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from typing import Literal
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel, ConfigDict, Field

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
MAX_CACHED_CERTIFICATES = 32

Fetch = Callable[[str], Awaitable[bytes]]
"""GETs a URL and returns the body (raises for a failed request)."""


class SnsError(ValueError):
    """The request is not a genuine Amazon SNS message (or asks for something SNS would not)."""


class SnsUnavailable(Exception):
    """Amazon SNS could not be reached (its certificate or the subscription URL): SNS retries a
    delivery that fails with a server error, so the caller should answer with one."""


class SnsEnvelope(BaseModel):
    """What SNS posts to an HTTP(S) subscription (its JSON body)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"] = Field(
        alias="Type"
    )
    message_id: str = Field(alias="MessageId")
    topic_arn: str = Field(alias="TopicArn")
    message: str = Field(alias="Message")
    timestamp: str = Field(alias="Timestamp")
    subject: str | None = Field(default=None, alias="Subject")
    token: str | None = Field(default=None, alias="Token")
    subscribe_url: str | None = Field(default=None, alias="SubscribeURL")
    signature_version: Literal["1", "2"] = Field(alias="SignatureVersion")
    signature: str = Field(alias="Signature")
    signing_cert_url: str = Field(alias="SigningCertURL")

    def string_to_sign(self) -> bytes:
        """The canonical string SNS signed: `name\\nvalue\\n` for each signed field, in byte
        order of the names."""
        if self.type == "Notification":
            fields: list[tuple[str, str | None]] = [
                ("Message", self.message),
                ("MessageId", self.message_id),
                *([("Subject", self.subject)] if self.subject is not None else []),
                ("Timestamp", self.timestamp),
                ("TopicArn", self.topic_arn),
                ("Type", self.type),
            ]
        else:
            fields = [
                ("Message", self.message),
                ("MessageId", self.message_id),
                ("SubscribeURL", self.subscribe_url),
                ("Timestamp", self.timestamp),
                ("Token", self.token),
                ("TopicArn", self.topic_arn),
                ("Type", self.type),
            ]
        missing = [name for name, value in fields if value is None]
        if missing:
            raise SnsError(f"a {self.type} needs {', '.join(missing)}")
        return "".join(f"{name}\n{value}\n" for name, value in fields).encode()


def on_sns_host(url: str) -> bool:
    """Whether `url` is HTTPS on an Amazon SNS host (no other port, no credentials)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and port is None
        and parts.username is None
        and SNS_HOST.match(parts.hostname or "") is not None
    )


async def https_get(url: str) -> bytes:
    """GETs `url` with certificate verification and no redirects."""
    async with httpx.AsyncClient(timeout=10.0, follow_redirects=False) as client:
        response = await client.get(url)
        response.raise_for_status()
        return response.content


class SnsVerifier:
    """Checks SNS signatures with certificates from SNS hosts, and confirms subscriptions."""

    def __init__(self, fetch: Fetch = https_get) -> None:
        self._fetch = fetch
        self._certificates: dict[str, rsa.RSAPublicKey] = {}

    async def verify(self, envelope: SnsEnvelope) -> None:
        """Raises `SnsError` unless SNS signed `envelope`."""
        url = envelope.signing_cert_url
        if not on_sns_host(url) or not urlsplit(url).path.endswith(".pem"):
            raise SnsError(f"SigningCertURL {url!r} is not an Amazon SNS certificate")
        try:
            signature = base64.b64decode(envelope.signature, validate=True)
        except binascii.Error:
            raise SnsError("the Signature is not base64") from None
        # SignatureVersion 1 (SHA1) is still SNS's default for a topic; set the topic's
        # SignatureVersion attribute to 2 for SHA256.
        sha1 = hashes.SHA1()  # noqa: S303
        algorithm = sha1 if envelope.signature_version == "1" else hashes.SHA256()
        key = await self._public_key(url)
        try:
            key.verify(signature, envelope.string_to_sign(), padding.PKCS1v15(), algorithm)
        except InvalidSignature:
            raise SnsError("the signature does not match the message") from None

    async def confirm(self, envelope: SnsEnvelope) -> None:
        """Confirms the subscription a verified `SubscriptionConfirmation` asks for."""
        url = envelope.subscribe_url or ""
        if not on_sns_host(url):
            raise SnsError(f"SubscribeURL {url!r} is not on an Amazon SNS host")
        await self._get(url)

    async def _get(self, url: str) -> bytes:
        try:
            return await self._fetch(url)
        except httpx.HTTPError as error:
            raise SnsUnavailable(f"fetching {url} failed: {error!r}") from error

    async def _public_key(self, url: str) -> rsa.RSAPublicKey:
        key = self._certificates.get(url)
        if key is None:
            try:
                certificate = x509.load_pem_x509_certificate(await self._get(url))
            except ValueError:
                raise SnsError("the signing certificate is not a PEM certificate") from None
            public_key = certificate.public_key()
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SnsError("the signing certificate has no RSA key")
            if len(self._certificates) >= MAX_CACHED_CERTIFICATES:
                self._certificates.clear()  # SNS rotates rarely: a handful of URLs at most
            key = self._certificates[url] = public_key
        return key

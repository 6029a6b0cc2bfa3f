"""Stand-ins for Amazon SNS in tests: a self-signed signing certificate and the fetcher that
serves it (the verifier's production fetcher would go to AWS)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from crm_campaigns.adapters.sns import SnsEnvelope


class SigningKey:
    """A self-signed certificate standing in for SNS's, and its key."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        self.pem = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(self.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )

    def sign(self, fields: dict[str, Any]) -> dict[str, Any]:
        """`fields` with SNS's signature over them (in the version they name)."""
        unsigned = SnsEnvelope.model_validate(fields | {"Signature": ""})
        algorithm = hashes.SHA1() if fields["SignatureVersion"] == "1" else hashes.SHA256()  # noqa: S303
        signature = self.key.sign(unsigned.string_to_sign(), padding.PKCS1v15(), algorithm)
        return fields | {"Signature": base64.b64encode(signature).decode()}


class Fetcher:
    """What the verifier fetches, and what it asked for."""

    def __init__(self, documents: dict[str, bytes]) -> None:
        self.documents = documents
        self.fetched: list[str] = []

    async def __call__(self, url: str) -> bytes:
        self.fetched.append(url)
        return self.documents.get(url, b"<ConfirmSubscriptionResponse/>")

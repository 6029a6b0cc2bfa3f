"""Signed links for people without a login: opt-in confirmation, preference centre, unsubscribe.

A token names its purpose, the tenant, a subject (usually a candidate id), an optional expiry and
a few string fields; it is signed with HMAC-SHA256 under a secret every service that issues or
honours such links shares (`LINK_SIGNING_SECRET`). A token for one purpose is never accepted
for another. `TokenSigner`, the signing itself, also signs the campaigns service's tracking
tokens under their own secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any


def compact_json(value: Any) -> str:
    """`json.dumps(value, separators=(",", ":"), sort_keys=True)`, byte for byte, for what
    tokens hold (strings, integers, None, lists and string-keyed dicts of them).

    `json.dumps` builds a new encoder on every call, and a broadcast signs five tokens a message.
    """
    if isinstance(value, str):
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, list):
        return "[" + ",".join(map(compact_json, value)) + "]"
    if isinstance(value, dict):
        pairs = sorted(value.items())
        return (
            "{"
            + ",".join(f"{encode_basestring_ascii(k)}:{compact_json(v)}" for k, v in pairs)
            + "}"
        )
    raise TypeError(f"a token cannot hold {type(value).__name__}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Signed tokens: `base64url(compact JSON).base64url(HMAC-SHA256, first 18 bytes)`."""

    def __init__(self, key: bytes) -> None:
        # Keyed once; each signature copies it rather than hashing the key again.
        self._mac = hmac.new(key, digestmod=hashlib.sha256)

    def _signature(self, body: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(body)
        return mac.digest()[:18]

    def sign(self, fields: list[Any]) -> str:
        """The token carrying `fields`."""
        body = compact_json(fields).encode()
        return f"{_b64(body)}.{_b64(self._signature(body))}"

    def open(self, token: str) -> Any:
        """The fields of a genuine token; None for anything forged or malformed."""
        try:
            body_text, signature_text = token.split(".")
            body = _unb64(body_text)
            if not hmac.compare_digest(_unb64(signature_text), self._signature(body)):
                return None
            return json.loads(body)
        except (ValueError, TypeError):  # JSONDecodeError and binascii.Error are ValueErrors
            return None


@dataclass(frozen=True)
class LinkClaim:
    """What a valid link token vouches for."""

    purpose: str
    tenant_id: str
    subject: str
    expires_at: datetime | None = None
    data: dict[str, str] = field(default_factory=dict)


class SignedLinks:
    """Issues and verifies link tokens."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("the link signing secret must have at least 32 characters")
        self._signer = TokenSigner(hashlib.sha256(b"crm-links:" + secret.encode()).digest())

    def token(self, claim: LinkClaim) -> str:
        """A URL-safe token for `claim`."""
        expires = int(claim.expires_at.timestamp()) if claim.expires_at else 0
        return self._signer.sign(
            [claim.purpose, claim.tenant_id, claim.subject, expires, claim.data]
        )

    def verify(self, token: str, purpose: str, *, now: datetime | None = None) -> LinkClaim | None:
        """The claim of a genuine, unexpired token for `purpose`; None otherwise."""
        try:
            token_purpose, tenant_id, subject, expires, data = self._signer.open(token)
        except (ValueError, TypeError):
            return None
        if token_purpose != purpose or not isinstance(data, dict):
            return None
        expires_at = datetime.fromtimestamp(int(expires), UTC) if expires else None
        if expires_at is not None and expires_at <= (now or datetime.now(UTC)):
            return None
        return LinkClaim(
            purpose, str(tenant_id), str(subject), expires_at, {k: str(v) for k, v in data.items()}
        )

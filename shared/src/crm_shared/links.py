"""Signed links for people without a login: opt-in confirmation, preference centre, unsubscribe.

A token names its purpose, the tenant, a subject (usually a candidate id), an optional expiry and
a few string fields; it is signed with HMAC-SHA256 under a secret every service that issues or
honours such links shares (`LINK_SIGNING_SECRET`). A token for one purpose is never accepted
for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

# One encoder for every token: `json.dumps` with options builds a new one on each call.
_COMPACT_SORTED_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


@dataclass(frozen=True)
class LinkClaim:
    """What a valid link token vouches for."""

    purpose: str
    tenant_id: str
    subject: str
    expires_at: datetime | None = None
    data: dict[str, str] = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SignedLinks:
    """Issues and verifies link tokens."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError("the link signing secret must have at least 32 characters")
        self._key = hashlib.sha256(b"crm-links:" + secret.encode()).digest()

    def _signature(self, body: bytes) -> bytes:
        return hmac.digest(self._key, body, hashlib.sha256)[:18]

    def token(self, claim: LinkClaim) -> str:
        """A URL-safe token for `claim`."""
        expires = int(claim.expires_at.timestamp()) if claim.expires_at else 0
        fields = [claim.purpose, claim.tenant_id, claim.subject, expires, claim.data]
        body = _COMPACT_SORTED_JSON.encode(fields).encode()
        return f"{_b64(body)}.{_b64(self._signature(body))}"

    def verify(self, token: str, purpose: str, *, now: datetime | None = None) -> LinkClaim | None:
        """The claim of a genuine, unexpired token for `purpose`; None otherwise."""
        try:
            body_text, signature_text = token.split(".")
            body = _unb64(body_text)
            if not hmac.compare_digest(_unb64(signature_text), self._signature(body)):
                return None
            token_purpose, tenant_id, subject, expires, data = json.loads(body)
        except (ValueError, TypeError, json.JSONDecodeError):
            return None
        if token_purpose != purpose or not isinstance(data, dict):
            return None
        expires_at = datetime.fromtimestamp(int(expires), UTC) if expires else None
        if expires_at is not None and expires_at <= (now or datetime.now(UTC)):
            return None
        return LinkClaim(
            purpose, str(tenant_id), str(subject), expires_at, {k: str(v) for k, v in data.items()}
        )

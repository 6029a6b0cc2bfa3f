"""Signed links for people without a login: opt-in confirmation, preference centre, unsubscribe.

A token names its purpose, the tenant, a subject (usually a candidate id), an optional expiry and
a few string fields; it is signed with HMAC-SHA256 under a secret every service that issues or
honours such links shares (`LINK_SIGNING_SECRET`). A token for one purpose is never accepted
for another. Keys rotate with key ids (`LINK_SIGNING_KEY_ID`, `LINK_SIGNING_RETIRED_SECRETS`):
links already mailed keep working while their key is kept as a retired one. `TokenSigner`, the
signing itself, also signs the campaigns service's tracking tokens under their own secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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


_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class TokenSigner:
    """Signed tokens: `base64url(compact JSON).base64url(HMAC-SHA256, first 18 bytes)`, followed
    by `.<key id>` when the signing key has one.

    Keys rotate without breaking what was mailed: a token names the key that signed it, and the
    retired keys are still accepted until they are removed from the configuration. The first
    key has the empty id, so its tokens carry none (as before there were key ids).
    """

    def __init__(
        self, key: bytes, *, key_id: str = "", retired: Mapping[str, bytes] | None = None
    ) -> None:
        for identifier in (key_id, *(retired or {})):
            if identifier and not _KEY_ID.match(identifier):
                raise ValueError(f"a key id is 1-16 of A-Z a-z 0-9 _ -, not {identifier!r}")
        if key_id in (retired or {}):
            raise ValueError(f"key {key_id!r} is both the current key and a retired one")
        self._key_id = key_id
        self._suffix = f".{key_id}" if key_id else ""
        # Keyed once; each signature copies one rather than hashing the key again.
        self._macs = {
            identifier: hmac.new(secret, digestmod=hashlib.sha256)
            for identifier, secret in {**(retired or {}), key_id: key}.items()
        }

    def _signature(self, body: bytes, key_id: str) -> bytes | None:
        keyed = self._macs.get(key_id)
        if keyed is None:
            return None
        mac = keyed.copy()
        mac.update(body)
        return mac.digest()[:18]

    def sign(self, fields: list[Any]) -> str:
        """The token carrying `fields`, signed with the current key."""
        body = compact_json(fields).encode()
        signature = self._signature(body, self._key_id)
        assert signature is not None
        return f"{_b64(body)}.{_b64(signature)}{self._suffix}"

    def open(self, token: str) -> Any:
        """The fields of a token genuine under the current or a retired key; None for anything
        forged, malformed or signed with a key no longer configured."""
        try:
            body_text, signature_text, *key_id = token.split(".")
            if len(key_id) > 1:
                return None
            body = _unb64(body_text)
            expected = self._signature(body, key_id[0] if key_id else "")
            if expected is None or not hmac.compare_digest(_unb64(signature_text), expected):
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


# How long each kind of mailed link works (docs/security.md, "Mailed links"). Unsubscribe and
# preference links must outlive any reasonable delay in reading a mail (the law and the mailbox
# providers expect an unsubscribe link to work for at least 30 days): a year. A confirmation
# grants consent, so it is short: a sign-up's works as long as the pending sign-up waits, 48
# hours. (A re-permission link works until the consent it renews ends.)
UNSUBSCRIBE_LINK_LIFETIME = timedelta(days=365)
PREFERENCES_LINK_LIFETIME = timedelta(days=365)
SIGNUP_LINK_LIFETIME = timedelta(hours=48)


def _link_key(secret: str) -> bytes:
    if len(secret) < 32:
        raise ValueError("a link signing secret must have at least 32 characters")
    return hashlib.sha256(b"crm-links:" + secret.encode()).digest()


class SignedLinks:
    """Issues and verifies link tokens; `retired_secrets` (by key id) are still honoured."""

    def __init__(
        self, secret: str, *, key_id: str = "", retired_secrets: Mapping[str, str] | None = None
    ) -> None:
        self._signer = TokenSigner(
            _link_key(secret),
            key_id=key_id,
            retired={k: _link_key(v) for k, v in (retired_secrets or {}).items()},
        )

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

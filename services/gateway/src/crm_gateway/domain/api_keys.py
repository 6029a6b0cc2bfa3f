"""API keys of internal systems: their format, their scopes, and what a key may call."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from crm_shared import PERMISSIONS, ROLE_PERMISSIONS, Role

KEY_PREFIX = "crm_"
_KEY_SHAPE = re.compile(r"^crm_([0-9a-f]{12})_([A-Za-z0-9_-]{32,})$")
# At most one `last_used_at` write per key and gateway process in this long.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class MalformedKey(ValueError):
    """A bearer token that has the key prefix but not the key's shape."""


@dataclass(frozen=True)
class NewKeySecret:
    """A freshly made key: the text shown once, and what is stored of it."""

    prefix: str
    plaintext: str
    digest: str


def new_key_secret() -> NewKeySecret:
    """A random key `crm_<12 hex lookup prefix>_<43 url-safe characters>` (256 random bits)."""
    prefix = secrets.token_hex(6)
    plaintext = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewKeySecret(prefix=prefix, plaintext=plaintext, digest=key_digest(plaintext))


def looks_like_key(token: str) -> bool:
    """Whether a bearer token is meant as an API key (by its prefix)."""
    return token.startswith(KEY_PREFIX)


def key_lookup_prefix(token: str) -> str:
    """The lookup prefix of a key; raises `MalformedKey` for anything not shaped like one."""
    match = _KEY_SHAPE.match(token)
    if match is None:
        raise MalformedKey("not a well-formed API key")
    return match.group(1)


def key_digest(plaintext: str) -> str:
    """The stored SHA-256 of a key. A fast hash suffices: the key is 256 random bits, not a
    password, so it cannot be guessed from its digest."""
    return hashlib.sha256(plaintext.encode()).hexdigest()


def digest_matches(plaintext: str, digest: str) -> bool:
    return hmac.compare_digest(key_digest(plaintext), digest)


def invalid_scopes(scopes: list[str]) -> list[str]:
    """The scopes that are no permission of the vocabulary (`<family>:<read|write>`)."""
    return [scope for scope in scopes if scope not in PERMISSIONS]


def granted_scopes(scopes: frozenset[str]) -> frozenset[str]:
    """A key's scopes as the permissions it confines its caller to: a write includes the read."""
    reads = {f"{scope.partition(':')[0]}:read" for scope in scopes if scope.endswith(":write")}
    return frozenset(scopes | reads)


# Least privileged first: a key gets the weakest role holding each of its permissions.
_ROLES_BY_PRIVILEGE: tuple[Role, ...] = ("viewer", "coordinator", "marketer", "recruiter", "admin")


def key_roles(scopes: frozenset[str]) -> frozenset[Role]:
    """The roles a key carries: for each permission of its scopes the least privileged role
    that grants it. The key's scopes confine it further (`Principal.scopes`), so the roles only
    have to be enough, never more than the scopes allow."""
    roles: set[Role] = set()
    for permission in granted_scopes(scopes):
        for role in _ROLES_BY_PRIVILEGE:
            if permission in ROLE_PERMISSIONS[role]:
                roles.add(role)
                break
    return frozenset(roles)


class Revocation(StrEnum):
    """Why a key was revoked."""

    # An admin (or a key with `users:write`) revoked it.
    BY_ADMIN = "revoked_by_admin"
    # The member who created it (or created the key that created it) was removed from the
    # tenant: a departed member's keys stop with them, as Greenhouse and GitHub do it.
    CREATOR_REMOVED = "creator_removed"


@dataclass(frozen=True)
class ApiKey:
    """A stored API key (its digest, never its text)."""

    key_id: str  # the lookup prefix: public, shown in lists
    tenant_id: str
    name: str
    scopes: frozenset[str]
    digest: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    # Set with `revoked_at` (None on keys revoked before reasons were kept: by an admin).
    revoked_reason: Revocation | None = None

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def allows(self, permission: str) -> bool:
        """Whether the key's scopes hold a permission; `<family>:write` includes the read."""
        family, _, access = permission.partition(":")
        return permission in self.scopes or (access == "read" and f"{family}:write" in self.scopes)

    @property
    def principal_id(self) -> str:
        """The user id a key acts as in the services (the internal token's `sub`)."""
        return f"{KEY_PRINCIPAL_PREFIX}{self.key_id}"


KEY_PRINCIPAL_PREFIX = "key:"


def created_by_any(keys: list[ApiKey], creators: set[str]) -> list[ApiKey]:
    """The unrevoked keys `creators` made, and the keys those keys made in turn (a key with
    `users:write` may create keys): everything that would outlive a removed member."""
    found: list[ApiKey] = []
    principals = set(creators)
    grown = True
    while grown:
        grown = False
        for key in keys:
            if key.created_by in principals and key not in found:
                found.append(key)
                principals.add(key.principal_id)
                grown = True
    return [key for key in found if key.revoked_at is None]


def key_id_of_principal(user_id: str) -> str | None:
    """The key id a principal's user id names, or None for a person."""
    if user_id.startswith(KEY_PRINCIPAL_PREFIX):
        return user_id.removeprefix(KEY_PRINCIPAL_PREFIX)
    return None

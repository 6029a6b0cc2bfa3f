"""API keys of internal systems: their format, their scopes, and what a key may call."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from crm_shared import Role

KEY_PREFIX = "crm_"
_KEY_SHAPE = re.compile(r"^crm_([0-9a-f]{12})_([A-Za-z0-9_-]{32,})$")
# At most one `last_used_at` write per key and gateway process in this long.
LAST_USED_RESOLUTION = timedelta(minutes=1)

Family = Literal[
    "candidates",
    "pools",
    "segments",
    "imports",
    "consent",
    "templates",
    "sequences",
    "broadcasts",
    "events",
    "ats",
    "analytics",
    "settings",
    "gdpr",
    "users",
    "audit",
]
FAMILIES: tuple[str, ...] = get_args(Family)
PERMISSIONS: frozenset[str] = frozenset(
    f"{family}:{access}" for family in FAMILIES for access in ("read", "write")
)

# The permission family of each first path segment of the API (`/api/v1/<segment>/...`).
# A coarse gateway-side check until the services check permissions themselves (issue 16).
_FAMILY_OF_RESOURCE: dict[str, str] = {
    "candidates": "candidates",
    "lists": "candidates",
    "pools": "pools",
    "segments": "segments",
    "imports": "imports",
    "custom-fields": "settings",
    "skills": "settings",
    "profile-settings": "settings",
    "settings": "settings",
    "suppressions": "settings",
    "notifications": "settings",
    "templates": "templates",
    "blocks": "templates",
    "sequences": "sequences",
    "messages": "broadcasts",
    "broadcasts": "broadcasts",
    "events": "events",
    "ats": "ats",
    "analytics": "analytics",
    "users": "users",
    "api-keys": "users",
    "sign-in-settings": "users",
    "audit": "audit",
}
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Families whose write makes a key an admin for the services' role checks (see `key_roles`).
_ADMIN_FAMILIES = frozenset({"settings", "gdpr", "users", "audit"})


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


def required_permission(method: str, api_path: str) -> str | None:
    """The permission a call needs (`candidates:write` for `POST /candidates`), or None for a
    path of no known family. `api_path` is the path below `/api/v1`."""
    segments = [segment for segment in api_path.split("/") if segment]
    if not segments:
        return None
    family = _FAMILY_OF_RESOURCE.get(segments[0])
    if segments[0] == "candidates" and segments[-1] == "export" and len(segments) == 3:
        family = "gdpr"  # the gateway's GDPR export of one candidate
    if family is None:
        return None
    access = "read" if method.upper() in _READ_METHODS else "write"
    return f"{family}:{access}"


def key_roles(scopes: frozenset[str]) -> frozenset[Role]:
    """The roles a key carries to the services, which still check roles, not permissions.

    The gateway has already confined the key to its scopes' families (`required_permission`),
    so a role here only needs to be enough for them: read-only keys are viewers, keys that write
    work data recruiters; keys that write tenant configuration, or touch GDPR, users or audit
    (admin-only in the services and the gateway) admins."""
    writes = {scope.partition(":")[0] for scope in scopes if scope.endswith(":write")}
    roles: set[Role] = {"viewer"} if scopes else set()
    if writes - _ADMIN_FAMILIES:
        roles.add("recruiter")
    if writes & _ADMIN_FAMILIES or any(
        scope.startswith(("gdpr:", "audit:", "users:")) for scope in scopes
    ):
        roles.add("admin")
    return frozenset(roles)


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


def key_id_of_principal(user_id: str) -> str | None:
    """The key id a principal's user id names, or None for a person."""
    if user_id.startswith(KEY_PRINCIPAL_PREFIX):
        return user_id.removeprefix(KEY_PRINCIPAL_PREFIX)
    return None

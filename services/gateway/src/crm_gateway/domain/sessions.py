"""Browser sessions of the console: the rules of signing in with the authorization code flow
(PKCE, state, nonce, where to return to), of a session's expiry, and of its cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from crm_shared import Role
from crm_shared.negotiation import weighted_values

SESSION_COOKIE = "crm_session"
CSRF_HEADER = "X-CSRF-Token"
# Methods a cookie may authenticate without a CSRF token: they change nothing.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


# What an API client names in `Accept` when it wants a problem document.
_JSON_TYPES = frozenset({"application/json", "application/problem+json"})


def prefers_html(accept: str | None) -> bool:
    """Whether an `Accept` header is a browser navigation's: `text/html` named, and ranked above
    JSON. A tie, a wildcard or no header keeps the problem document (API clients, curl)."""
    html_q = json_q = 0.0
    for media_type, quality in weighted_values(accept):
        if media_type == "text/html":
            html_q = max(html_q, quality)
        elif media_type in _JSON_TYPES:
            json_q = max(json_q, quality)
    return html_q > json_q


def new_secret() -> str:
    """A random URL-safe secret of 256 bits (session id, state, nonce, CSRF token)."""
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored of a secret the browser holds: its SHA-256, so a copy of the database
    holds no usable session id or state."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same_secret(presented: str | None, expected: str) -> bool:
    """Whether a presented secret is the expected one, in constant time."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def pkce_verifier() -> str:
    """A PKCE code verifier (RFC 7636: 43 to 128 unreserved characters; here 64)."""
    return secrets.token_urlsafe(48)


def pkce_challenge(verifier: str) -> str:
    """The S256 challenge of a verifier: base64url(SHA-256(verifier)) without padding."""
    hashed = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode("ascii")


def safe_return_to(path: str | None) -> str:
    """Where to send the browser after signing in: a same-origin relative path, else `/`.

    `//evil.example/x` and `/\\evil.example` are protocol-relative to a browser (an open
    redirect), so only a single leading slash followed by a path character is kept."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or any(ord(c) < 0x20 for c in path):
        return "/"
    return path


def cookie_is_secure(scheme: str, host: str | None) -> bool:
    """Secure everywhere but plain HTTP on loopback (the local stack without TLS); behind a
    TLS-terminating proxy the gateway sees `http` but the browser `https`, so Secure still."""
    return not (scheme == "http" and (host or "").lower() in _LOOPBACK_HOSTS)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lasts: without a request (idle), and at most (absolute)."""

    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)
    # A session's last-seen time is written at most this often (the idle expiry's resolution).
    touch_every: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class LoginAttempt:
    """A sign-in under way: what the callback needs, kept server-side under the state's digest."""

    state_digest: str
    tenant_id: str
    nonce: str
    code_verifier: str
    return_to: str
    redirect_uri: str
    expires_at: datetime


@dataclass(frozen=True)
class ProviderTokens:
    """What the identity provider's token endpoint answered."""

    id_token: str
    refresh_token: str | None
    # A JWT access token is mapped to the member as a bearer token is (Keycloak puts the
    # roles there, not in the ID token); None when the provider's is opaque or absent.
    access_token: str | None
    # When the provider's tokens expire: the session refreshes them after that.
    expires_at: datetime


@dataclass(frozen=True)
class BrowserSession:
    """A signed-in browser, as the gateway stores it (the session id only as its digest)."""

    session_digest: str
    tenant_id: str
    user_id: str
    # Who the provider said the person is, re-mapped to the member on every request (a
    # removed member's session is refused at once).
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str
    token_roles: frozenset[Role]
    csrf_token: str
    id_token: str
    refresh_token: str | None
    tokens_expire_at: datetime
    created_at: datetime
    last_seen_at: datetime
    absolute_expires_at: datetime
    roles: frozenset[Role] = field(default_factory=frozenset)

    def idle_expires_at(self, policy: SessionPolicy) -> datetime:
        return self.last_seen_at + policy.idle

    def expires_at(self, policy: SessionPolicy) -> datetime:
        """When the session ends unless it is used: the sooner of idle and absolute expiry."""
        return min(self.idle_expires_at(policy), self.absolute_expires_at)


class SessionState(StrEnum):
    """What a request finds a stored session to be."""

    ACTIVE = "active"
    NEEDS_REFRESH = "needs_refresh"
    IDLE_EXPIRED = "idle_expired"
    EXPIRED = "expired"


def session_state(session: BrowserSession, now: datetime, policy: SessionPolicy) -> SessionState:
    """Expired (absolute), idle-expired, active, or active with the provider's tokens due for
    a refresh."""
    if now >= session.absolute_expires_at:
        return SessionState.EXPIRED
    if now >= session.idle_expires_at(policy):
        return SessionState.IDLE_EXPIRED
    if now >= session.tokens_expire_at:
        return SessionState.NEEDS_REFRESH
    return SessionState.ACTIVE


def needs_touch(session: BrowserSession, now: datetime, policy: SessionPolicy) -> bool:
    """Whether a request should write the session's last-seen time (at most every
    `touch_every`, and at least ten times per idle period)."""
    every = min(policy.touch_every, policy.idle / 10)
    return now - session.last_seen_at >= every


def is_own_origin(origin: str | None, own_origin: str) -> bool:
    """Whether a request's `Origin` is present and the gateway's own (a page of its own sent
    it: browsers set it, and no page of another site can claim it)."""
    return origin is not None and origin.rstrip("/").lower() == own_origin.rstrip("/").lower()


def origin_allowed(origin: str | None, own_origin: str, allowed: frozenset[str]) -> bool:
    """Whether a cookie-authenticated write's `Origin` is the gateway's own or an allowed one.
    Browsers send `Origin` on every cross-origin and same-origin POST; a request without one
    comes from no browser page, and the CSRF token still guards it."""
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    return origin == own_origin.rstrip("/").lower() or origin in allowed

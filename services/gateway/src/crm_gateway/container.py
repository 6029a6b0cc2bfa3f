"""Everything `create_app` builds for the gateway's routes and middleware."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from crm_gateway.adapters.captcha import CaptchaVerifier
from crm_gateway.adapters.catalogue import ServiceCatalogue
from crm_gateway.application.api_keys import ApiKeyAdministration, ApiKeys
from crm_gateway.application.audit import AuditTrail
from crm_gateway.application.browser_sessions import BrowserSessions, BrowserSignIn, LoginAttempts
from crm_gateway.application.cache import TtlCache
from crm_gateway.application.idempotency import (
    IdempotentRequests,
    KeyedTiming,
    UnfinishedRequests,
)
from crm_gateway.application.identity import CallerAuthentication
from crm_gateway.application.tenants import TenantAdministration, TenantDirectory, Tenants
from crm_gateway.application.users import Memberships, UserAdministration, Users
from crm_gateway.domain.client_address import Network
from crm_gateway.domain.routing import Route
from crm_gateway.repositories.audit import AuditLog
from crm_shared import (
    InternalTokenSigner,
    MigrationsInBackground,
    RateLimiter,
    SharedRateLimiter,
)


@dataclass(frozen=True)
class IdentityStores:
    """Where tenants, people, memberships and API keys are kept (the gateway's database)."""

    tenants: Tenants
    users: Users
    memberships: Memberships
    api_keys: ApiKeys
    # Browser sign-ins under way and the console's sessions (None: no browser sign-in).
    login_attempts: LoginAttempts | None = None
    browser_sessions: BrowserSessions | None = None


@dataclass(frozen=True)
class Identity:
    """Tenants, users and API keys: who may call, and their administration."""

    tenants: TenantDirectory
    authentication: CallerAuthentication
    tenant_administration: TenantAdministration
    user_administration: UserAdministration
    key_administration: ApiKeyAdministration
    # SHA-256 hex digests of the platform operators' keys.
    operator_key_digests: frozenset[str]
    # The console's sign-in through the tenants' identity providers, and its sessions.
    browser_sign_in: BrowserSignIn | None = None


# How long the combined OpenAPI document is served before it is built again.
OPENAPI_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class GatewayContainer:
    """What the gateway's routes need, built once by the composition root."""

    upstream: httpx.AsyncClient
    routes: dict[str, Route]
    catalogue: ServiceCatalogue
    internal_hosts: frozenset[str]
    identity: Identity
    internal_tokens: InternalTokenSigner
    # Per tenant, and per API key within it (`Principal.api_key_id`), across replicas.
    tenant_limiter: SharedRateLimiter
    public_limiter: RateLimiter
    # ATS webhooks: per connection (the id in the path), and a ceiling per client address.
    ats_webhook_limiter: RateLimiter
    ats_webhook_address_limiter: RateLimiter
    max_request_bytes: int
    max_upload_bytes: int
    # Each service's base URL, by service name.
    service_urls: dict[str, str]
    max_public_request_bytes: int
    max_webhook_bytes: int
    trusted_proxies: tuple[Network, ...] = ()
    signup_address_limiter: RateLimiter | None = None
    signup_community_limiter: RateLimiter | None = None
    captcha: CaptchaVerifier | None = None
    # The console service's base URL (None: the gateway serves no console).
    console_url: str | None = None
    idempotency: IdempotentRequests | None = None
    keyed_timing: KeyedTiming = field(
        default_factory=lambda: KeyedTiming(answer_within_seconds=10, keep_waiting_seconds=50)
    )
    unfinished_requests: UnfinishedRequests = field(default_factory=UnfinishedRequests)
    # The combined OpenAPI document last built from every service's (one entry).
    openapi_cache: TtlCache[str, dict[str, Any]] = field(
        default_factory=lambda: TtlCache(OPENAPI_CACHE_SECONDS, max_entries=1)
    )
    # The audit log: entries buffered on the way in (`audit_trail`), read back by tenant admins.
    audit_trail: AuditTrail | None = None
    audit_log: AuditLog | None = None
    # The gateway's URL as browsers reach it (empty: each request's), and the other origins
    # that may write with the console's session cookie (`CORS_ORIGINS`).
    public_url: str = ""
    cors_origins: frozenset[str] = frozenset()
    # The gateway's migrations, run once the database answers (None: none run, as for a
    # gateway whose identity stores are not the database's).
    migrations: MigrationsInBackground | None = None

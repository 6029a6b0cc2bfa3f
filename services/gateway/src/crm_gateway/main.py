"""Composition root of the gateway: `uvicorn --factory crm_gateway.main:create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from crm_gateway.adapters.backchannel import identity_provider_client
from crm_gateway.adapters.captcha import SITEVERIFY_URLS, CaptchaVerifier
from crm_gateway.adapters.catalogue import ServiceCatalogue
from crm_gateway.adapters.jwks import JwksKeys
from crm_gateway.adapters.oidc_provider import OidcProvider
from crm_gateway.adapters.upstream import upstream_client
from crm_gateway.api import (
    admin,
    audit,
    console,
    docs,
    gdpr,
    platform_operator,
    proxy,
    public,
    sessions,
)
from crm_gateway.api.audit_middleware import REQUEST_ID_HEADER, AuditRecorder, audit_refusals
from crm_gateway.api.idempotency import IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER
from crm_gateway.api.middleware import (
    RATE_LIMIT_HEADERS,
    PathGuard,
    RateLimitHeaders,
    TraceHeaders,
    unexpected_error,
)
from crm_gateway.api.public_pages import install_page_problems
from crm_gateway.api.routing_shortcut import install_proxy_shortcut
from crm_gateway.application.api_keys import ApiKeyAdministration, KeyAuthenticator
from crm_gateway.application.audit import AuditTrail
from crm_gateway.application.browser_sessions import BrowserSignIn
from crm_gateway.application.idempotency import (
    IdempotentRequests,
    KeyedTiming,
    UnfinishedRequests,
)
from crm_gateway.application.identity import CallerAuthentication
from crm_gateway.application.oidc_sign_in import OidcAuthenticator
from crm_gateway.application.tenants import TenantAdministration, TenantDirectory
from crm_gateway.application.users import InvitationNotices, MemberSignIn, UserAdministration
from crm_gateway.config import GatewaySettings
from crm_gateway.container import GatewayContainer, Identity, IdentityStores
from crm_gateway.domain.authentication import DevTokenAuthenticator
from crm_gateway.domain.routing import internal_hosts, routes, service_urls
from crm_gateway.domain.sessions import CSRF_HEADER, SessionPolicy
from crm_gateway.migrations import migrations
from crm_gateway.publishers import OutboxInvitationNotices
from crm_gateway.repositories.api_keys import MongoApiKeys
from crm_gateway.repositories.audit import MongoAuditLog
from crm_gateway.repositories.idempotency import MongoIdempotencyRecords
from crm_gateway.repositories.sessions import (
    MongoBrowserSessions,
    MongoLoginAttempts,
    TokenSealer,
)
from crm_gateway.repositories.tenants import MongoTenants
from crm_gateway.repositories.users import MongoMemberships, MongoUsers
from crm_shared import (
    RATE_LIMITS,
    ClaimingWindowCounters,
    Database,
    InternalTokenSigner,
    MemoryWindowCounters,
    MigrationsInBackground,
    MongoWindowCounters,
    RateLimiter,
    SharedRateLimiter,
    WindowCounters,
    build_platform,
    create_service_app,
    load_private_key,
    utc_now,
)
from crm_shared.pages import mount_swagger_assets


class UnsafeConfiguration(ValueError):
    """The settings would run an unsafe gateway (docs/security.md, "Safe defaults")."""


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Builds the gateway: authentication, tenants, rate limits, routing, combined OpenAPI."""
    settings = settings or GatewaySettings()
    refusals = settings.production_refusals()
    if refusals:
        raise UnsafeConfiguration(
            "the gateway refuses to start in production (ENVIRONMENT=production): "
            + "; ".join(refusals)
        )
    # Loaded first: without its key the gateway could forward no authenticated request.
    signing_key = load_private_key(settings.internal_token_private_key.get_secret_value())
    signer = InternalTokenSigner(
        signing_key,
        settings.internal_token_ttl_seconds,
    )
    # The gateway emits one event, `user.invited`, through its outbox; its relay starts in the
    # background once MongoDB and Kafka answer, and the gateway consumes nothing. Its database
    # holds tenants, users, API keys, idempotency keys and rate-limit counters. It stays ready
    # while MongoDB or Kafka is unreachable: public endpoints and development tokens need no
    # more than the tenants read before the outage (TenantDirectory), rate limits count in the
    # process; members and API keys whose cached reads expired get a 503 until it is back, and
    # invitations wait in the outbox for Kafka. It mints internal tokens and verifies none.
    platform = build_platform(
        settings,
        uses_mongo=True,
        uses_kafka=False,
        ready_needs_database=False,
        verifies_internal_tokens=False,
        relays_outbox=True,
    )
    upstream = upstream_client(
        max_connections=settings.upstream_max_connections,
        keep_alive_seconds=settings.upstream_keep_alive_seconds,
        timeout_seconds=settings.upstream_timeout_seconds,
    )
    table = routes(settings)
    captcha = _captcha_verifier(settings)
    unfinished = UnfinishedRequests()
    identity_providers = identity_provider_client(
        settings.oidc.http_timeout_seconds, settings.oidc.backchannel_urls
    )
    database = platform.require_database()
    identity = build_identity(
        settings,
        IdentityStores(
            tenants=MongoTenants(database),
            users=MongoUsers(database),
            memberships=MongoMemberships(database),
            api_keys=MongoApiKeys(database),
            login_attempts=MongoLoginAttempts(database),
            browser_sessions=MongoBrowserSessions(
                database,
                TokenSealer.derived_from(
                    signing_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
                ),
            ),
        ),
        identity_providers,
        notices=OutboxInvitationNotices(platform.require_mongo(), platform.require_outbox()),
    )
    audit_log = MongoAuditLog(database, retention=timedelta(days=settings.audit_retention_days))
    audit_trail = AuditTrail(
        audit_log,
        platform.registry,
        capacity=settings.audit_buffer_entries,
        batch_size=settings.audit_batch_size,
        flush_interval_seconds=settings.audit_flush_interval_seconds,
    )

    async def close_upstream() -> AsyncIterator[None]:
        audit_trail.start()
        # Read at start: a test's container may have none (its stores are in memory).
        migrating = app.state.container.migrations
        if migrating is not None:
            migrating.start()
        try:
            yield
        finally:
            if migrating is not None:
                await migrating.stop()
            await audit_trail.stop()
            await unfinished.cancel_all()
            await upstream.aclose()
            await identity_providers.aclose()
            if captcha is not None:
                await captcha.client.aclose()

    app = create_service_app(
        platform,
        title="Recruitment CRM API",
        description="The public API of the recruitment CRM. Authenticate with "
        "`Authorization: Bearer <token>`; public endpoints need no login.",
        # The gateway's own `/api/v1` routes before the proxy's catch-all.
        routers=[
            public.router,
            public.ats_webhook_router,
            sessions.router,
            platform_operator.router,
            admin.router,
            audit.router,
            gdpr.router,
            proxy.router,
            console.router,
            docs.router,
        ],
        extra_lifespan=close_upstream,
        serve_openapi=False,
        # The gateway's port is the public one: metrics only on METRICS_PORT's own listener.
        public_metrics=False,
    )
    mount_swagger_assets(app)
    # A forwarded request skips the walk past the public and the gateway's own routes.
    install_proxy_shortcut(app, proxy=proxy.router)
    # A browser on a public page gets the gateway's own problems as a page, not as JSON.
    install_page_problems(app)
    # Outermost last: the trace headers go on every response, the path guard's refusals too;
    # a preflight is answered (or refused) before any route, and CORS headers go on problems.
    # Inside the path guard: a refused path never reaches a route, so it is no API request.
    app.add_middleware(AuditRecorder)
    audit_refusals(app)
    app.add_middleware(PathGuard)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "If-Match",
            "If-None-Match",
            IDEMPOTENCY_KEY_HEADER,
            CSRF_HEADER,
        ],
        expose_headers=[
            "Location",
            "ETag",
            "Link",
            "Retry-After",
            *RATE_LIMIT_HEADERS,
            "X-Trace-Id",
            "traceparent",
            REPLAYED_HEADER,
            REQUEST_ID_HEADER,
        ],
        # Bearer tokens, not cookies: a browser never needs to send credentials implicitly.
        allow_credentials=False,
        max_age=600,
    )
    app.add_middleware(TraceHeaders)
    app.add_exception_handler(Exception, unexpected_error)
    app.state.container = GatewayContainer(
        upstream=upstream,
        routes=table,
        catalogue=ServiceCatalogue(
            service_urls(settings), table, refresh_seconds=settings.route_refresh_seconds
        ),
        internal_hosts=internal_hosts(settings),
        identity=identity,
        internal_tokens=signer,
        tenant_limiter=_tenant_limiter(settings, platform.require_database()),
        public_limiter=RateLimiter.per_minute(settings.public_requests_per_minute_per_ip),
        ats_webhook_limiter=RateLimiter.per_minute(settings.ats_webhooks_per_minute_per_connection),
        ats_webhook_address_limiter=RateLimiter.per_minute(settings.ats_webhooks_per_minute_per_ip),
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        service_urls=service_urls(settings),
        console_url=settings.console_url.rstrip("/") or None,
        max_public_request_bytes=settings.max_public_request_bytes,
        max_webhook_bytes=settings.max_webhook_bytes,
        trusted_proxies=tuple(settings.trusted_proxies),
        signup_address_limiter=RateLimiter.per_minute(settings.signups_per_minute_per_ip),
        signup_community_limiter=RateLimiter.per_minute(settings.signups_per_minute_per_community),
        captcha=captcha,
        idempotency=IdempotentRequests(
            MongoIdempotencyRecords(database),
            lifetime=timedelta(hours=settings.idempotency_key_lifetime_hours),
            lease=timedelta(seconds=settings.idempotency_lease_seconds),
        ),
        unfinished_requests=unfinished,
        audit_trail=audit_trail,
        audit_log=audit_log,
        migrations=MigrationsInBackground(database, migrations(audit_log)),
        public_url=settings.public_url.rstrip("/"),
        cors_origins=frozenset(origin.rstrip("/").lower() for origin in settings.cors_origins),
        keyed_timing=KeyedTiming(
            answer_within_seconds=settings.upstream_timeout_seconds,
            # A second short of the lease: the outcome is recorded before any other attempt
            # could take the key over.
            keep_waiting_seconds=max(
                settings.upstream_timeout_seconds, settings.idempotency_lease_seconds - 1
            ),
        ),
    )
    return app


def _tenant_limiter(settings: GatewaySettings, database: Database) -> SharedRateLimiter:
    """The per-tenant and per-API-key request limits, counted where the settings say."""
    counters: WindowCounters = MemoryWindowCounters()
    if settings.rate_limit_storage == "mongodb":
        # A busy tenant's requests are counted in blocks of about a fifth of a second, each
        # block at most a fiftieth of a budget: one round trip per block, not per request.
        counters = ClaimingWindowCounters(
            MongoWindowCounters(database[RATE_LIMITS], settings.rate_limit_timeout_seconds),
            max_block=settings.tenant_requests_per_minute // 50,
            max_member_block=settings.api_key_requests_per_minute // 50,
        )
    return SharedRateLimiter(
        counters,
        name="requests",
        limit=settings.tenant_requests_per_minute,
        member_limit=settings.api_key_requests_per_minute,
        window_seconds=60,
    )


def _captcha_verifier(settings: GatewaySettings) -> CaptchaVerifier | None:
    if not settings.captcha_provider:
        return None
    secret = settings.captcha_secret.get_secret_value()
    if not secret:
        raise ValueError(f"CAPTCHA_PROVIDER={settings.captcha_provider} needs CAPTCHA_SECRET")
    return CaptchaVerifier(
        client=httpx.AsyncClient(timeout=settings.captcha_timeout_seconds),
        verify_url=settings.captcha_verify_url or SITEVERIFY_URLS[settings.captcha_provider],
        secret=secret,
    )


def build_identity(
    settings: GatewaySettings,
    stores: IdentityStores,
    identity_providers: httpx.AsyncClient,
    *,
    notices: InvitationNotices | None = None,
) -> Identity:
    """Tenants, members and API keys over `stores`, and the authentication of callers;
    invitations announced through `notices` (None: nobody is told of them)."""
    cache_seconds = settings.identity_cache_seconds
    directory = TenantDirectory(
        stores.tenants, settings.bootstrap_tenants(), cache_seconds=cache_seconds
    )
    members = MemberSignIn(stores.users, stores.memberships, cache_seconds=cache_seconds)
    keys = KeyAuthenticator(stores.api_keys, cache_seconds=cache_seconds)
    oidc = OidcAuthenticator(
        directory.issuers,
        JwksKeys(
            identity_providers,
            cache_seconds=settings.oidc.jwks_cache_seconds,
            min_refetch_seconds=settings.oidc.jwks_min_refetch_seconds,
        ),
        settings.oidc.policy(),
    )
    authentication = CallerAuthentication(
        DevTokenAuthenticator(settings.dev_tokens), keys, oidc, directory, members
    )
    browser_sign_in = None
    if stores.login_attempts is not None and stores.browser_sessions is not None:
        browser_sign_in = BrowserSignIn(
            tenants=directory,
            verifier=oidc,
            authentication=authentication,
            provider=OidcProvider(identity_providers, utc_now),
            attempts=stores.login_attempts,
            sessions=stores.browser_sessions,
            policy=SessionPolicy(
                idle=timedelta(minutes=settings.session_idle_minutes),
                absolute=timedelta(hours=settings.session_absolute_hours),
            ),
            client_secrets={
                tenant_id: secret.get_secret_value()
                for tenant_id, secret in settings.oidc_client_secrets.items()
            },
            attempt_lifetime=timedelta(minutes=settings.sign_in_attempt_minutes),
            clock=utc_now,
        )
    key_admin = ApiKeyAdministration(
        stores.api_keys, keys, max_lifetime=timedelta(days=settings.api_key_max_lifetime_days)
    )
    return Identity(
        tenants=directory,
        authentication=authentication,
        browser_sign_in=browser_sign_in,
        tenant_administration=TenantAdministration(stores.tenants, directory),
        user_administration=UserAdministration(
            stores.users,
            stores.memberships,
            members,
            tenants=stores.tenants,
            keys=key_admin,
            notices=notices,
        ),
        key_administration=key_admin,
        operator_key_digests=frozenset(settings.platform_operator_key_hashes),
    )

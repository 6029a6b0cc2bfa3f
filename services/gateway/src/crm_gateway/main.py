"""Composition root of the gateway: `uvicorn --factory crm_gateway.main:create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from crm_gateway.adapters.captcha import SITEVERIFY_URLS, CaptchaVerifier
from crm_gateway.adapters.catalogue import ServiceCatalogue
from crm_gateway.adapters.jwks import JwksKeys
from crm_gateway.api import audit, docs, gdpr, proxy, public
from crm_gateway.api.audit_middleware import REQUEST_ID_HEADER, AuditRecorder
from crm_gateway.api.idempotency import IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER
from crm_gateway.api.middleware import PathGuard, TraceHeaders, unexpected_error
from crm_gateway.application.audit import AuditTrail
from crm_gateway.application.idempotency import (
    IdempotentRequests,
    KeyedTiming,
    UnfinishedRequests,
)
from crm_gateway.application.oidc_sign_in import BearerAuthenticator, OidcAuthenticator
from crm_gateway.config import GatewaySettings
from crm_gateway.container import GatewayContainer
from crm_gateway.domain.authentication import DevTokenAuthenticator
from crm_gateway.domain.routing import internal_hosts, routes, service_urls
from crm_gateway.repositories.audit import MongoAuditLog
from crm_gateway.repositories.idempotency import MongoIdempotencyRecords
from crm_shared import RateLimiter, build_platform, create_service_app


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Builds the gateway: authentication, tenants, rate limits, routing, combined OpenAPI."""
    settings = settings or GatewaySettings()
    # The gateway emits no events; its database holds idempotency keys only, so it is ready
    # (and routes every request without a key) while MongoDB is unreachable.
    platform = build_platform(
        settings, uses_mongo=True, uses_kafka=False, ready_needs_database=False
    )
    upstream = httpx.AsyncClient(
        timeout=settings.upstream_timeout_seconds,
        limits=httpx.Limits(keepalive_expiry=settings.upstream_keep_alive_seconds),
        # A redirect is the caller's to follow, through the gateway; never the gateway's.
        follow_redirects=False,
    )
    table = routes(settings)
    captcha = _captcha_verifier(settings)
    unfinished = UnfinishedRequests()
    identity_providers = httpx.AsyncClient(timeout=settings.oidc.http_timeout_seconds)
    oidc = _oidc_authenticator(settings, identity_providers)
    audit_log = MongoAuditLog(
        platform.require_database(), retention=timedelta(days=settings.audit_retention_days)
    )
    audit_trail = AuditTrail(
        audit_log,
        platform.registry,
        capacity=settings.audit_buffer_entries,
        batch_size=settings.audit_batch_size,
        flush_interval_seconds=settings.audit_flush_interval_seconds,
    )

    async def close_upstream() -> AsyncIterator[None]:
        audit_trail.start()
        try:
            yield
        finally:
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
        routers=[public.router, gdpr.router, audit.router, proxy.router, docs.router],
        extra_lifespan=close_upstream,
        serve_openapi=False,
        # The gateway's port is the public one: metrics only on METRICS_PORT's own listener.
        public_metrics=False,
    )
    # Outermost last: the trace headers go on every response, the path guard's refusals too;
    # a preflight is answered (or refused) before any route, and CORS headers go on problems.
    # Inside the path guard: a refused path never reaches a route, so it is no API request.
    app.add_middleware(AuditRecorder)
    app.add_middleware(PathGuard)
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
        ],
        expose_headers=[
            "Location",
            "ETag",
            "Retry-After",
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
        authenticator=BearerAuthenticator(DevTokenAuthenticator(settings.dev_tokens), oidc),
        internal_tokens=platform.internal_tokens,
        tenants=settings.tenants,
        tenant_limiter=RateLimiter.per_minute(settings.tenant_requests_per_minute),
        public_limiter=RateLimiter.per_minute(settings.public_requests_per_minute_per_ip),
        max_request_bytes=settings.max_request_bytes,
        max_upload_bytes=settings.max_upload_bytes,
        service_urls=service_urls(settings),
        max_public_request_bytes=settings.max_public_request_bytes,
        max_webhook_bytes=settings.max_webhook_bytes,
        trusted_proxies=tuple(settings.trusted_proxies),
        signup_address_limiter=RateLimiter.per_minute(settings.signups_per_minute_per_ip),
        signup_community_limiter=RateLimiter.per_minute(settings.signups_per_minute_per_community),
        captcha=captcha,
        idempotency=IdempotentRequests(
            MongoIdempotencyRecords(platform.require_database()),
            lifetime=timedelta(hours=settings.idempotency_key_lifetime_hours),
            lease=timedelta(seconds=settings.idempotency_lease_seconds),
        ),
        unfinished_requests=unfinished,
        audit_trail=audit_trail,
        audit_log=audit_log,
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


def _oidc_authenticator(
    settings: GatewaySettings, client: httpx.AsyncClient
) -> OidcAuthenticator | None:
    """The verifier of the tenants' identity providers' JWTs; None when no tenant has one."""
    if not settings.oidc.tenants:
        return None
    return OidcAuthenticator(
        settings.oidc.tenant_issuers(),
        JwksKeys(
            client,
            cache_seconds=settings.oidc.jwks_cache_seconds,
            min_refetch_seconds=settings.oidc.jwks_min_refetch_seconds,
        ),
        settings.oidc.policy(),
    )

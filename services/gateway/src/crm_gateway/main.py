"""Composition root of the gateway: `uvicorn --factory crm_gateway.main:create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from crm_gateway.api.proxy import router
from crm_gateway.config import GatewaySettings
from crm_gateway.domain.authentication import DevTokenAuthenticator
from crm_gateway.domain.routing import routes
from crm_shared import build_platform, create_service_app


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """Builds the gateway: authentication, routing and the upstream HTTP client."""
    settings = settings or GatewaySettings()
    # The gateway owns no data yet and emits no events: it only authenticates and routes.
    platform = build_platform(settings, uses_mongo=False, uses_kafka=False)
    upstream = httpx.AsyncClient(timeout=settings.upstream_timeout_seconds)

    async def close_upstream() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await upstream.aclose()

    app = create_service_app(
        platform,
        title="Recruitment CRM API",
        description="The public API of the recruitment CRM. Authenticate with "
        "`Authorization: Bearer <token>`.",
        routers=[router],
        extra_lifespan=close_upstream,
    )
    app.state.upstream = upstream
    app.state.routes = routes(settings)
    app.state.authenticator = DevTokenAuthenticator(settings.dev_tokens)
    app.state.max_request_bytes = settings.max_request_bytes
    return app

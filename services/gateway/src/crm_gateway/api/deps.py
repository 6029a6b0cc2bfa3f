"""FastAPI dependencies of the gateway: its container, the caller's address and identity, and
the per-caller rate limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crm_gateway.api.audit_middleware import note_caller, note_rejection
from crm_gateway.config import TenantStatus
from crm_gateway.container import GatewayContainer
from crm_gateway.domain.client_address import client_address as resolve_client_address
from crm_gateway.domain.oidc import Rejection, TokenRejected
from crm_shared import (
    Principal,
    ProblemError,
    bearer_token,
    declare_dependency_problems,
    retry_after_header,
    unauthorized,
)


def container(request: Request) -> GatewayContainer:
    """FastAPI dependency: what `create_app` built for the routes."""
    built: GatewayContainer = request.app.state.container
    return built


Container = Annotated[GatewayContainer, Depends(container)]


def throttled(wait: float, detail: str) -> ProblemError:
    return ProblemError(
        429, detail, problem_type="rate-limited", headers={"Retry-After": retry_after_header(wait)}
    )


def client_address(request: Request) -> str:
    """The caller's IP address: the socket peer, or what trusted proxies say the client was.

    The server must not rewrite the peer from headers itself (uvicorn `--no-proxy-headers`):
    the gateway alone decides whom to believe (`TRUSTED_PROXIES`)."""
    peer = request.client.host if request.client else "unknown"
    state = container(request)
    forwarded = request.headers.getlist("x-forwarded-for")
    return resolve_client_address(peer, forwarded, state.trusted_proxies)


def limit_public_caller(request: Request, state: Container) -> None:
    """FastAPI dependency: a 429 problem when one IP address calls public endpoints too often."""
    wait = state.public_limiter.take(client_address(request))
    if wait:
        raise throttled(wait, "too many requests from this address")


async def authenticated_principal(request: Request, state: Container) -> Principal:
    """FastAPI dependency: the authenticated caller of an active tenant, or a 401/403 problem
    (a 503 when the tenant's identity provider cannot be reached for its keys)."""
    token = bearer_token(request)
    if token is None:
        raise unauthorized("a bearer token is required")
    try:
        principal = await state.authenticator.authenticate(token)
    except TokenRejected as rejected:
        note_rejection(request, rejected.reason.value)
        raise _refusal(rejected) from None
    note_caller(request, principal)
    tenant = state.tenants.get(principal.tenant_id)
    if tenant is None or tenant.status is not TenantStatus.ACTIVE:
        raise ProblemError(
            403,
            f"tenant {principal.tenant_id!r} is unknown or not active",
            problem_type="unknown-tenant",
        )
    wait = state.tenant_limiter.take(principal.tenant_id)
    if wait:
        raise throttled(wait, "this tenant is sending too many requests")
    return principal


declare_dependency_problems(limit_public_caller, 429)


def _refusal(rejected: TokenRejected) -> ProblemError:
    if rejected.reason is Rejection.KEYS_UNAVAILABLE:
        return ProblemError(
            503,
            rejected.detail,
            problem_type="identity-provider-unavailable",
            headers={"Retry-After": "5"},
        )
    if rejected.reason is Rejection.UNKNOWN_TOKEN:
        return unauthorized(rejected.detail)
    # RFC 6750: the reason goes in the challenge's error_description, and in the problem.
    return ProblemError(
        401,
        f"the bearer token is not valid: {rejected.detail}",
        problem_type="unauthorized",
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", '
            f'error_description="{rejected.reason.value}"'
        },
        extensions={"reason": rejected.reason.value},
    )


declare_dependency_problems(authenticated_principal, 401, 403, 429, 503)
AuthenticatedPrincipal = Annotated[Principal, Depends(authenticated_principal)]

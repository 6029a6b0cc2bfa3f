"""Forwarding to the services: the authenticated API and the public endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request, Response

from crm_gateway.config import Tenant, TenantStatus
from crm_gateway.domain.authentication import DevTokenAuthenticator
from crm_gateway.domain.rate_limit import RateLimiter, retry_after_header
from crm_gateway.domain.routing import PUBLIC_API_PREFIX, Route, route_for
from crm_shared import InternalTokens, Principal, ProblemError, bearer_token, unauthorized

router = APIRouter(prefix=PUBLIC_API_PREFIX)

# Hop-by-hop and identity headers are never forwarded: the gateway speaks for the caller.
_REQUEST_HEADERS_DROPPED = frozenset(
    {
        "host",
        "authorization",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "te",
        "trailer",
        "proxy-authorization",
        "content-length",
        "cookie",
        "x-forwarded-for",
    }
)
_RESPONSE_HEADERS_KEPT = frozenset(
    {"content-type", "location", "www-authenticate", "retry-after", "cache-control", "etag"}
)


@dataclass(frozen=True)
class GatewayState:
    """What the gateway's routes need, built once by the composition root."""

    upstream: httpx.AsyncClient
    routes: dict[str, Route]
    authenticator: DevTokenAuthenticator
    internal_tokens: InternalTokens
    tenants: dict[str, Tenant]
    tenant_limiter: RateLimiter
    public_limiter: RateLimiter
    max_request_bytes: int
    max_upload_bytes: int


def gateway_state(request: Request) -> GatewayState:
    """FastAPI dependency: the gateway's state."""
    state: GatewayState = request.app.state.gateway
    return state


State = Annotated[GatewayState, Depends(gateway_state)]


def _too_large(max_bytes: int) -> ProblemError:
    return ProblemError(
        413, f"the request body exceeds {max_bytes} bytes", problem_type="payload-too-large"
    )


async def bounded_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with a 413 problem as soon as it exceeds `max_bytes`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    received = bytearray()
    async for chunk in request.stream():
        received.extend(chunk)
        if len(received) > max_bytes:
            raise _too_large(max_bytes)
    return bytes(received)


async def streamed_body(request: Request, max_bytes: int) -> AsyncIterator[bytes]:
    """The request body passed on chunk by chunk (never held whole), cut off past `max_bytes`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise _too_large(max_bytes)
        yield chunk


def _throttled(wait: float, detail: str) -> ProblemError:
    return ProblemError(
        429, detail, problem_type="rate-limited", headers={"Retry-After": retry_after_header(wait)}
    )


def client_address(request: Request) -> str:
    """The caller's IP address as the gateway's listener saw it."""
    return request.client.host if request.client else "unknown"


def limit_public_caller(request: Request, state: State) -> None:
    """FastAPI dependency: a 429 problem when one IP address calls public endpoints too often."""
    wait = state.public_limiter.acquire(client_address(request))
    if wait:
        raise _throttled(wait, "too many requests from this address")


def authenticated_principal(request: Request, state: State) -> Principal:
    """FastAPI dependency: the authenticated caller of an active tenant, or a 401/403 problem."""
    token = bearer_token(request)
    if token is None:
        raise unauthorized("a bearer token is required")
    principal = state.authenticator.authenticate(token)
    if principal is None:
        raise unauthorized("the bearer token is not valid")
    tenant = state.tenants.get(principal.tenant_id)
    if tenant is None or tenant.status is not TenantStatus.ACTIVE:
        raise ProblemError(
            403,
            f"tenant {principal.tenant_id!r} is unknown or not active",
            problem_type="unknown-tenant",
        )
    wait = state.tenant_limiter.acquire(principal.tenant_id)
    if wait:
        raise _throttled(wait, "this tenant is sending too many requests")
    return principal


AuthenticatedPrincipal = Annotated[Principal, Depends(authenticated_principal)]


async def forward(
    request: Request,
    state: GatewayState,
    url: str,
    *,
    principal: Principal | None,
    max_bytes: int,
    body: bytes | None = None,
    stream: bool = False,
) -> Response:
    """Forwards the request to `url`, with an internal token when the caller is authenticated.

    `body` is the request body when the caller already read it (to look inside it). A streamed
    request (a file upload) is passed on as it arrives instead of being buffered.
    """
    content: bytes | AsyncIterator[bytes]
    if body is not None:
        content = body
    elif stream:
        content = streamed_body(request, max_bytes)
    else:
        content = await bounded_body(request, max_bytes)
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in _REQUEST_HEADERS_DROPPED
    }
    headers["x-forwarded-for"] = client_address(request)
    if principal is not None:
        headers["authorization"] = f"Bearer {state.internal_tokens.mint(principal)}"
    try:
        upstream = await state.upstream.request(
            request.method, url, params=request.url.query, content=content, headers=headers
        )
    except httpx.HTTPError as error:
        raise ProblemError(
            502,
            f"the service is unavailable ({type(error).__name__})",
            problem_type="upstream-unavailable",
        ) from None
    response_headers = {
        name: value
        for name, value in upstream.headers.items()
        if name.lower() in _RESPONSE_HEADERS_KEPT
    }
    location = response_headers.get("location", "")
    if principal is not None and location.startswith("/"):
        response_headers["location"] = PUBLIC_API_PREFIX + location
    return Response(upstream.content, status_code=upstream.status_code, headers=response_headers)


@router.api_route(
    "/{resource}{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    summary="Public API, forwarded to the owning service",
    include_in_schema=False,
)
async def forward_api(
    resource: str, path: str, request: Request, principal: AuthenticatedPrincipal, state: State
) -> Response:
    """Forwards an authenticated request with a short-lived internal token for the caller."""
    route = route_for(state.routes, resource + path)
    if route is None or (path and not path.startswith("/")):
        raise ProblemError(404, f"no API resource {resource!r}", problem_type="not-found")
    upload = route.streams_uploads and request.method in ("POST", "PUT")
    return await forward(
        request,
        state,
        f"{route.base_url}/{resource}{path}",
        principal=principal,
        max_bytes=state.max_upload_bytes if upload else state.max_request_bytes,
        stream=upload,
    )

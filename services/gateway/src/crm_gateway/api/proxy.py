"""The authenticated public API: `/api/v1/<resource>/...` forwarded to the owning service."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request, Response

from crm_gateway.domain.authentication import DevTokenAuthenticator
from crm_gateway.domain.routing import PUBLIC_API_PREFIX, Route
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
    }
)
_RESPONSE_HEADERS_KEPT = frozenset({"content-type", "location", "www-authenticate", "retry-after"})


def authenticated_principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated outside caller, or a 401 problem."""
    authenticator: DevTokenAuthenticator = request.app.state.authenticator
    token = bearer_token(request)
    if token is None:
        raise unauthorized("a bearer token is required")
    principal = authenticator.authenticate(token)
    if principal is None:
        raise unauthorized("the bearer token is not valid")
    return principal


AuthenticatedPrincipal = Annotated[Principal, Depends(authenticated_principal)]


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


@router.api_route(
    "/{resource}{path:path}",
    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
    summary="Public API, forwarded to the owning service",
)
async def forward(
    resource: str, path: str, request: Request, principal: AuthenticatedPrincipal
) -> Response:
    """Forwards an authenticated request with a short-lived internal token for the caller."""
    table: dict[str, Route] = request.app.state.routes
    route = table.get(resource)
    if route is None or (path and not path.startswith("/")):
        raise ProblemError(404, f"no API resource {resource!r}", problem_type="not-found")
    body = await bounded_body(request, request.app.state.max_request_bytes)
    tokens: InternalTokens = request.app.state.internal_tokens
    headers = {
        name: value
        for name, value in request.headers.items()
        if name.lower() not in _REQUEST_HEADERS_DROPPED
    }
    headers["authorization"] = f"Bearer {tokens.mint(principal)}"
    client: httpx.AsyncClient = request.app.state.upstream
    try:
        upstream = await client.request(
            request.method,
            f"{route.base_url}/{resource}{path}",
            params=request.url.query,
            content=body,
            headers=headers,
        )
    except httpx.HTTPError as error:
        raise ProblemError(
            502,
            f"the {resource} service is unavailable ({type(error).__name__})",
            problem_type="upstream-unavailable",
        ) from None
    response_headers = {
        name: value
        for name, value in upstream.headers.items()
        if name.lower() in _RESPONSE_HEADERS_KEPT
    }
    if "location" in response_headers and response_headers["location"].startswith("/"):
        response_headers["location"] = PUBLIC_API_PREFIX + response_headers["location"]
    return Response(upstream.content, status_code=upstream.status_code, headers=response_headers)

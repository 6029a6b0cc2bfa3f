"""Forwarding to the services: the authenticated API and the public endpoints."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence

import httpx
from fastapi import APIRouter, Request, Response

from crm_gateway.adapters.catalogue import ServiceUnavailable
from crm_gateway.api.audit_middleware import note_changes, note_operation
from crm_gateway.api.deps import AuthenticatedPrincipal, Container, client_address
from crm_gateway.api.idempotency import forward_once, requested_key
from crm_gateway.api.middleware import raw_path, request_id
from crm_gateway.container import GatewayContainer
from crm_gateway.domain.idempotency import KeyScope, request_fingerprint
from crm_gateway.domain.paths import encoded_path, path_segments
from crm_gateway.domain.routing import (
    HTTP_METHODS,
    PUBLIC_API_PREFIX,
    MethodNotAllowed,
    public_location,
    route_for,
)
from crm_shared import (
    PROBLEM_JSON,
    Principal,
    ProblemError,
    forbidden,
    forwarded_operation,
    parse_permission,
    principal_may,
)
from crm_shared.audit_changes import CHANGES_HEADER, read_changes

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
    {
        "content-type",
        # A download's file name (an import's error report as CSV).
        "content-disposition",
        "location",
        "www-authenticate",
        "retry-after",
        "cache-control",
        "allow",
        "etag",
        # The next page of a list that pages by `Link` (RFC 8288); services give it relative to
        # the request, so no internal address leaks through it.
        "link",
        # A page's own security policy (its CSP carries the nonce of its inline code).
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
        # The console's instructions to htmx in the browser (go to a page, raise an event).
        "hx-redirect",
        "hx-location",
        "hx-push-url",
        "hx-replace-url",
        "hx-trigger",
        "hx-retarget",
        "hx-reswap",
        "hx-refresh",
    }
)
# An erasure: on success, the gateway forgets its stored responses naming the person too.
ERASURE_OPERATION = ("POST", "/candidates/{candidate_id}/erasure")
# Methods a request may be repeated with (RFC 9110, 9.2.2): sent twice, they do what once does.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# The request surely never reached the service: no connection, or none free in time.
_NEVER_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


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


def internal_authorization(state: GatewayContainer, principal: Principal, service: str) -> str:
    """The `Authorization` value for a call to `service` on behalf of `principal`: a token only
    that service accepts, carrying the id of the outside request."""
    if principal.request_id is None:
        principal = principal.model_copy(update={"request_id": request_id()})
    return f"Bearer {state.internal_tokens.mint(principal, service)}"


def _unavailable(detail: str) -> ProblemError:
    return ProblemError(502, detail, problem_type="upstream-unavailable")


async def exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    query: str,
    content: bytes | AsyncIterator[bytes],
    headers: dict[str, str],
    timeout: float | None = None,
) -> httpx.Response:
    """Sends one request upstream; a failure is a problem that says whether it may have taken
    effect: 502 when it surely never reached the service, 504 when it may have.

    A pooled connection the service closed just as it was reused (a service closes one after an
    unhandled error, or when it shuts down) loses the request with no response. An idempotent
    request with a buffered body is then sent once more, on a new connection.
    """
    attempts = 2 if method in _IDEMPOTENT_METHODS and isinstance(content, bytes) else 1
    # Parsed once here: given the text and the query apart, httpx parsed the URL, merged the
    # query in and parsed it again, even an empty one (twice the time). The query is merged as
    # httpx merges `params=`, so the service receives the same query as before.
    target = httpx.URL(url)
    if query:
        target = target.copy_merge_params(query)
    for attempt in range(1, attempts + 1):
        try:
            return await client.request(
                method,
                target,
                content=content,
                headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )
        except _NEVER_SENT as error:
            raise _unavailable(f"the service is unavailable ({type(error).__name__})") from None
        except httpx.TimeoutException as error:
            raise ProblemError(
                504,
                f"the service did not answer in time ({type(error).__name__}); the request may "
                "have taken effect",
                problem_type="upstream-timeout",
            ) from None
        except httpx.HTTPError as error:
            if attempt < attempts:
                continue
            raise ProblemError(
                504,
                f"the service gave no response ({type(error).__name__}); the request may have "
                "taken effect",
                problem_type="upstream-no-response",
            ) from None
    raise AssertionError("unreachable: the last attempt returns or raises")


def _public_problem(body: bytes, instance: str) -> bytes:
    """A service's problem document, its `instance` the public path the caller called."""
    try:
        problem = json.loads(body)
    except ValueError:
        return body
    if not isinstance(problem, dict) or "instance" not in problem:
        return body
    problem["instance"] = instance
    return json.dumps(problem).encode()


async def forward(
    request: Request,
    state: GatewayContainer,
    base_url: str,
    segments: Sequence[str],
    *,
    principal: Principal | None,
    service: str = "",
    max_bytes: int,
    body: bytes | None = None,
    stream: bool = False,
    api: bool = False,
    timeout: float | None = None,
    extra_headers: dict[str, str] | None = None,
    public_paths: tuple[str, ...] = (),
) -> Response:
    """Forwards the request to the path `segments` (each percent-encoded) of the service at
    `base_url`, with an internal token for `service` when the caller is authenticated.

    `body` is the request body when the caller already read it (to look inside it). A streamed
    request (a file upload) is passed on as it arrives instead of being buffered. `api` says the
    caller called the authenticated API, where the service's own paths are published. `timeout`
    replaces the upstream client's own. `extra_headers` (lower-case names) replace whatever the
    caller sent under the same names; an empty value removes the caller's. A `Location` under
    one of `public_paths` is passed on as it is (`public_location`).
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
    for name, value in (extra_headers or {}).items():
        if value:
            headers[name] = value
        else:
            headers.pop(name, None)
    if principal is not None:
        headers["authorization"] = internal_authorization(state, principal, service)
    upstream = await exchange(
        state.upstream,
        request.method,
        base_url + encoded_path(list(segments)),
        query=request.url.query,
        content=content,
        headers=headers,
        timeout=timeout,
    )
    response_headers = {
        name: value
        for name, value in upstream.headers.items()
        if name.lower() in _RESPONSE_HEADERS_KEPT
    }
    if "location" in response_headers:
        location = public_location(
            response_headers.pop("location"),
            state.internal_hosts,
            state.routes if api else None,
            public_paths,
        )
        if location is not None:
            response_headers["location"] = location
    if api:
        # What the service's write changed, for the audit entry; never passed on (it is not
        # among the headers kept), so only the audit log's readers see it.
        note_changes(request, read_changes(upstream.headers.get(CHANGES_HEADER)))
    content_out = upstream.content
    if upstream.headers.get("content-type", "").startswith(PROBLEM_JSON):
        content_out = _public_problem(content_out, raw_path(request.scope).decode("ascii"))
    return Response(content_out, status_code=upstream.status_code, headers=response_headers)


@router.api_route(
    "/{path:path}",
    methods=list(HTTP_METHODS),
    summary="Public API, forwarded to the owning service",
    dependencies=[forwarded_operation()],
    include_in_schema=False,
)
async def forward_api(
    request: Request, principal: AuthenticatedPrincipal, state: Container
) -> Response:
    """Forwards an authenticated request to the operation a service publishes for its path and
    method, with a short-lived internal token for the caller; anything else is refused here."""
    # The raw path, not the decoded one: an encoded slash stays inside its segment. It holds
    # the root path the gateway may be mounted under, then `api`, `v1`.
    # A proxy in front may have stripped the root path already: only a raw path that starts
    # with it loses it.
    root = [part for part in str(request.scope.get("root_path", "")).split("/") if part]
    full = path_segments(raw_path(request.scope))
    if root and list(full[: len(root)]) == root:
        full = full[len(root) :]
    segments = full[2:]
    route = route_for(state.routes, "/".join(segments))
    if route is None:
        resource = segments[0] if segments else ""
        raise ProblemError(404, f"no API resource {resource!r}", problem_type="not-found")
    try:
        found = await state.catalogue.match(state.upstream, route.service, request.method, segments)
    except ServiceUnavailable:
        raise _unavailable(f"the {route.service} service is unavailable") from None
    if found is None:
        raise ProblemError(404, "no such API path", problem_type="not-found")
    if isinstance(found, MethodNotAllowed):
        raise ProblemError(
            405,
            f"this path serves {', '.join(found.allowed)}",
            problem_type="method-not-allowed",
            headers={"Allow": ", ".join(found.allowed)},
        )
    note_operation(request, found.template, segments)
    # The service checks the permission too; refused here, a forbidden call sends nothing on
    # and is a 403 before its body is read (even a body that is not JSON).
    permission = parse_permission(found.permission or "")
    if permission is not None and not principal_may(principal, permission):
        raise forbidden(permission, principal)
    upload = found.streams_uploads
    answer = await _forward_operation(
        request, principal, state, route.base_url, route.service, segments, upload
    )
    if (
        (request.method, found.template) == ERASURE_OPERATION
        and answer.status_code < 300
        and state.idempotency is not None
    ):
        # The person's data must not outlive the erasure in a response kept for replay.
        await state.idempotency.forget_person(principal.tenant_id, segments[1])
    return answer


async def _forward_operation(
    request: Request,
    principal: AuthenticatedPrincipal,
    state: Container,
    base_url: str,
    service: str,
    segments: tuple[str, ...],
    upload: bool,
) -> Response:
    """The operation's answer: forwarded once, or, under an `Idempotency-Key`, at most once
    per key with the first outcome replayed."""
    max_bytes = state.max_upload_bytes if upload else state.max_request_bytes
    key = requested_key(request) if request.method == "POST" else None
    if key is None or state.idempotency is None:
        return await forward(
            request,
            state,
            base_url,
            segments,
            principal=principal,
            service=service,
            max_bytes=max_bytes,
            stream=upload,
            api=True,
        )
    body = await bounded_body(request, max_bytes)
    return await forward_once(
        state.idempotency,
        KeyScope(principal.tenant_id, principal.user_id, key),
        request_fingerprint(request.method, encoded_path(segments), request.url.query, body),
        lambda: forward(
            request,
            state,
            base_url,
            segments,
            principal=principal,
            service=service,
            max_bytes=max_bytes,
            body=body,
            api=True,
            timeout=state.keyed_timing.keep_waiting_seconds,
        ),
        timing=state.keyed_timing,
        unfinished=state.unfinished_requests,
    )

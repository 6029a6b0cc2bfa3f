"""What the gateway does to every request and response, whichever route serves it."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import JSONResponse
from opentelemetry import trace
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_gateway.domain.paths import InvalidPath, path_segments
from crm_shared import RateLimitDecision, problem_response

logger = logging.getLogger(__name__)


def raw_path(scope: Scope) -> bytes:
    """The request path as it came over the wire, percent-escapes intact."""
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.partition(b"?")[0]
    # Servers that give no raw path: the decoded one re-encoded (an encoded slash is lost).
    return quote(str(scope["path"]), safe="/").encode("ascii")


def trace_headers() -> dict[str, str]:
    """The current trace as `X-Trace-Id` and W3C `traceparent` (none outside a trace)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    trace_id = format(context.trace_id, "032x")
    return {
        "X-Trace-Id": trace_id,
        "traceparent": f"00-{trace_id}-{context.span_id:016x}-{context.trace_flags:02x}",
    }


def request_id() -> str:
    """The id of the request being handled: its trace id, the one `X-Trace-Id` tells the
    caller (a random one outside a trace)."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else uuid.uuid4().hex


RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
# Where the rate-limit dependency leaves its decision for `RateLimitHeaders` (request.state).
RATE_LIMIT_STATE = "rate_limit"


class RateLimitHeaders:
    """Puts the `RateLimit-*` headers of the caller's budget on every authenticated response,
    whatever answered it (the service, a problem, a replay of an idempotent request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_budget(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = scope.get("state", {}).get(RATE_LIMIT_STATE)
                if isinstance(decision, RateLimitDecision):
                    response_headers = MutableHeaders(scope=message)
                    for name, value in decision.headers().items():
                        response_headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_budget)


class PathGuard:
    """Refuses a path the gateway would not read unambiguously (dot segments, encoded slashes,
    `?` or `#`, control characters) with a 400 problem, before any route or service sees it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = raw_path(scope)
            try:
                path_segments(raw)
            except InvalidPath as error:
                response = problem_response(
                    400,
                    f"the request path is not valid: {error}",
                    instance=raw.decode("ascii", "replace"),
                    problem_type="invalid-path",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class TraceHeaders:
    """Stamps every response with the trace it belongs to, so a caller can quote it and an
    operator can find it in the trace viewer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The server span is current here (the tracing middleware wraps this one).
        headers = trace_headers()

        async def send_with_trace(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in headers.items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_trace)


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """A 500 problem for an error nothing else handled. It is answered outside the middleware
    above, so it carries the trace itself; and `Connection: close`, as the server closes the
    connection after an unhandled error and a client must not send another request on it."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(
        500,
        "an unexpected error occurred",
        instance=raw_path(request.scope).decode("ascii", "replace"),
        headers={**trace_headers(), "Connection": "close"},
    )

"""Server spans of a FastAPI app, named after the route the router matched.

OpenTelemetry's FastAPI instrumentation names the span before routing, so it matches the request
against the whole route table a second time (the router then matches it again): on the gateway,
whose API sits behind some forty routes of its own, that second walk was 9% of a forwarded
read's time under the profiler (docs/performance.md). Here the span starts under the method
alone and takes its route's name (`GET /candidates/{candidate_id}`, as before) from the route the
router left in the scope, before the first byte of the response and before any child span is
named after it. A request no route took (a mounted app, a 404, a refusal before routing) is
matched as before.
Everything else is OpenTelemetry's ASGI middleware, assembled as the instrumentation assembles it.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI
from opentelemetry import metrics, trace
from opentelemetry.instrumentation._semconv import (
    _get_schema_url,
    _OpenTelemetrySemanticConventionStability,
    _OpenTelemetryStabilitySignalType,
)
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.fastapi import _get_route_details
from opentelemetry.instrumentation.fastapi.version import __version__
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from opentelemetry.trace import Span, Status, StatusCode, TracerProvider
from opentelemetry.util.http import parse_excluded_urls, sanitize_method
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

# The scope as the server handed it over (routing rewrites a mounted app's paths), the name
# the request's spans take once known, and whether the server span took it; all three live in
# the request's own scope.
_ARRIVED = "crm.span.arrived"
_NAME = "crm.span.name"
_SERVER_SPAN_NAMED = "crm.span.named"

INSTRUMENTATION = "opentelemetry.instrumentation.fastapi"

ServerRequestHook = Callable[[Span, dict[str, Any]], None]


def _method(scope: Scope) -> str:
    method = sanitize_method(str(scope.get("method", "")).strip())
    return "HTTP" if method == "_OTHER" else method


def _unrouted_details(scope: Scope) -> tuple[str, dict[str, str]]:
    """The span's name until the route is known: the method, as OpenTelemetry names a request
    that matches no route."""
    scope[_ARRIVED] = dict(scope)
    return _method(scope), {}


def _routed(scope: Scope) -> tuple[str, str] | None:
    """The request's span name and route, once the router matched a route (found once)."""
    known = scope.get(_NAME)
    if isinstance(known, tuple):
        return known or None
    route = getattr(scope.get("route"), "path", None)
    if not isinstance(route, str):
        # No route in the scope: matched the way the instrumentation matches every request.
        arrived = scope.get(_ARRIVED)
        route = _get_route_details(arrived) if isinstance(arrived, dict) else None
        if route is None:
            if arrived is not None:
                scope[_NAME] = ()  # none, and not to be looked for again
            return None
    named = (f"{_method(scope)} {route}", route)
    scope[_NAME] = named
    return named


def span_name(scope: Scope, fallback: str) -> str:
    """The name of the request's spans: `METHOD route` once the router matched a route."""
    routed = _routed(scope)
    return fallback if routed is None else routed[0]


class RoutedServerSpans(OpenTelemetryMiddleware):
    """OpenTelemetry's ASGI middleware, naming the server span and its `send`/`receive` spans
    after the matched route instead of matching the request itself."""

    def __init__(self, app: ASGIApp, **kwargs: Any) -> None:
        super().__init__(_naming_at_the_end(app), default_span_details=_unrouted_details, **kwargs)

    def _get_otel_receive(
        self, server_span_name: str, scope: Scope, receive: Receive
    ) -> Callable[[], Awaitable[MutableMapping[str, Any]]]:
        if self.exclude_receive_span:
            return receive
        unnamed = super()._get_otel_receive

        async def otel_receive() -> MutableMapping[str, Any]:
            named: Callable[[], Awaitable[MutableMapping[str, Any]]] = unnamed(  # type: ignore[no-untyped-call]
                span_name(scope, server_span_name), scope, receive
            )
            return await named()

        return otel_receive

    def _get_otel_send(
        self,
        server_span: Span,
        server_span_name: str,
        scope: Scope,
        send: Send,
        duration_attrs: dict[str, Any],
    ) -> Callable[[MutableMapping[str, Any]], Awaitable[None]]:
        otel_send: Callable[[MutableMapping[str, Any]], Awaitable[None]]
        otel_send = super()._get_otel_send(  # type: ignore[no-untyped-call]
            server_span, server_span_name, scope, send, duration_attrs
        )

        async def named_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                _name_server_span(server_span, scope, duration_attrs)
            await otel_send(message)

        return named_send

    def _set_send_span(
        self, server_span_name: str, scope: Scope, *args: Any, **kwargs: Any
    ) -> bool:
        expecting_trailers: bool = super()._set_send_span(  # type: ignore[no-untyped-call]
            span_name(scope, server_span_name), scope, *args, **kwargs
        )
        return expecting_trailers


def _name_server_span(span: Span, scope: Scope, attributes: dict[str, Any] | None) -> None:
    """Names a still open server span after its route (once) and records the route."""
    if scope.get(_SERVER_SPAN_NAMED) or not span.is_recording():
        return
    routed = _routed(scope)
    if routed is None:
        return
    scope[_SERVER_SPAN_NAMED] = True
    name, route = routed
    span.update_name(name)
    span.set_attribute(HTTP_ROUTE, route)
    if attributes is not None:
        # The request-duration metric's attributes, as the instrumentation sets them.
        attributes[HTTP_ROUTE] = route


def _naming_at_the_end(app: ASGIApp) -> ASGIApp:
    """`app`, naming the current (server) span after its route when the request ends without
    a response having started (an unanswered request, a client gone)."""

    async def naming(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        finally:
            if scope["type"] in ("http", "websocket"):
                _name_server_span(trace.get_current_span(), scope, None)

    return naming


class _RecordExceptions:
    """Records an exception on the server span before the error handler answers it (the
    instrumentation's own `ExceptionHandlerMiddleware`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as error:
            span = trace.get_current_span()
            if span.is_recording():
                span.record_exception(error)
                span.set_status(
                    Status(StatusCode.ERROR, description=f"{type(error).__name__}: {error}")
                )
            raise


def instrument_app(
    app: FastAPI,
    *,
    tracer_provider: TracerProvider,
    excluded_urls: str,
    server_request_hook: ServerRequestHook | None = None,
) -> None:
    """Traces `app`'s requests as `FastAPIInstrumentor.instrument_app` does, with the same
    middleware stack around the app's own (so error handlers run inside the span), naming each
    span from the matched route."""
    build_stack = app.build_middleware_stack
    _OpenTelemetrySemanticConventionStability._initialize()  # type: ignore[no-untyped-call]
    schema_url = _get_schema_url(
        _OpenTelemetrySemanticConventionStability._get_opentelemetry_stability_opt_in_mode(
            _OpenTelemetryStabilitySignalType.HTTP
        )
    )

    def build_middleware_stack(self: Starlette) -> ASGIApp:
        stack = build_stack()
        if not isinstance(stack, ServerErrorMiddleware):
            raise TypeError(f"unexpected middleware stack {type(stack).__name__}")
        traced = RoutedServerSpans(
            ServerErrorMiddleware(
                app=_RecordExceptions(stack.app), handler=stack.handler, debug=stack.debug
            ),
            excluded_urls=parse_excluded_urls(excluded_urls),
            server_request_hook=server_request_hook,
            # The instrumentation's own name, version and schema on the spans, as before.
            tracer=trace.get_tracer(
                INSTRUMENTATION, __version__, tracer_provider, schema_url=schema_url
            ),
            meter=metrics.get_meter(INSTRUMENTATION, __version__, schema_url=schema_url),
        )
        return ServerErrorMiddleware(app=traced)

    app.build_middleware_stack = types.MethodType(  # type: ignore[method-assign]
        functools.wraps(build_stack)(build_middleware_stack), app
    )

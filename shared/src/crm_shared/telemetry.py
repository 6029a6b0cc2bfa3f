"""Tracing and structured logging: one trace per request across HTTP, Kafka and MongoDB.

Exporters follow the standard OpenTelemetry variables: `OTEL_TRACES_EXPORTER` (zipkin, otlp,
console, none), `OTEL_EXPORTER_ZIPKIN_ENDPOINT`, `OTEL_EXPORTER_OTLP_ENDPOINT`; sampling is
parent-based with the ratio `OTEL_TRACES_SAMPLER_ARG` (1.0) for new traces. Spans leave in
batches from a background thread, never on the request path. Kafka spans come
from FastStream's telemetry middleware, which carries the context in message headers.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import httpx
from opentelemetry import propagate, trace
from opentelemetry.instrumentation._semconv import _get_schema_url, _StabilityMode
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.httpx.version import (
    __version__ as httpx_instrumentation_version,
)
from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
from opentelemetry.instrumentation.utils import (
    http_status_to_status_code,
    is_http_instrumentation_enabled,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.util.http import (
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST,
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE,
    sanitize_method,
)
from opentelemetry.util.http import redact_url as redact_known_url_secrets

from crm_shared.log_limits import install_log_rate_limit
from crm_shared.settings import ServiceSettings

_instrumented_libraries = False


def _exporter(name: str) -> SpanExporter | None:
    if name == "zipkin":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        return ConsoleSpanExporter()
    if name in ("none", ""):
        return None
    raise ValueError(f"unsupported OTEL_TRACES_EXPORTER {name!r} (zipkin, otlp, console, none)")


def trace_sampler(ratio: float) -> Sampler:
    """Which spans are recorded: parent-based, `ratio` of new traces.

    Also without an exporter: the provider is the process's one, and a span processor added
    to it later (an exporter configured by the embedding process, as the tests' in-memory one
    is) must receive the spans of every service in the process."""
    return ParentBased(TraceIdRatioBased(ratio))


def configure_tracing(settings: ServiceSettings) -> trace.TracerProvider:
    """Installs the process's tracer provider (once) and instruments PyMongo and httpx."""
    global _instrumented_libraries
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        exporter = _exporter(settings.otel_traces_exporter.strip().lower())
        provider = TracerProvider(
            resource=Resource.create({"service.name": settings.telemetry_service_name}),
            sampler=trace_sampler(settings.otel_traces_sampler_ratio),
        )
        if exporter is not None:
            # A background thread exports full batches; a request never waits on an export.
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    if not _instrumented_libraries:
        PymongoInstrumentor().instrument(tracer_provider=provider)
        HTTPXClientInstrumentor().instrument(
            tracer_provider=provider,
            request_hook=redact_span_urls,
            async_request_hook=redact_span_urls_async,
        )
        _instrumented_libraries = True
    return provider


def current_trace_context() -> dict[str, str]:
    """The active trace context as headers, to store with work that continues it later."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


# Ids of what the current task works for (tenant, request, event), on each of its log lines.
# Read-only: each change sets a new mapping, so the shared default is never altered.
_log_fields: ContextVar[Mapping[str, str]] = ContextVar(
    "crm_log_fields",
    default=MappingProxyType({}),
)


def add_log_fields(**fields: str | None) -> None:
    """Puts ids (`tenant_id`, `request_id`, `event_id`...) on every log line the current task
    (a request, a consumed event) writes from here on; None values are left out. Ids only:
    never an address or a name, which the logs must not hold."""
    _log_fields.set(_with(fields))


def _with(fields: Mapping[str, str | None]) -> dict[str, str]:
    return {**_log_fields.get(), **{k: v for k, v in fields.items() if v is not None}}


@contextmanager
def log_fields(**fields: str | None) -> Iterator[None]:
    """`add_log_fields` for the duration of a block."""
    token = _log_fields.set(_with(fields))
    try:
        yield
    finally:
        _log_fields.reset(token)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, carrying the active trace and span ids and the ids of what the
    task works for (`add_log_fields`)."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self._service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "service": self._service_name,
            "message": record.getMessage(),
            **_log_fields.get(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# Paths whose next segment is a credential: mailed link tokens (confirmation, preferences,
# unsubscribe, an event registration's, and the console's registrant page at
# `/console/public/registrations/`), tracking tokens and the tenants' inbound-mail tokens, as
# the gateway publishes them and as the services receive them.
_TOKEN_PATHS = re.compile(
    r"(/(?:public(?:/v1)?/"
    r"(?:community/confirm|preferences|unsubscribe|mail|event-registrations|registrations)"
    r"|t/[oc]|tracking/(?:open|click))/)[^/?#\s\"']+"
)
# A query parameter's value: a search may be a person's name or address (`?email=`, `?q=`).
_QUERY_VALUES = re.compile(r"([?&][^=&?#\s\"']+=)[^&#\s\"']+")
REDACTED = "\u2026"


def redact_url(text: str) -> str:
    """`text` with the token segment of every link-token path and the value of every query
    parameter replaced by an ellipsis: logs and traces hold no credential and no personal data
    a request's URL carried."""
    text = _TOKEN_PATHS.sub(lambda found: found.group(1) + REDACTED, text)
    return _QUERY_VALUES.sub(lambda found: found.group(1) + REDACTED, text)


class RedactTokens(logging.Filter):
    """Redacts link tokens from a log record's message and string arguments (uvicorn's access
    log passes the request path as an argument), so a log reader cannot follow someone's
    unsubscribe or preference link."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_url(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted_argument(arg) for arg in record.args)
        if record.exc_info and not record.exc_text:
            # An exception's message may quote a URL (httpx's do); formatters use exc_text.
            record.exc_text = redact_url(logging.Formatter().formatException(record.exc_info))
        return True


def _redacted_argument(argument: object) -> object:
    """A log argument with `redact_url` applied: a string, or a URL object (httpx logs each
    request with its `httpx.URL`) as its redacted text; numbers and the rest stay as they are."""
    if isinstance(argument, str):
        return redact_url(argument)
    if type(argument).__name__ == "URL":
        return redact_url(str(argument))
    return argument


# Span attributes (old and new HTTP semantic conventions) that hold a request's URL or path.
_URL_ATTRIBUTES = ("http.target", "http.url", "url.path", "url.full")


def redact_span_urls(span: Any, *_: Any) -> None:
    """Redacts link tokens from a span's URL attributes: traces are read as widely as logs."""
    attributes = getattr(span, "attributes", None)
    if not attributes or not span.is_recording():
        return
    for name in _URL_ATTRIBUTES:
        value = attributes.get(name)
        if isinstance(value, str):
            redacted = redact_url(value)
            if redacted != value:
                span.set_attribute(name, redacted)


async def redact_span_urls_async(span: Any, *_: Any) -> None:
    """`redact_span_urls` for httpx's asynchronous client hook."""
    redact_span_urls(span)


def instrument_http_client(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Traces `client`'s requests and passes the trace on in their headers, whatever its
    transport: the library-wide instrumentation only reaches httpx's own transport."""
    HTTPXClientInstrumentor.instrument_client(client, request_hook=redact_span_urls_async)
    return client


# What OpenTelemetry's httpx instrumentation reads from the environment beyond the defaults
# `ClientSpans` records: set, the instrumentation itself traces the client.
_CLIENT_SPAN_SETTINGS = (
    "OTEL_SEMCONV_STABILITY_OPT_IN",
    "OTEL_PYTHON_HTTPX_EXCLUDED_URLS",
    "OTEL_PYTHON_EXCLUDED_URLS",
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST,
    OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE,
)
_HTTPX_INSTRUMENTATION = "opentelemetry.instrumentation.httpx"


class ClientSpans(httpx.AsyncBaseTransport):
    """The client span OpenTelemetry's httpx instrumentation records for a request (same name,
    kind, attributes, status, scope and redacted URL) and the trace passed on in its headers,
    around `inner`.

    The instrumentation cost the gateway about 0.2 ms of CPU per forwarded request, much of it
    on what only its non-default settings use (captured headers, the newer semantic
    conventions, metrics no provider records); `traced_transport` uses it whenever one of
    those is set."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self._tracer = trace.get_tracer(
            _HTTPX_INSTRUMENTATION,
            httpx_instrumentation_version,
            schema_url=_get_schema_url(_StabilityMode.DEFAULT),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not is_http_instrumentation_enabled():
            return await self._inner.handle_async_request(request)
        method = sanitize_method(request.method.strip())
        attributes: dict[str, str] = {
            "http.method": method,
            "http.url": redact_url(redact_known_url_secrets(str(request.url))),
        }
        with self._tracer.start_as_current_span(
            "HTTP" if method == "_OTHER" else method,
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
        ) as span:
            propagate.inject(request.headers)
            response = await self._inner.handle_async_request(request)
            if span.is_recording():
                span.set_attribute("http.status_code", response.status_code)
                span.set_status(http_status_to_status_code(response.status_code))
            return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def traced_transport(inner: httpx.AsyncBaseTransport) -> ClientSpans | None:
    """`inner` recording OpenTelemetry's client spans (`ClientSpans`); None where settings of
    the environment ask for more than it records (then `instrument_http_client` the client)."""
    if any(os.environ.get(name) for name in _CLIENT_SPAN_SETTINGS):
        return None
    return ClientSpans(inner)


def install_token_redaction() -> None:
    """Adds the redaction to the loggers that log request URLs: uvicorn's access and error logs.

    A filter on the logger, not a handler, so it holds whatever handlers uvicorn configured."""
    for name in ("uvicorn.access", "uvicorn.error"):
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in target.filters):
            target.addFilter(RedactTokens())


def configure_logging(settings: ServiceSettings) -> None:
    """Routes the root logger to stderr, as JSON lines unless the settings ask for plain text,
    with repeated warnings of the Kafka client and the platform rate-limited."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_json:
        handler.setFormatter(JsonLogFormatter(settings.telemetry_service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Before the redaction: the limiter may fold the arguments into the message it annotates.
    install_log_rate_limit(handler, settings.log_repeat_interval_seconds)
    handler.addFilter(RedactTokens())
    install_token_redaction()
    for noisy in ("aiokafka", "pymongo"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

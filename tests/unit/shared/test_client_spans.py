"""The gateway's client spans: what OpenTelemetry's httpx instrumentation records, and the trace
passed on in the request's headers, at a fraction of its cost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from crm_shared import instrument_http_client, traced_transport
from crm_shared.telemetry import ClientSpans

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def _service(received: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        received.append(request)
        if request.url.path == "/down":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(404 if request.url.path == "/missing" else 200, content=b"{}")

    return httpx.MockTransport(answer)


def _ours(transport: httpx.MockTransport) -> httpx.AsyncClient:
    traced = traced_transport(transport)
    assert isinstance(traced, ClientSpans)
    return httpx.AsyncClient(transport=traced)


def _opentelemetrys(transport: httpx.MockTransport) -> httpx.AsyncClient:
    return instrument_http_client(httpx.AsyncClient(transport=transport))


async def _calls(
    exporter: InMemorySpanExporter,
    client_for: Callable[[httpx.MockTransport], httpx.AsyncClient],
) -> list[tuple[Any, ...]]:
    exporter.clear()
    received: list[httpx.Request] = []
    client = client_for(_service(received))
    with trace.get_tracer("test").start_as_current_span("server"):
        await client.get("http://candidates:8001/public/v1/preferences/secret-token?q=ada&x=1")
        await client.get("http://candidates:8001/missing")
        await client.request("PROPFIND", "http://candidates:8001/items")
        await client.post("http://candidates:8001/candidates", json={"a": 1})
        with pytest.raises(httpx.ConnectError):
            await client.get("http://candidates:8001/down")
    spans = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    # Each request carried its own span as the parent of the service's spans.
    assert [r.headers["traceparent"].split("-")[2] for r in received] == [
        format(s.context.span_id, "016x") for s in spans if s.context is not None
    ]
    return [_described(span) for span in spans]


def _described(span: ReadableSpan) -> tuple[Any, ...]:
    scope = span.instrumentation_scope
    return (
        span.name,
        span.kind,
        dict(span.attributes or {}),
        span.status.status_code,
        span.status.description,
        [(e.name, (e.attributes or {}).get("exception.type")) for e in span.events],
        span.parent.span_id if span.parent is not None else None,
        scope and (scope.name, scope.version, scope.schema_url),
    )


async def test_the_spans_are_those_the_httpx_instrumentation_records(
    exporter: InMemorySpanExporter,
) -> None:
    ours = await _calls(exporter, _ours)
    theirs = await _calls(exporter, _opentelemetrys)
    # The parent (the test's span) differs from run to run; everything else is the same.
    assert [span[:-2] + span[-1:] for span in ours] == [span[:-2] + span[-1:] for span in theirs]
    assert (
        ours[0][2]["http.url"]
        == "http://candidates:8001/public/v1/preferences/\u2026?q=\u2026&x=\u2026"
    )
    assert [name for name, *_ in ours] == ["GET", "GET", "HTTP", "POST", "GET"]


async def test_a_sampled_out_request_passes_its_trace_on_unrecorded(
    exporter: InMemorySpanExporter,
) -> None:
    received: list[httpx.Request] = []
    client = _ours(_service(received))
    unsampled = trace.NonRecordingSpan(
        trace.SpanContext(trace_id=7, span_id=9, is_remote=True, trace_flags=trace.TraceFlags(0))
    )
    with trace.use_span(unsampled):
        await client.get("http://candidates:8001/candidates")
    assert received[0].headers["traceparent"].startswith(f"00-{7:032x}-")
    assert received[0].headers["traceparent"].endswith("-00")


def test_settings_the_spans_do_not_record_leave_the_client_to_the_instrumentation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    assert isinstance(traced_transport(transport), ClientSpans)
    monkeypatch.setenv("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_REQUEST", "x-.*")
    assert traced_transport(transport) is None

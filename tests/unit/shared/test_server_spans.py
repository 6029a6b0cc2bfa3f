"""Server spans named after the route the router matched, without matching the request again:
the same spans as OpenTelemetry's FastAPI instrumentation records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.routing import APIRoute
from opentelemetry.instrumentation import fastapi as fastapi_instrumentation
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.fastapi import _get_route_details as route_details
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Match
from starlette.types import Scope

from crm_shared import server_spans
from crm_shared.server_spans import instrument_app

pytestmark = pytest.mark.unit

MATCHED: list[str] = []


class CountedRoute(APIRoute):
    """A route that notes every time a request is matched against it."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        MATCHED.append(self.path)
        return super().matches(scope)


def _app() -> FastAPI:
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
    people = APIRouter(prefix="/people", route_class=CountedRoute)

    @people.get("/{person_id}")
    async def person(person_id: str) -> dict[str, str]:
        return {"id": person_id}

    @people.post("/{person_id}/notes")
    async def note(person_id: str, request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    @people.get("/{person_id}/broken")
    async def broken(person_id: str) -> None:
        raise RuntimeError("broken")

    @people.get("/{person_id}/gone")
    async def gone(person_id: str) -> None:
        raise HTTPException(410)

    @app.get("/healthz")
    async def health() -> str:
        return "ok"

    async def assets(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("asset")(scope, receive, send)

    app.include_router(people)
    app.mount("/static", assets)
    return app


def _traced(
    instrument: Callable[[FastAPI, TracerProvider], None],
) -> tuple[FastAPI, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = _app()
    instrument(app, provider)
    return app, exporter


async def _spans(instrument: Callable[[FastAPI, TracerProvider], None]) -> list[tuple[Any, ...]]:
    app, exporter = _traced(instrument)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/people/p1")).status_code == 200
        assert (await client.post("/people/p1/notes", content=b"hello")).status_code == 200
        assert (await client.get("/people/p1/broken")).status_code == 500
        assert (await client.get("/people/p1/gone")).status_code == 410
        assert (await client.delete("/people/p1")).status_code == 405
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/static/app.css")).text == "asset"
        assert (await client.get("/healthz?verbose=1")).status_code == 200
    return [_described(span) for span in exporter.get_finished_spans()]


def _described(span: ReadableSpan) -> tuple[Any, ...]:
    attributes = dict(span.attributes or {})
    return (
        span.kind,
        span.name,
        attributes.get("http.route"),
        attributes.get("http.status_code"),
        attributes.get("http.target"),
        span.status.status_code,
        [event.name for event in span.events],
    )


def _ours(app: FastAPI, provider: TracerProvider) -> None:
    instrument_app(app, tracer_provider=provider, excluded_urls="")


def _opentelemetrys(app: FastAPI, provider: TracerProvider) -> None:
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="")


async def test_the_spans_are_those_the_fastapi_instrumentation_records() -> None:
    ours = await _spans(_ours)
    assert ours == await _spans(_opentelemetrys)
    server = [(name, route) for kind, name, route, *_ in ours if kind is SpanKind.SERVER]
    assert server == [
        ("GET /people/{person_id}", "/people/{person_id}"),
        ("POST /people/{person_id}/notes", "/people/{person_id}/notes"),
        ("GET /people/{person_id}/broken", "/people/{person_id}/broken"),
        ("GET /people/{person_id}/gone", "/people/{person_id}/gone"),
        ("DELETE /people/{person_id}", "/people/{person_id}"),
        ("GET", None),
        ("GET /static", "/static"),
        ("GET /healthz", "/healthz"),
    ]
    # The body's `receive` span and the response's `send` spans carry the route's name too.
    names = {(kind, name) for kind, name, *_ in ours}
    assert (SpanKind.INTERNAL, "POST /people/{person_id}/notes http receive") in names
    assert (SpanKind.INTERNAL, "GET /people/{person_id} http send") in names


async def _matches_of_one_read(app: FastAPI) -> list[str]:
    MATCHED.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/people/p1")).status_code == 200
    return list(MATCHED)


async def test_tracing_matches_a_routed_request_against_no_route_the_router_did_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    walks: list[str] = []

    def walk(scope: Scope) -> str | None:
        walks.append(scope["path"])
        return route_details(scope)

    # The instrumentation's walk over the route table, wherever it is called from.
    monkeypatch.setattr(fastapi_instrumentation, "_get_route_details", walk)
    monkeypatch.setattr(server_spans, "_get_route_details", walk)
    untraced = await _matches_of_one_read(_app())
    app, exporter = _traced(_ours)
    assert await _matches_of_one_read(app) == untraced
    assert walks == []
    [server] = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server.name == "GET /people/{person_id}"
    # A request no route took is named as the instrumentation names it, by its walk.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/static/app.css")).status_code == 200
    assert walks == ["/static/app.css"]

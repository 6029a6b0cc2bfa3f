"""Every HTML page gets its security headers; link tokens never reach a log."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import sys
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from crm_devstack.infra import free_ports
from crm_shared import ServiceSettings, build_platform, create_service_app
from crm_shared.pages import (
    SWAGGER_ASSETS_DIRECTORY,
    SWAGGER_ICON,
    SWAGGER_SCRIPT,
    SWAGGER_STYLE,
)
from crm_shared.telemetry import (
    JsonLogFormatter,
    RedactTokens,
    add_log_fields,
    configure_logging,
    install_token_redaction,
    log_fields,
    redact_url,
)
from helpers import serving
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.unit


def service(**overrides: object) -> object:
    settings = ServiceSettings(
        service_name="pages",
        log_json=False,
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
        **overrides,  # type: ignore[arg-type]
    )
    router = APIRouter()

    @router.get("/page")
    async def page() -> HTMLResponse:
        return HTMLResponse("<h1>Your preferences</h1>")

    @router.get("/data")
    async def data() -> dict[str, str]:
        return {"ok": "yes"}

    platform = build_platform(settings, uses_mongo=False, uses_kafka=False)
    return create_service_app(platform, title="pages", description="", routers=[router])


async def test_every_html_page_gets_the_page_headers_and_json_only_nosniff() -> None:
    app = service()
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        page = await client.get("/page")
        data = await client.get("/data")
        docs = await client.get("/docs")
        redoc = await client.get("/redoc")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    assert data.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in data.headers
    # The docs page's inline script runs by the response's nonce, nothing else inline does.
    nonce = docs.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert docs.text.count("<script>") == 0
    assert f'<script nonce="{nonce}">' in docs.text
    assert redoc.status_code == 404


async def test_the_docs_page_loads_swagger_ui_from_the_service_itself() -> None:
    app = service()
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        docs = await client.get("/docs")
        assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        served = {url: await client.get(url) for url in assets}
    policy = docs.headers["content-security-policy"]
    assert "https:" not in policy
    assert "https:" not in docs.text
    assert len(served) == 3
    assert all(response.status_code == 200 for response in served.values())
    # The files are the vendored npm builds, unchanged (static/VENDOR.md).
    vendored = (SWAGGER_ASSETS_DIRECTORY.parent / "VENDOR.md").read_text()
    for name in (SWAGGER_SCRIPT, SWAGGER_STYLE, SWAGGER_ICON):
        digest = hashlib.sha256((SWAGGER_ASSETS_DIRECTORY / name).read_bytes()).hexdigest()
        assert f"swagger-ui/{name} " in vendored
        assert digest in vendored, name


async def test_a_service_with_a_metrics_port_serves_metrics_only_there() -> None:
    [port, metrics_port] = free_ports(2)
    app = service(metrics_port=metrics_port)
    async with serving(app, port) as base, httpx.AsyncClient() as client:
        await client.get(f"{base}/data")
        assert (await client.get(f"{base}/metrics")).status_code == 404
        metrics = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert 'route="/data"' in metrics.text
    # Without a port, an internal service keeps `/metrics` on its own port.
    transport = httpx.ASGITransport(app=service())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        assert (await client.get("/metrics")).status_code == 200


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("/public/v1/preferences/eyJhYmMi.c2ln.k1", "/public/v1/preferences/\u2026"),
        ("/public/v1/unsubscribe/eyJ.sig", "/public/v1/unsubscribe/\u2026"),
        (
            "/public/v1/community/confirm/eyJ.sig?x=1",
            "/public/v1/community/confirm/\u2026?x=\u2026",
        ),
        (
            "/api/v1/candidates?email=zo%C3%AB%40example.org&limit=50",
            "/api/v1/candidates?email=\u2026&limit=\u2026",
        ),
        ("/api/v1/candidates?q=Z\u00f6e+\u00c5ngstr\u00f6m", "/api/v1/candidates?q=\u2026"),
        ("GET /api/v1/candidates?email= HTTP/1.1", "GET /api/v1/candidates?email= HTTP/1.1"),
        (
            "/public/v1/mail/secret-token/postmark/inbound",
            "/public/v1/mail/\u2026/postmark/inbound",
        ),
        ("/public/preferences/eyJ.sig", "/public/preferences/\u2026"),
        (
            "/public/v1/event-registrations/eyJ.sig/invitation.ics",
            "/public/v1/event-registrations/\u2026/invitation.ics",
        ),
        ("/public/event-registrations/eyJ.sig/cancel", "/public/event-registrations/\u2026/cancel"),
        (
            "/console/public/registrations/eyJ.sig/cancel",
            "/console/public/registrations/\u2026/cancel",
        ),
        ("/console/public/events/ev1/embed", "/console/public/events/ev1/embed"),
        ("/public/v1/events/ev1/registrations", "/public/v1/events/ev1/registrations"),
        ("/t/o/eyJ.sig", "/t/o/\u2026"),
        ("/t/c/eyJ.sig", "/t/c/\u2026"),
        ("/tracking/click/eyJ.sig", "/tracking/click/\u2026"),
        ("/api/v1/candidates/c1", "/api/v1/candidates/c1"),
        ("/public/v1/community/signups", "/public/v1/community/signups"),
    ],
)
def test_link_tokens_and_query_values_are_redacted_from_urls(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_uvicorns_access_log_never_shows_a_link_token() -> None:
    install_token_redaction()
    access = logging.getLogger("uvicorn.access")
    assert any(isinstance(f, RedactTokens) for f in access.filters)
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/public/v1/preferences/eyJ.secret-sig", "1.1", 200),
        None,
    )
    assert access.filter(record)
    assert "secret-sig" not in record.getMessage()
    assert "/public/v1/preferences/\u2026" in record.getMessage()


@pytest.mark.parametrize("log_json", [True, False])
def test_a_logged_exception_quoting_a_link_url_is_redacted(log_json: bool) -> None:
    settings = ServiceSettings(service_name="logs", log_json=log_json)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging(settings)
    [handler] = root.handlers
    try:
        raise RuntimeError("GET http://candidates/public/preferences/eyJ.secret-sig failed")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("/t/c/eyJ.other-sig",), sys.exc_info()
        )
    try:
        assert handler.filter(record)
        text = handler.format(record)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert "secret-sig" not in text
    assert "other-sig" not in text
    assert "/public/preferences/\u2026" in (json.loads(text)["exception"] if log_json else text)


def test_a_log_line_carries_the_ids_of_what_its_task_works_for() -> None:
    formatter = JsonLogFormatter("candidates")

    def line() -> dict[str, Any]:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "applied", (), None)
        entry: dict[str, Any] = json.loads(formatter.format(record))
        return entry

    assert "tenant_id" not in line()
    with log_fields(tenant_id="acme", event_id="e1", request_id=None):
        assert line() | {"time": None} == {
            "time": None,
            "level": "INFO",
            "logger": "x",
            "service": "candidates",
            "message": "applied",
            "tenant_id": "acme",
            "event_id": "e1",
        }
    assert "tenant_id" not in line()


async def test_each_task_keeps_its_own_log_fields() -> None:
    async def request(tenant: str) -> str:
        add_log_fields(tenant_id=tenant, request_id=f"r-{tenant}")
        await asyncio.sleep(0)
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
        return str(json.loads(JsonLogFormatter("g").format(record))["tenant_id"])

    assert list(await asyncio.gather(request("acme"), request("globex"))) == ["acme", "globex"]


def test_an_outgoing_requests_log_line_shows_no_address_it_searched_for() -> None:
    # httpx logs each request it sends (the gateway's to the services) with its URL object.
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: %s %s "%s %d %s"',
        (
            "GET",
            httpx.URL("http://candidates/candidates?email=zoe%40example.org"),
            "HTTP/1.1",
            200,
            "OK",
        ),
        None,
    )
    assert RedactTokens().filter(record)
    assert record.getMessage() == (
        'HTTP Request: GET http://candidates/candidates?email=\u2026 "HTTP/1.1 200 OK"'
    )

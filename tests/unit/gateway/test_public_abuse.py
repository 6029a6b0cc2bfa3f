"""Public endpoints against abuse: who the client is, sign-up limits, the CAPTCHA hook, CORS,
page headers and metrics kept off the public port."""

from __future__ import annotations

import json
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from crm_devstack.infra import free_ports
from crm_gateway.config import Tenant
from crm_gateway.domain.client_address import client_address
from helpers import serving
from unit.gateway.fakes import FakeServices, gateway_with, raw_request

pytestmark = pytest.mark.unit

PROXIES = [ip_network("10.0.0.0/8"), ip_network("192.0.2.10/32")]
COMMUNITY = {"acme": Tenant(name="Acme", community_key="acme-community")}


def signup(email: str = "a@example.org", **extra: Any) -> bytes:
    body = {"tenant": "acme-community", "email": email, "first_name": "Ann", **extra}
    return json.dumps(body).encode()


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202, json={"status": "pending_confirmation"})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # No trusted proxy: the header is the caller's own text and means nothing.
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        # A trusted proxy appended the address it saw; anything left of it is the caller's.
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),
        # Two trusted proxies in a row: the right-most untrusted hop.
        ("10.1.2.3", ["198.51.100.1, 192.0.2.10"], "198.51.100.1"),
        ("10.1.2.3", ["198.51.100.1", "10.9.9.9"], "198.51.100.1"),
        # Nothing but proxies: the left-most of them.
        ("10.1.2.3", ["10.0.0.5"], "10.0.0.5"),
        # A trusted proxy without a header: the proxy itself.
        ("10.1.2.3", [], "10.1.2.3"),
        # Garbage right of a trusted hop ends the walk at that hop, never becomes a key.
        ("10.1.2.3", ["198.51.100.1, random-123"], "10.1.2.3"),
        ("2001:db8::1", ["198.51.100.1"], "2001:db8::1"),
    ],
)
def test_the_client_is_the_right_most_hop_no_trusted_proxy_wrote(
    peer: str, forwarded: list[str], expected: str
) -> None:
    assert client_address(peer, forwarded, PROXIES) == expected


async def test_rotating_x_forwarded_for_from_loopback_does_not_escape_the_sign_up_limit() -> None:
    """The review's attack, through a real uvicorn as deployed: 100 sign-ups from 127.0.0.1,
    each with another X-Forwarded-For, once got all 100 through."""
    services = FakeServices(respond=accepted)
    app = gateway_with(services, tenants=COMMUNITY, signups_per_minute_per_ip=8)
    [port] = free_ports(1)
    statuses = []
    async with serving(app, port) as base, httpx.AsyncClient(base_url=base) as client:
        for n in range(100):
            response = await client.post(
                "/public/v1/community/signups",
                content=signup(f"p{n}@example.org"),
                headers={"X-Forwarded-For": f"198.51.{n // 250}.{n % 250}"},
            )
            statuses.append(response.status_code)
    assert statuses.count(202) == 2  # a burst of a quarter of the minute's 8
    assert set(statuses) == {202, 429}
    assert len(services.received) == 2
    # The service is told the address the gateway saw, not the caller's claim.
    assert {r.headers["x-forwarded-for"] for r in services.received} == {"127.0.0.1"}


async def test_a_trusted_proxy_names_the_client_so_each_client_has_its_own_limit() -> None:
    services = FakeServices(respond=accepted)
    app = gateway_with(
        services, tenants=COMMUNITY, signups_per_minute_per_ip=4, trusted_proxies="127.0.0.0/8"
    )
    [port] = free_ports(1)
    async with serving(app, port) as base, httpx.AsyncClient(base_url=base) as client:

        async def from_client(address: str) -> int:
            response = await client.post(
                "/public/v1/community/signups",
                content=signup(),
                headers={"X-Forwarded-For": f"6.6.6.6, {address}"},
            )
            return response.status_code

        assert [await from_client("198.51.100.1") for _ in range(2)] == [202, 429]
        assert await from_client("198.51.100.2") == 202
    assert [r.headers["x-forwarded-for"] for r in services.received] == [
        "198.51.100.1",
        "198.51.100.2",
    ]


async def test_one_community_key_has_its_own_limit_across_addresses() -> None:
    services = FakeServices(respond=accepted)
    app = gateway_with(
        services,
        tenants=COMMUNITY,
        signups_per_minute_per_community=8,
        trusted_proxies="203.0.113.7/32",  # the peer raw_request connects from
    )
    statuses = [
        (
            await raw_request(
                app,
                "POST",
                b"/public/v1/community/signups",
                headers={"content-type": "application/json", "x-forwarded-for": f"198.51.100.{n}"},
                body=signup(),
            )
        ).status
        for n in range(10)
    ]
    assert statuses == [202, 202] + [429] * 8
    throttled = await raw_request(
        app,
        "POST",
        b"/public/v1/community/signups",
        headers={"x-forwarded-for": "198.51.100.99"},
        body=signup(),
    )
    assert json.loads(throttled.body)["detail"] == "too many sign-ups for this community"
    assert int(throttled.headers["retry-after"]) >= 1


def fake_siteverify(calls: list[dict[str, str]]) -> FastAPI:
    """A siteverify endpoint as Turnstile and hCaptcha document it: form fields in, JSON out."""
    verifier = FastAPI()

    @verifier.post("/siteverify")
    async def siteverify(request: Request) -> dict[str, Any]:
        form = {k: str(v) for k, v in (await request.form()).items()}
        calls.append(form)
        if form.get("secret") != "captcha-secret" or form.get("response") != "solved":
            return {"success": False, "error-codes": ["invalid-input-response"]}
        return {"success": True, "hostname": "careers.example"}

    return verifier


@pytest.mark.parametrize("provider", ["turnstile", "hcaptcha"])
async def test_a_configured_captcha_is_verified_server_side_before_a_sign_up_is_forwarded(
    provider: str,
) -> None:
    calls: list[dict[str, str]] = []
    services = FakeServices(respond=accepted)
    [port] = free_ports(1)
    async with serving(fake_siteverify(calls), port) as verify_base:
        app = gateway_with(
            services,
            tenants=COMMUNITY,
            captcha_provider=provider,
            captcha_secret="captcha-secret",
            captcha_verify_url=f"{verify_base}/siteverify",
            signups_per_minute_per_ip=100,
        )
        path = b"/public/v1/community/signups"
        missing = await raw_request(app, "POST", path, body=signup())
        wrong = await raw_request(app, "POST", path, body=signup(captcha_token="guessed"))
        solved = await raw_request(app, "POST", path, body=signup(captcha_token="solved"))
    assert missing.status == 422
    assert json.loads(missing.body)["errors"][0]["field"] == "captcha_token"
    assert wrong.status == 422
    assert solved.status == 202
    assert len(services.received) == 1
    # Asked with the secret, the widget's token and the client's address, as documented.
    assert calls[-1] == {
        "secret": "captcha-secret",
        "response": "solved",
        "remoteip": "203.0.113.7",
    }


async def test_an_unreachable_captcha_provider_refuses_the_sign_up() -> None:
    services = FakeServices(respond=accepted)
    [port] = free_ports(1)  # nothing listens there
    app = gateway_with(
        services,
        tenants=COMMUNITY,
        captcha_provider="turnstile",
        captcha_secret="captcha-secret",
        captcha_verify_url=f"http://127.0.0.1:{port}/siteverify",
    )
    response = await raw_request(
        app, "POST", b"/public/v1/community/signups", body=signup(captcha_token="solved")
    )
    assert response.status == 503
    assert json.loads(response.body)["type"].endswith("captcha-unavailable")
    assert services.received == []


async def test_no_captcha_is_asked_for_unless_one_is_configured() -> None:
    services = FakeServices(respond=accepted)
    app = gateway_with(services, tenants=COMMUNITY)
    response = await raw_request(app, "POST", b"/public/v1/community/signups", body=signup())
    assert response.status == 202


PREFLIGHT = {
    "origin": "https://console.example.com",
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization, content-type",
}


async def test_cross_origin_calls_are_refused_unless_the_origin_is_configured() -> None:
    services = FakeServices()
    denied = await raw_request(
        gateway_with(services), "OPTIONS", b"/api/v1/candidates", headers=PREFLIGHT
    )
    assert denied.status == 400
    assert "access-control-allow-origin" not in denied.headers
    simple = await raw_request(
        gateway_with(services),
        "GET",
        b"/api/v1/candidates",
        headers={"origin": "https://evil.example", "authorization": "Bearer tok-acme"},
    )
    assert "access-control-allow-origin" not in simple.headers

    allowed_app = gateway_with(services, cors_origins="https://console.example.com")
    allowed = await raw_request(allowed_app, "OPTIONS", b"/api/v1/candidates", headers=PREFLIGHT)
    assert allowed.status == 200
    assert allowed.headers["access-control-allow-origin"] == "https://console.example.com"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    other = await raw_request(
        allowed_app,
        "OPTIONS",
        b"/api/v1/candidates",
        headers={**PREFLIGHT, "origin": "https://x.example"},
    )
    assert other.status == 400
    actual = await raw_request(
        allowed_app,
        "GET",
        b"/api/v1/candidates",
        headers={"origin": "https://console.example.com", "authorization": "Bearer tok-acme"},
    )
    assert actual.status == 200
    assert actual.headers["access-control-allow-origin"] == "https://console.example.com"
    assert "x-trace-id" in actual.headers["access-control-expose-headers"].lower()
    assert services.paths() == ["/candidates", "/candidates"]


async def test_metrics_are_not_served_on_the_public_port_but_on_their_own_listener() -> None:
    [public_port, metrics_port] = free_ports(2)
    app = gateway_with(FakeServices(), metrics_port=metrics_port)
    async with serving(app, public_port) as base, httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/healthz")).status_code == 200
        public = await client.get(f"{base}/metrics")
        assert public.status_code == 404
        metrics = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert metrics.status_code == 200
        assert "crm_http_requests_total" in metrics.text
    # No port configured: no metrics on the public port either.
    assert (await raw_request(gateway_with(FakeServices()), "GET", b"/metrics")).status == 404


def page(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        text="<p>preferences</p>",
        headers={
            "content-type": "text/html; charset=utf-8",
            "content-security-policy": "default-src 'none'; script-src 'nonce-abc'",
            "referrer-policy": "no-referrer",
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        },
    )


async def test_a_services_page_keeps_its_security_headers_through_the_gateway() -> None:
    app = gateway_with(FakeServices(respond=page))
    response = await raw_request(app, "GET", b"/public/v1/preferences/tok")
    assert response.headers["content-security-policy"] == (
        "default-src 'none'; script-src 'nonce-abc'"
    )
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"


async def test_the_docs_page_allows_only_its_own_inline_script_by_a_fresh_nonce() -> None:
    app = gateway_with(FakeServices())
    first = await raw_request(app, "GET", b"/docs")
    second = await raw_request(app, "GET", b"/docs")
    policy = first.headers["content-security-policy"]
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in first.body.decode()
    assert "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert second.headers["content-security-policy"] != policy
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["referrer-policy"] == "same-origin"

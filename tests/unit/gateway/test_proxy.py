"""The gateway authenticates callers and forwards them with an internal token, never their own."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crm_gateway.config import DevIdentity, GatewaySettings, Tenant
from crm_shared import InternalTokenVerifier, load_public_key
from internal_keys import INTERNAL_TOKEN_PRIVATE_KEY, INTERNAL_TOKEN_PUBLIC_KEY
from unit.gateway.fakes import PUBLISHED, openapi_document
from unit.gateway.memory_identity import create_gateway

pytestmark = pytest.mark.unit


@pytest.fixture
def forwarded() -> list[httpx.Request]:
    return []


@pytest.fixture
def gateway(forwarded: list[httpx.Request]) -> TestClient:
    settings = GatewaySettings(
        environment="development",
        internal_token_private_key=INTERNAL_TOKEN_PRIVATE_KEY,
        rate_limit_storage="memory",
        candidates_url="http://candidates.internal",
        tenants={
            "acme": Tenant(name="Acme"),
            "initech": Tenant(name="Initech", status="suspended"),
        },
        dev_tokens={
            "tok-acme": DevIdentity(tenant_id="acme", user_id="rita", roles=["recruiter"]),
            "tok-ghost": DevIdentity(tenant_id="ghost", user_id="gus", roles=["recruiter"]),
            "tok-initech": DevIdentity(tenant_id="initech", user_id="ian", roles=["admin"]),
        },
        max_request_bytes=1000,
        public_requests_per_minute_per_ip=8,
        log_json=False,
    )
    app = create_gateway(settings)

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json=openapi_document(PUBLISHED["candidates"]))
        forwarded.append(request)
        return httpx.Response(
            201,
            json={"ok": True},
            headers={"Location": "/candidates/c1", "Set-Cookie": "leak=1", "X-Internal": "no"},
        )

    use_upstream(app, upstream)
    return TestClient(app)


def use_upstream(app: FastAPI, handler: Callable[[httpx.Request], httpx.Response]) -> None:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    app.state.container = dataclasses.replace(app.state.container, upstream=client)


def test_an_authenticated_request_is_forwarded_with_an_internal_token(
    gateway: TestClient, forwarded: list[httpx.Request]
) -> None:
    response = gateway.post(
        "/api/v1/candidates?source=x&source=y",
        content=json.dumps({"first_name": "Ada"}),
        headers={
            "Authorization": "Bearer tok-acme",
            "Content-Type": "application/json",
            "X-Tenant-Id": "globex",
        },
    )
    assert response.status_code == 201
    assert response.headers["location"] == "/api/v1/candidates/c1"
    assert "set-cookie" not in response.headers
    assert "x-internal" not in response.headers
    [request] = forwarded
    assert str(request.url) == "http://candidates.internal/candidates?source=x&source=y"
    assert json.loads(request.content) == {"first_name": "Ada"}
    scheme, _, token = request.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    verifier = InternalTokenVerifier(load_public_key(INTERNAL_TOKEN_PUBLIC_KEY), "candidates")
    principal = verifier.verify(token)
    assert (principal.tenant_id, principal.user_id) == ("acme", "rita")


@pytest.mark.parametrize("authorization", [None, "Bearer tok-globex", "Bearer tok-acm", "tok-acme"])
def test_an_unauthenticated_request_is_never_forwarded(
    gateway: TestClient, forwarded: list[httpx.Request], authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = gateway.get("/api/v1/candidates", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert forwarded == []


def test_an_unrouted_resource_is_a_404_problem(
    gateway: TestClient, forwarded: list[httpx.Request]
) -> None:
    response = gateway.get("/api/v1/payroll", headers={"Authorization": "Bearer tok-acme"})
    assert response.status_code == 404
    assert response.json()["type"] == "urn:recruitcrm:problem:not-found"
    assert forwarded == []


def test_an_oversized_body_is_refused_before_forwarding(
    gateway: TestClient, forwarded: list[httpx.Request]
) -> None:
    response = gateway.post(
        "/api/v1/candidates", content=b"x" * 1001, headers={"Authorization": "Bearer tok-acme"}
    )
    assert response.status_code == 413
    assert forwarded == []


def test_an_unreachable_service_is_a_502_problem(gateway: TestClient) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    use_upstream(gateway.app, refuse)  # type: ignore[arg-type]
    response = gateway.get("/api/v1/candidates", headers={"Authorization": "Bearer tok-acme"})
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("token", ["tok-ghost", "tok-initech"])
def test_a_caller_of_an_unknown_or_suspended_tenant_is_refused(
    gateway: TestClient, forwarded: list[httpx.Request], token: str
) -> None:
    response = gateway.get("/api/v1/candidates", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert response.json()["type"] == "urn:recruitcrm:problem:unknown-tenant"
    assert forwarded == []


def test_public_endpoints_are_rate_limited_per_address(
    gateway: TestClient, forwarded: list[httpx.Request]
) -> None:
    statuses = [gateway.get("/t/o/some-token").status_code for _ in range(5)]
    assert statuses[:2] == [201, 201]
    assert statuses[-1] == 429
    throttled = gateway.get("/t/o/some-token")
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert throttled.headers["content-type"] == "application/problem+json"
    assert all(r.url.path == "/tracking/open/some-token" for r in forwarded)


def test_a_public_request_is_forwarded_without_any_identity(
    gateway: TestClient, forwarded: list[httpx.Request]
) -> None:
    gateway.post(
        "/public/v1/events/e1/registrations",
        json={"email": "a@example.org"},
        headers={"Authorization": "Bearer tok-acme"},
    )
    [request] = forwarded
    assert request.url.path == "/public/events/e1/registrations"
    assert "authorization" not in request.headers
    assert request.headers["x-forwarded-for"] == "testclient"


def test_a_public_body_over_the_small_limit_is_refused(
    gateway: TestClient, forwarded: list[httpx.Request]
) -> None:
    response = gateway.post("/public/v1/events/e1/registrations", content=b"x" * 20_000)
    assert response.status_code == 413
    assert forwarded == []


def test_the_gdpr_export_needs_gdpr_read_and_asks_no_service_without_it(
    gateway: TestClient, forwarded: list[httpx.Request]
) -> None:
    refused = gateway.get(
        "/api/v1/candidates/c1/export", headers={"Authorization": "Bearer tok-acme"}
    )
    assert refused.status_code == 403
    assert refused.json()["permission"] == "gdpr:read"
    assert forwarded == []
    document = gateway.app.openapi()  # type: ignore[attr-defined]
    export = document["paths"]["/api/v1/candidates/{candidate_id}/export"]["get"]
    assert export["x-permission"] == "gdpr:read"
    assert "403" in export["responses"]


def test_a_call_without_the_declared_permission_is_refused_before_forwarding(
    forwarded: list[httpx.Request],
) -> None:
    document = openapi_document(PUBLISHED["candidates"])
    for item in document["paths"].values():
        for method, operation in item.items():
            if isinstance(operation, dict):
                operation["x-permission"] = (
                    "candidates:read" if method == "get" else "settings:write"
                )
    settings = GatewaySettings(
        environment="development",
        internal_token_private_key=INTERNAL_TOKEN_PRIVATE_KEY,
        rate_limit_storage="memory",
        candidates_url="http://candidates.internal",
        tenants={"acme": Tenant(name="Acme")},
        dev_tokens={"tok-acme": DevIdentity(tenant_id="acme", user_id="rita", roles=["recruiter"])},
        log_json=False,
    )
    app = create_gateway(settings)

    def upstream(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json=document)
        forwarded.append(request)
        return httpx.Response(200, json={"ok": True})

    use_upstream(app, upstream)
    with TestClient(app) as client:
        auth = {"Authorization": "Bearer tok-acme"}
        # Not even JSON: refused for the permission, before anything reads the body.
        refused = client.post(
            "/api/v1/candidates", content=b"{", headers=auth | {"content-type": "application/json"}
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["permission"] == "settings:write"
        assert forwarded == []
        assert client.get("/api/v1/candidates", headers=auth).status_code == 200
        assert len(forwarded) == 1

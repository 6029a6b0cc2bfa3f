"""The gateway authenticates callers and forwards them with an internal token, never their own."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from crm_gateway.config import DevIdentity, GatewaySettings
from crm_gateway.main import create_app
from crm_shared import InternalTokens

pytestmark = pytest.mark.unit

SECRET = "unit-tests-internal-token-secret-0123456789"


@pytest.fixture
def forwarded() -> list[httpx.Request]:
    return []


@pytest.fixture
def gateway(forwarded: list[httpx.Request]) -> TestClient:
    settings = GatewaySettings(
        internal_token_secret=SECRET,
        candidates_url="http://candidates.internal",
        dev_tokens={"tok-acme": DevIdentity(tenant_id="acme", user_id="rita", roles=["recruiter"])},
        max_request_bytes=1000,
        log_json=False,
    )
    app = create_app(settings)

    def upstream(request: httpx.Request) -> httpx.Response:
        forwarded.append(request)
        return httpx.Response(
            201,
            json={"ok": True},
            headers={"Location": "/candidates/c1", "Set-Cookie": "leak=1", "X-Internal": "no"},
        )

    app.state.upstream = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    return TestClient(app)


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
    principal = InternalTokens(SECRET).verify(token)
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

    gateway.app.state.upstream = httpx.AsyncClient(transport=httpx.MockTransport(refuse))  # type: ignore[attr-defined]
    response = gateway.get("/api/v1/candidates", headers={"Authorization": "Bearer tok-acme"})
    assert response.status_code == 502
    assert response.headers["content-type"] == "application/problem+json"

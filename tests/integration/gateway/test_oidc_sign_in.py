"""The gateway signs callers in with their tenant's identity provider: a JWT verified against
the provider's keys over real HTTP is forwarded as the tenant's user; a refused one is a 401
naming the reason, and a provider that cannot be reached a 503."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from crm_devstack.infra import LOCALHOST, free_port
from crm_gateway.config import DevIdentity, GatewaySettings, Tenant
from crm_gateway.main import create_app
from crm_gateway.oidc_config import OidcSettings, OidcTenantSettings
from crm_shared import InternalTokenVerifier, load_public_key
from integration.gateway.test_oidc_jwks_server import IssuerServer
from internal_keys import INTERNAL_TOKEN_PRIVATE_KEY, INTERNAL_TOKEN_PUBLIC_KEY
from unit.gateway.fakes import PUBLISHED, openapi_document
from unit.gateway.oidc_issuer import AUDIENCE, serving

pytestmark = pytest.mark.integration


@pytest.fixture
def issuer_server() -> Iterator[IssuerServer]:
    server = IssuerServer()
    with serving(server.handler, server.port):
        yield server


def gateway_trusting(issuer: str, forwarded: list[httpx.Request]) -> TestClient:
    settings = GatewaySettings(
        environment="development",
        internal_token_private_key=INTERNAL_TOKEN_PRIVATE_KEY,
        rate_limit_storage="memory",
        candidates_url="http://candidates.internal",
        tenants={"acme": Tenant(name="Acme")},
        dev_tokens={"tok-acme": DevIdentity(tenant_id="acme", user_id="rita", roles=["admin"])},
        oidc=OidcSettings(
            tenants=[
                OidcTenantSettings(
                    tenant_id="acme", issuer=issuer, audience=AUDIENCE, tenant_claim="tenant_id"
                )
            ],
            http_timeout_seconds=2,
        ),
        log_json=False,
    )
    app = create_app(settings)

    def candidates(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json=openapi_document(PUBLISHED["candidates"]))
        forwarded.append(request)
        return httpx.Response(200, json={"items": []})

    upstream = httpx.AsyncClient(transport=httpx.MockTransport(candidates))
    app.state.container = dataclasses.replace(app.state.container, upstream=upstream)
    return TestClient(app)


def test_a_token_of_the_tenants_provider_is_forwarded_as_its_user(
    issuer_server: IssuerServer,
) -> None:
    forwarded: list[httpx.Request] = []
    gateway = gateway_trusting(issuer_server.issuer.issuer, forwarded)
    token = issuer_server.issuer.token(sub="kc-rita")

    response = gateway.get("/api/v1/candidates", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.text
    internal = forwarded[0].headers["authorization"].removeprefix("Bearer ")
    verifier = InternalTokenVerifier(load_public_key(INTERNAL_TOKEN_PUBLIC_KEY), "candidates")
    principal = verifier.verify(internal)
    assert (principal.tenant_id, principal.user_id) == ("acme", "kc-rita")
    assert principal.roles == frozenset({"recruiter"})
    # The development tokens keep working beside OIDC.
    dev = gateway.get("/api/v1/candidates", headers={"Authorization": "Bearer tok-acme"})
    assert dev.status_code == 200


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
        ({"aud": "another-client"}, "wrong_audience"),
        ({"tenant_id": "globex"}, "wrong_tenant"),
    ],
)
def test_a_refused_token_is_a_401_naming_the_reason(
    issuer_server: IssuerServer, claims: dict[str, Any], reason: str
) -> None:
    forwarded: list[httpx.Request] = []
    gateway = gateway_trusting(issuer_server.issuer.issuer, forwarded)
    token = issuer_server.issuer.token(**claims)

    response = gateway.get("/api/v1/candidates", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == reason
    assert f'error_description="{reason}"' in response.headers["www-authenticate"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert forwarded == []


def test_a_provider_that_cannot_be_reached_is_a_503_not_a_401() -> None:
    issuer = f"http://{LOCALHOST}:{free_port()}/realms/acme"
    server = IssuerServer()  # its keys sign; nothing serves them
    signer = server.issuer
    signer.issuer = issuer
    forwarded: list[httpx.Request] = []
    gateway = gateway_trusting(issuer, forwarded)

    response = gateway.get(
        "/api/v1/candidates", headers={"Authorization": f"Bearer {signer.token()}"}
    )

    assert response.status_code == 503
    assert response.json()["type"].endswith("identity-provider-unavailable")
    assert "retry-after" in response.headers
    assert forwarded == []

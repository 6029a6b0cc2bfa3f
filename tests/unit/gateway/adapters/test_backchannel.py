"""The back-channel: the gateway's own calls to an issuer's host go to the mapped address (a
real local HTTP server), everything else where its URL says; and which mappings a production
gateway refuses."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from crm_devstack.infra import free_ports
from crm_gateway.adapters.backchannel import identity_provider_client
from crm_gateway.main import UnsafeConfiguration, create_app
from crm_gateway.oidc_config import OidcSettings
from unit.gateway.fakes import settings
from unit.gateway.oidc_issuer import QuietHandler, serving

pytestmark = pytest.mark.unit

ISSUER = "http://localhost:8180/realms/recruitcrm"


class Recorder(QuietHandler):
    """Answers every GET with the path and Host header it received."""

    def do_GET(self) -> None:
        body = f'{{"path": "{self.path}", "host": "{self.headers["Host"]}"}}'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


async def test_calls_to_a_mapped_origin_reach_the_mapped_address_path_and_query_kept() -> None:
    (port,) = free_ports(1)
    # No server listens on the issuer's own origin: only the mapping makes the call succeed.
    (unused,) = free_ports(1)
    source = f"http://localhost:{unused}"
    with serving(Recorder, port):
        async with identity_provider_client(5.0, {source: f"http://127.0.0.1:{port}"}) as client:
            response = await client.get(f"{source}/realms/recruitcrm/certs?x=1")
    # Addressed as the issuer: a provider deriving its URLs from Host names itself the same.
    assert response.json() == {
        "path": "/realms/recruitcrm/certs?x=1",
        "host": f"localhost:{unused}",
    }
    assert response.request.url == f"{source}/realms/recruitcrm/certs?x=1"


async def test_other_origins_and_schemes_are_not_mapped() -> None:
    (port,) = free_ports(1)
    (unused,) = free_ports(1)
    with serving(Recorder, port):
        mapping = {f"https://localhost:{port}": f"http://127.0.0.1:{unused}"}
        async with identity_provider_client(5.0, mapping) as client:
            # Same host and port but http, not the mapped https: sent as addressed.
            response = await client.get(f"http://localhost:{port}/x")
    assert response.json()["host"] == f"localhost:{port}"


@pytest.mark.parametrize(
    "mapping",
    [
        {"http://localhost:8180/realms": "http://keycloak:8080"},
        {"http://localhost:8180": "keycloak:8080"},
        {"http://localhost:8180": "http://keycloak:8080/auth"},
        {"ftp://localhost:8180": "http://keycloak:8080"},
    ],
)
def test_only_origins_are_mapped(mapping: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="origins"):
        OidcSettings.model_validate({"backchannel_urls": mapping})


def _oidc(issuer: str, mapping: dict[str, str]) -> dict[str, Any]:
    return {
        "tenants": [{"tenant_id": "acme", "issuer": issuer, "audience": "crm-gateway"}],
        "backchannel_urls": mapping,
    }


def _production(oidc: dict[str, Any]) -> Any:
    return create_app(settings(environment="production", dev_tokens={}, oidc=oidc))


def test_a_production_gateway_never_sends_an_https_issuers_calls_over_plain_http() -> None:
    oidc = _oidc(
        "https://sso.example.com/realms/acme", {"https://sso.example.com": "http://sso:80"}
    )
    with pytest.raises(UnsafeConfiguration, match="backchannel_urls"):
        _production(oidc)
    # The explicit development flag allows it (a local provider behind a TLS-less proxy).
    assert create_app(settings(environment="development", oidc=oidc))


@pytest.mark.parametrize(
    "mapping",
    [
        # Compose: the browser's loopback issuer, reached by the gateway on the compose network.
        {"http://localhost:8180": "http://keycloak:8080"},
        {"https://sso.example.com": "https://sso.internal:8443"},
        {"https://sso.example.com": "http://127.0.0.1:8080"},
    ],
)
def test_a_production_gateway_keeps_tls_or_loopback(mapping: dict[str, str]) -> None:
    issuer = next(iter(mapping)) + "/realms/acme"
    assert _production(_oidc(issuer, mapping))

"""OIDC verification against a real HTTP issuer: discovery and key sets over the network,
keys rotated while the gateway runs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from crm_devstack.infra import LOCALHOST, free_port
from crm_gateway.adapters.jwks import JwksKeys
from crm_gateway.application.oidc_sign_in import OidcAuthenticator
from crm_gateway.domain.oidc import Rejection, TenantIssuer, TokenRejected
from unit.gateway.oidc_issuer import AUDIENCE, QuietHandler, TestIssuer, serving

pytestmark = pytest.mark.integration


class IssuerServer:
    """An identity provider's discovery document and key set, served over local HTTP."""

    def __init__(self) -> None:
        self.port = free_port()
        self.issuer = TestIssuer(f"http://{LOCALHOST}:{self.port}/realms/acme")
        self.issuer.add_key("RS256")
        self.requests: list[str] = []
        served = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                served.requests.append(self.path)
                if self.path == "/realms/acme/.well-known/openid-configuration":
                    body = served.issuer.discovery(served.issuer.issuer + "/certs")
                elif self.path == "/realms/acme/certs":
                    body = served.issuer.jwks
                else:
                    self.send_error(404)
                    return
                payload = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.handler = Handler


@pytest.fixture
def issuer_server() -> Iterator[IssuerServer]:
    server = IssuerServer()
    with serving(server.handler, server.port):
        yield server


async def test_tokens_verify_against_keys_fetched_over_http_and_rotated(
    issuer_server: IssuerServer,
) -> None:
    issuer = issuer_server.issuer
    async with httpx.AsyncClient(timeout=5) as client:
        authenticator = OidcAuthenticator(
            [TenantIssuer(tenant_id="acme", issuer=issuer.issuer, audience=AUDIENCE)],
            JwksKeys(client, min_refetch_seconds=0.5),
        )
        first = await authenticator.authenticate(issuer.token(sub="rita"))
        await authenticator.authenticate(issuer.token(sub="rita"))
        assert issuer_server.requests == [
            "/realms/acme/.well-known/openid-configuration",
            "/realms/acme/certs",
        ]

        # The provider rotates to an Ed25519 key; the old one is withdrawn.
        rotated = issuer.add_key("EdDSA")
        withdrawn = issuer.keys.pop(0)
        # Past the refetch interval, so the unknown key id may trigger a refetch.
        await asyncio.sleep(0.6)
        second = await authenticator.authenticate(issuer.token(rotated, sub="alice"))
        assert issuer_server.requests.count("/realms/acme/certs") == 2

        # A key id the provider does not publish is refused.
        with pytest.raises(TokenRejected) as caught:
            await authenticator.authenticate(issuer.token(withdrawn, headers={"kid": "made-up"}))
    assert (first.user_id, second.user_id) == ("rita", "alice")
    assert first.tenant_id == second.tenant_id == "acme"
    assert first.roles == frozenset({"recruiter"})
    assert caught.value.reason == Rejection.UNKNOWN_KEY


async def test_an_issuer_that_does_not_answer_is_reported_as_unavailable() -> None:
    port = free_port()
    issuer = f"http://{LOCALHOST}:{port}/realms/acme"
    signer = TestIssuer(issuer)
    signer.add_key("ES256")
    async with httpx.AsyncClient(timeout=2) as client:
        authenticator = OidcAuthenticator(
            [TenantIssuer(tenant_id="acme", issuer=issuer, audience=AUDIENCE)], JwksKeys(client)
        )
        with pytest.raises(TokenRejected) as caught:
            await authenticator.authenticate(signer.token())
    assert caught.value.reason == Rejection.KEYS_UNAVAILABLE

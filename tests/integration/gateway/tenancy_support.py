"""A gateway on the session's MongoDB (a database of its own per test) in front of a fake
candidates service that records what reaches it."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi.testclient import TestClient

from crm_gateway.api.tenancy_schemas import SignInSettingsBody
from crm_gateway.config import DevIdentity, GatewaySettings, Tenant
from crm_gateway.main import create_app
from crm_gateway.oidc_config import OidcSettings, OidcTenantSettings
from crm_shared import InternalTokenVerifier, Principal, load_public_key
from helpers import unique
from internal_keys import INTERNAL_TOKEN_PRIVATE_KEY, INTERNAL_TOKEN_PUBLIC_KEY
from unit.gateway.fakes import PUBLISHED, openapi_document
from unit.gateway.oidc_issuer import AUDIENCE

OPERATOR_KEY = "operator-key-for-the-tenancy-tests-0123456789"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}
ADMIN = {"Authorization": "Bearer tok-admin"}
RECRUITER = {"Authorization": "Bearer tok-recruiter"}


def whole_sign_in(**fields: Any) -> dict[str, Any]:
    """A body for the operator's `PUT .../sign-in`, which takes every field: the settings a
    new tenant has, with `fields` changed."""
    return SignInSettingsBody().model_dump(mode="json") | fields


@dataclasses.dataclass
class Gateway:
    """A running gateway, and the requests its candidates service received."""

    client: TestClient
    forwarded: list[httpx.Request]
    database: str

    def forwarded_principal(self, index: int = -1) -> Principal:
        """Whom the gateway told the service the caller was."""
        internal = self.forwarded[index].headers["authorization"].removeprefix("Bearer ")
        verifier = InternalTokenVerifier(load_public_key(INTERNAL_TOKEN_PUBLIC_KEY), "candidates")
        return verifier.verify(internal)


@contextlib.contextmanager
def running_gateway(mongodb_uri: str, **overrides: Any) -> Iterator[Gateway]:
    """A gateway with tenant `acme` (bootstrapped from `TENANTS`), development tokens of an
    acme admin and recruiter, and an operator key; `overrides` change its settings."""
    database = unique("gateway")
    values: dict[str, Any] = {
        "environment": "development",
        "internal_token_private_key": INTERNAL_TOKEN_PRIVATE_KEY,
        "mongodb_uri": mongodb_uri,
        "mongodb_database": database,
        "candidates_url": "http://candidates.internal",
        "tenants": {"acme": Tenant(name="Acme"), "globex": Tenant(name="Globex")},
        "dev_tokens": {
            "tok-admin": DevIdentity(tenant_id="acme", user_id="alice", roles=["admin"]),
            "tok-recruiter": DevIdentity(tenant_id="acme", user_id="rita", roles=["recruiter"]),
            "tok-globex": DevIdentity(tenant_id="globex", user_id="gus", roles=["admin"]),
        },
        "platform_operator_key_hashes": hashlib.sha256(OPERATOR_KEY.encode()).hexdigest(),
        "log_json": False,
        **overrides,
    }
    app = create_app(GatewaySettings(**values))
    forwarded: list[httpx.Request] = []

    def candidates(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json=_with_permissions(PUBLISHED["candidates"]))
        forwarded.append(request)
        # Paths that stand for a service that is slower than the gateway waits, or down.
        if request.url.path.endswith("/answers-late"):
            raise httpx.ReadTimeout("no answer", request=request)
        if request.url.path.endswith("/is-down"):
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"items": []})

    upstream = httpx.AsyncClient(transport=httpx.MockTransport(candidates))
    app.state.container = dataclasses.replace(app.state.container, upstream=upstream)
    with TestClient(app) as client:
        yield Gateway(client, forwarded, database)


def _with_permissions(paths: dict[str, list[str]]) -> dict[str, Any]:
    """The fake candidates document, each operation declaring its permission as the real
    service's does (`x-permission`), so the gateway confines API keys to their scopes."""
    document = openapi_document(paths)
    for item in document["paths"].values():
        for method, operation in item.items():
            operation["x-permission"] = "candidates:read" if method == "get" else "candidates:write"
    return document


def gateway_trusting(mongodb_uri: str, issuer: str, **overrides: Any) -> Any:
    """A gateway whose tenant acme trusts `issuer` (the `OIDC` setting's bootstrap)."""
    return running_gateway(
        mongodb_uri,
        oidc=OidcSettings(
            tenants=[
                OidcTenantSettings(
                    tenant_id="acme", issuer=issuer, audience=AUDIENCE, tenant_claim="tenant_id"
                )
            ],
            http_timeout_seconds=2,
        ),
        **overrides,
    )

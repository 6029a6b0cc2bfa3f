"""The gateway signs callers in with their tenant's identity provider: a JWT verified against
the provider's keys over real HTTP is mapped to a member of the tenant (by identity, else by a
pending invitation of its verified e-mail, else provisioned just in time if the tenant allows
it) and forwarded as that member; a refused token is a 401 naming the reason, a person who is
no member a 403, and a provider that cannot be reached a 503."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from crm_devstack.infra import LOCALHOST, free_port
from integration.gateway.tenancy_support import (
    ADMIN,
    OPERATOR,
    Gateway,
    gateway_trusting,
    whole_sign_in,
)
from integration.gateway.test_oidc_jwks_server import IssuerServer
from unit.gateway.oidc_issuer import AUDIENCE, serving

pytestmark = pytest.mark.integration


@pytest.fixture
def issuer_server() -> Iterator[IssuerServer]:
    server = IssuerServer()
    with serving(server.handler, server.port):
        yield server


@pytest.fixture
def gateway(mongodb_uri: str, issuer_server: IssuerServer) -> Iterator[Gateway]:
    """Tenant acme trusting the test issuer, bootstrapped from the `OIDC` setting."""
    with gateway_trusting(mongodb_uri, issuer_server.issuer.issuer) as running:
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def person(subject: str, email: str, *, verified: bool = True) -> dict[str, Any]:
    return {"sub": subject, "email": email, "email_verified": verified, "name": subject.title()}


def sign_in_settings(gateway: Gateway, issuer: str, **admission: Any) -> None:
    """The operator sets acme's provider; membership roles unless `roles_from_token`."""
    response = gateway.client.put(
        "/api/v1/platform/tenants/acme/sign-in",
        headers=OPERATOR,
        json=whole_sign_in(issuer=issuer, audience=AUDIENCE, tenant_claim="tenant_id", **admission),
    )
    assert response.status_code == 200, response.text


def refusal(response: Any, status: int, problem_type: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(problem_type), body
    detail: str = body["detail"]
    return detail


def test_a_token_of_the_tenants_provider_is_forwarded_as_its_user(
    gateway: Gateway, issuer_server: IssuerServer
) -> None:
    # As the `OIDC` setting did: the provider's people join on first sign-in, roles from the
    # token (now with a verified address, which provisioning needs).
    token = issuer_server.issuer.token(**person("kc-rita", "rita@acme.example"))

    response = gateway.client.get("/api/v1/candidates", headers=bearer(token))

    assert response.status_code == 200, response.text
    principal = gateway.forwarded_principal()
    assert principal.tenant_id == "acme"
    assert principal.user_id.startswith("usr_")
    assert principal.roles == frozenset({"recruiter"})
    # The same person again is the same user; development tokens keep working beside OIDC.
    gateway.client.get("/api/v1/candidates", headers=bearer(token))
    assert gateway.forwarded_principal().user_id == principal.user_id
    # The member list shows the roles the token brought, not the provisioning default.
    members = gateway.client.get("/api/v1/users", headers=ADMIN).json()
    [rita] = [m for m in _items(members) if m["user_id"] == principal.user_id]
    assert rita["roles"] == ["recruiter"]
    assert gateway.client.get("/api/v1/candidates", headers=ADMIN).status_code == 200


def test_an_invited_person_signs_in_with_the_invited_roles(
    gateway: Gateway, issuer_server: IssuerServer
) -> None:
    sign_in_settings(gateway, issuer_server.issuer.issuer)  # no JIT, membership roles
    invited = gateway.client.post(
        "/api/v1/users", headers=ADMIN, json={"email": "nina@acme.example", "roles": ["viewer"]}
    ).json()
    token = issuer_server.issuer.token(**person("kc-nina", "Nina@acme.example"))

    response = gateway.client.get("/api/v1/candidates", headers=bearer(token))

    assert response.status_code == 200, response.text
    principal = gateway.forwarded_principal()
    assert principal.user_id == invited["user_id"]
    # The membership's roles, not the token's `recruiter`.
    assert principal.roles == frozenset({"viewer"})
    listed = gateway.client.get("/api/v1/users", headers=ADMIN).json()["items"]
    assert [(u["email"], u["status"], u["name"]) for u in listed] == [
        ("nina@acme.example", "active", "Kc-Nina")
    ]


def test_an_invitation_needs_the_address_verified(
    gateway: Gateway, issuer_server: IssuerServer
) -> None:
    sign_in_settings(gateway, issuer_server.issuer.issuer)
    gateway.client.post(
        "/api/v1/users", headers=ADMIN, json={"email": "nina@acme.example", "roles": ["viewer"]}
    )
    token = issuer_server.issuer.token(**person("kc-nina", "nina@acme.example", verified=False))

    detail = refusal(
        gateway.client.get("/api/v1/candidates", headers=bearer(token)), 403, "not-a-member"
    )

    assert "verified" in detail
    assert gateway.forwarded == []


def test_a_stranger_is_refused_unless_the_tenant_provisions_their_domain(
    gateway: Gateway, issuer_server: IssuerServer
) -> None:
    issuer = issuer_server.issuer
    sign_in_settings(gateway, issuer.issuer)
    stranger = issuer.token(**person("kc-sam", "sam@acme.example"))
    detail = refusal(
        gateway.client.get("/api/v1/candidates", headers=bearer(stranger)), 403, "not-a-member"
    )
    assert "invitation" in detail

    admission = gateway.client.put(
        "/api/v1/sign-in-settings/admission",
        headers=ADMIN,
        json={
            "email_domains": ["acme.example"],
            "jit_provisioning": True,
            "default_role": "viewer",
            "roles_from_token": False,
        },
    )
    assert admission.status_code == 200, admission.text

    outsider = issuer.token(**person("kc-eve", "eve@evil.example"))
    refusal(
        gateway.client.get("/api/v1/candidates", headers=bearer(outsider)),
        403,
        "email-domain-not-allowed",
    )
    assert gateway.client.get("/api/v1/candidates", headers=bearer(stranger)).status_code == 200
    assert gateway.forwarded_principal().roles == frozenset({"viewer"})


def test_a_removed_member_and_a_suspended_tenant_are_refused_with_valid_tokens(
    gateway: Gateway, issuer_server: IssuerServer
) -> None:
    issuer = issuer_server.issuer
    sign_in_settings(gateway, issuer.issuer, jit_provisioning=True, default_role="recruiter")
    token = issuer.token(**person("kc-rita", "rita@acme.example"))
    assert gateway.client.get("/api/v1/candidates", headers=bearer(token)).status_code == 200
    user_id = gateway.forwarded_principal().user_id

    removed = gateway.client.delete(f"/api/v1/users/{user_id}", headers=ADMIN)

    assert removed.status_code == 204
    detail = refusal(
        gateway.client.get("/api/v1/candidates", headers=bearer(token)), 403, "membership-removed"
    )
    assert "removed" in detail
    # A new token of the same person is not provisioned again.
    again = issuer.token(**person("kc-rita", "rita@acme.example"))
    refusal(
        gateway.client.get("/api/v1/candidates", headers=bearer(again)), 403, "membership-removed"
    )

    newcomer = issuer.token(**person("kc-tom", "tom@acme.example"))
    assert gateway.client.get("/api/v1/candidates", headers=bearer(newcomer)).status_code == 200
    gateway.client.post("/api/v1/platform/tenants/acme/suspend", headers=OPERATOR)
    detail = refusal(
        gateway.client.get("/api/v1/candidates", headers=bearer(newcomer)), 403, "unknown-tenant"
    )
    assert "not active" in detail


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
        ({"aud": "another-client"}, "wrong_audience"),
        ({"tenant_id": "globex"}, "wrong_tenant"),
    ],
)
def test_a_refused_token_is_a_401_naming_the_reason(
    gateway: Gateway, issuer_server: IssuerServer, claims: dict[str, Any], reason: str
) -> None:
    token = issuer_server.issuer.token(**claims)

    response = gateway.client.get("/api/v1/candidates", headers=bearer(token))

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == reason
    assert f'error_description="{reason}"' in response.headers["www-authenticate"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert gateway.forwarded == []


def test_a_provider_that_cannot_be_reached_is_a_503_not_a_401(mongodb_uri: str) -> None:
    issuer = f"http://{LOCALHOST}:{free_port()}/realms/acme"
    server = IssuerServer()  # its keys sign; nothing serves them
    signer = server.issuer
    signer.issuer = issuer

    with gateway_trusting(mongodb_uri, issuer) as gateway:
        response = gateway.client.get("/api/v1/candidates", headers=bearer(signer.token()))

    assert response.status_code == 503
    assert response.json()["type"].endswith("identity-provider-unavailable")
    assert "retry-after" in response.headers
    assert gateway.forwarded == []


def _items(body: Any) -> list[dict[str, Any]]:
    return list(body["items"] if isinstance(body, dict) else body)

"""Issue 16's bad input, end to end through the gateway on the real database: every refused
credential (each kind of bad OIDC token, a bad, revoked or expired API key, a key beyond its
scopes, a removed member, a suspended tenant) is a clear 401 or 403 problem+json AND an audit
entry naming the outcome and why, attributed to the tenant where the gateway knows it for sure.
The tenant's last active admin can be neither removed nor demoted; an active member's address
and display name change through PATCH, audited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from pymongo import MongoClient

from crm_gateway.repositories.audit import AUDIT_LOG
from crm_shared import utc_now
from integration.gateway.tenancy_support import (
    ADMIN,
    OPERATOR,
    Gateway,
    gateway_trusting,
    whole_sign_in,
)
from integration.gateway.test_oidc_jwks_server import IssuerServer, issuer_server
from unit.gateway.oidc_issuer import AUDIENCE, TestIssuer

pytestmark = pytest.mark.integration
__all__ = ["issuer_server"]


@pytest.fixture
def gateway(mongodb_uri: str, issuer_server: IssuerServer) -> Iterator[Gateway]:
    with gateway_trusting(
        mongodb_uri, issuer_server.issuer.issuer, audit_flush_interval_seconds=0.05
    ) as running:
        # Membership roles, invitations accepted, and newcomers of acme.example provisioned.
        answer = running.client.put(
            "/api/v1/platform/tenants/acme/sign-in",
            headers=OPERATOR,
            json=whole_sign_in(
                issuer=issuer_server.issuer.issuer,
                audience=AUDIENCE,
                tenant_claim="tenant_id",
                jit_provisioning=True,
                default_role="recruiter",
                email_domains=["acme.example"],
            ),
        )
        assert answer.status_code == 200, answer.text
        yield running


@pytest.fixture
def audit(mongodb_uri: str, gateway: Gateway) -> Iterator[Any]:
    """The stored audit entry of a response, waited for (entries are written in batches)."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri, tz_aware=True)
    collection = client[gateway.database][AUDIT_LOG]

    def entry_of(response: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = collection.find_one({"request_id": response.headers["X-Request-Id"]})
            if found is not None:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no audit entry for {response.request.url}")

    yield entry_of
    client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def person(subject: str, email: str) -> dict[str, Any]:
    return {"sub": subject, "email": email, "email_verified": True, "name": subject.title()}


def _unsigned(issuer: TestIssuer) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(issuer.claims(realm_access={"roles": ["admin"]})).encode())
    return f"{header}.{payload}."


def _hs256_with_the_public_key(issuer: TestIssuer) -> str:
    key = issuer.keys[0]
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = _b64(json.dumps(issuer.claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _unknown_kid(issuer: TestIssuer) -> str:
    rogue = TestIssuer(issuer.issuer)
    return rogue.token(rogue.add_key("RS256"))


def _tampered(issuer: TestIssuer) -> str:
    header, _, signature = issuer.token().split(".")
    payload = _b64(json.dumps(issuer.claims(sub="someone-else")).encode())
    return f"{header}.{payload}.{signature}"


BAD_TOKENS: dict[str, Callable[[TestIssuer], str]] = {
    "expired": lambda i: i.token(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "not_yet_valid": lambda i: i.token(nbf=int(time.time()) + 3600),
    "wrong_audience": lambda i: i.token(aud="another-client"),
    # Signed with the trusted provider's key, but naming another issuer.
    "unknown_issuer": lambda i: i.token(iss="https://evil.example.com/realms/acme"),
    "unsigned": _unsigned,
    "disallowed_algorithm": _hs256_with_the_public_key,
    "unknown_key": _unknown_kid,
    "bad_signature": _tampered,
    "wrong_tenant": lambda i: i.token(tenant_id="globex"),
}


@pytest.mark.parametrize("reason", sorted(BAD_TOKENS))
def test_each_bad_token_is_a_401_problem_and_an_audit_entry(
    gateway: Gateway, issuer_server: IssuerServer, audit: Any, reason: str
) -> None:
    token = BAD_TOKENS[reason](issuer_server.issuer)

    response = gateway.client.post("/api/v1/candidates", headers=bearer(token), json={})

    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == reason
    assert gateway.forwarded == []
    entry = audit(response)
    assert (entry["status"], entry["outcome"], entry["reason"]) == (401, "refused", reason)
    assert entry["actor_kind"] == "anonymous"
    assert token not in json.dumps(entry, default=str)


def _key(gateway: Gateway, scopes: list[str]) -> tuple[str, str]:
    created = gateway.client.post(
        "/api/v1/api-keys", headers=ADMIN, json={"name": "sync", "scopes": scopes}
    )
    assert created.status_code == 201, created.text
    return created.json()["key_id"], created.json()["key"]


def test_bad_revoked_expired_and_overreaching_keys_are_refused_and_audited(
    gateway: Gateway, mongodb_uri: str, audit: Any
) -> None:
    client = gateway.client
    key_id, secret = _key(gateway, ["candidates:read"])

    tampered = client.get("/api/v1/candidates", headers=bearer(secret[:-4] + "AAAA"))
    beyond = client.post("/api/v1/candidates", headers=bearer(secret), json={})
    assert client.delete(f"/api/v1/api-keys/{key_id}", headers=ADMIN).status_code == 204
    revoked = client.get("/api/v1/candidates", headers=bearer(secret))
    expired_id, expired_secret = _key(gateway, ["candidates:read"])
    database: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        database[gateway.database]["api_keys"].update_one(
            {"_id": expired_id}, {"$set": {"expires_at": utc_now() - timedelta(seconds=1)}}
        )
    finally:
        database.close()
    expired = client.get("/api/v1/candidates", headers=bearer(expired_secret))

    for response, status, problem_type in (
        (tampered, 401, "unauthorized"),
        (beyond, 403, "insufficient-scope"),
        (revoked, 401, "unauthorized"),
        (expired, 401, "unauthorized"),
    ):
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith(problem_type)
    assert "revoked" in revoked.json()["detail"]
    assert "expired" in expired.json()["detail"]

    entries = {
        name: audit(r)
        for name, r in [
            ("tampered", tampered),
            ("beyond", beyond),
            ("revoked", revoked),
            ("expired", expired),
        ]
    }
    assert all(entry["outcome"] == "refused" for entry in entries.values())
    # A made-up or tampered key names no tenant: nothing tells whose it was.
    assert (entries["tampered"]["reason"], entries["tampered"]["tenant_id"]) == (
        "invalid_key",
        None,
    )
    assert (entries["revoked"]["reason"], entries["revoked"]["tenant_id"]) == (
        "key_revoked",
        "acme",
    )
    assert (entries["expired"]["reason"], entries["expired"]["tenant_id"]) == (
        "key_expired",
        "acme",
    )
    # A real key presented after its end is named, as its 401 names it.
    assert (entries["revoked"]["actor_kind"], entries["revoked"]["actor_id"]) == ("api_key", key_id)
    assert (entries["expired"]["actor_kind"], entries["expired"]["actor_id"]) == (
        "api_key",
        expired_id,
    )
    assert entries["tampered"]["actor_kind"] == "anonymous"
    # The overreaching call was made by the key, in acme, and refused.
    assert (entries["beyond"]["actor_kind"], entries["beyond"]["actor_id"]) == ("api_key", key_id)
    assert (entries["beyond"]["tenant_id"], entries["beyond"]["status"]) == ("acme", 403)
    assert entries["beyond"]["reason"] == "insufficient-scope"
    for entry in entries.values():
        assert secret not in json.dumps(entry, default=str)


def test_a_removed_member_and_a_suspended_tenant_are_refused_and_audited(
    gateway: Gateway, issuer_server: IssuerServer, audit: Any
) -> None:
    issuer = issuer_server.issuer
    client = gateway.client
    rita = issuer.token(**person("kc-rita", "rita@acme.example"))
    assert client.get("/api/v1/candidates", headers=bearer(rita)).status_code == 200
    rita_id = gateway.forwarded_principal().user_id
    tom = issuer.token(**person("kc-tom", "tom@acme.example"))
    assert client.get("/api/v1/candidates", headers=bearer(tom)).status_code == 200
    assert client.delete(f"/api/v1/users/{rita_id}", headers=ADMIN).status_code == 204

    removed = client.get("/api/v1/candidates", headers=bearer(rita))
    assert client.post("/api/v1/platform/tenants/acme/suspend", headers=OPERATOR).is_success
    suspended = client.get("/api/v1/candidates", headers=bearer(tom))

    for response, problem_type in ((removed, "membership-removed"), (suspended, "unknown-tenant")):
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith(problem_type)
        entry = audit(response)
        assert (entry["outcome"], entry["reason"], entry["tenant_id"]) == (
            "refused",
            problem_type,
            "acme",
        )
    # The gateway verified who the removed member is: the refusal names them, not `anonymous`.
    assert (audit(removed)["actor_kind"], audit(removed)["actor_id"]) == ("user", rita_id)


def _active_admin(gateway: Gateway, issuer: TestIssuer, name: str) -> tuple[str, str]:
    """An invited admin who has signed in: their user id and a token of theirs."""
    invited = gateway.client.post(
        "/api/v1/users", headers=ADMIN, json={"email": f"{name}@acme.example", "roles": ["admin"]}
    )
    assert invited.status_code == 201, invited.text
    token = issuer.token(**person(f"kc-{name}", f"{name}@acme.example"))
    assert gateway.client.get("/api/v1/users", headers=bearer(token)).status_code == 200
    return invited.json()["user_id"], token


def test_the_last_active_admin_is_neither_removed_nor_demoted_but_the_tenant_suspended(
    gateway: Gateway, issuer_server: IssuerServer, audit: Any
) -> None:
    client, issuer = gateway.client, issuer_server.issuer
    ada_id, ada = _active_admin(gateway, issuer, "ada")

    for response in (
        client.delete(f"/api/v1/users/{ada_id}", headers=bearer(ada)),  # herself
        client.delete(f"/api/v1/users/{ada_id}", headers=ADMIN),
        client.patch(f"/api/v1/users/{ada_id}", headers=ADMIN, json={"roles": ["recruiter"]}),
    ):
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"].endswith("last-admin")
        assert "without an active admin" in problem["detail"]
        assert "ada@acme.example" in problem["detail"]  # the address, not the internal id
        assert ada_id not in problem["detail"]
        entry = audit(response)
        assert (entry["action"], entry["status"], entry["outcome"]) == (
            f"{response.request.method} /users/{{user_id}}",
            409,
            "refused",
        )
    assert client.get(f"/api/v1/users/{ada_id}", headers=ADMIN).json()["roles"] == ["admin"]

    # With a second active admin, the first may go (herself included).
    bob_id, _ = _active_admin(gateway, issuer, "bob")
    demoted = client.patch(
        f"/api/v1/users/{ada_id}", headers=bearer(ada), json={"roles": ["viewer"]}
    )
    assert demoted.status_code == 200, demoted.text
    assert client.delete(f"/api/v1/users/{bob_id}", headers=ADMIN).status_code == 409

    # The platform operator still suspends the whole tenant.
    suspended = client.post("/api/v1/platform/tenants/acme/suspend", headers=OPERATOR)
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"


def test_an_active_members_address_and_name_change_unique_and_audited(
    gateway: Gateway, issuer_server: IssuerServer, audit: Any
) -> None:
    client, issuer = gateway.client, issuer_server.issuer
    nina = issuer.token(**person("kc-nina", "nina@acme.example"))
    assert client.get("/api/v1/candidates", headers=bearer(nina)).status_code == 200
    nina_id = gateway.forwarded_principal().user_id
    invited = client.post(
        "/api/v1/users", headers=ADMIN, json={"email": "ivy@acme.example", "roles": ["viewer"]}
    ).json()

    changed = client.patch(
        f"/api/v1/users/{nina_id}",
        headers=ADMIN,
        json={"email": "Nina.Berg@Acme.example", "name": "Nina Berg"},
    )

    assert changed.status_code == 200, changed.text
    assert (changed.json()["email"], changed.json()["name"]) == (
        "nina.berg@acme.example",
        "Nina Berg",
    )
    assert changed.json()["roles"] == ["recruiter"]
    listed = {m["user_id"]: m for m in client.get("/api/v1/users", headers=ADMIN).json()["items"]}
    assert listed[nina_id]["email"] == "nina.berg@acme.example"
    entry = audit(changed)
    assert (entry["action"], entry["resource"], entry["outcome"]) == (
        "PATCH /users/{user_id}",
        {"user_id": nina_id},
        "succeeded",
    )
    assert "nina.berg" not in json.dumps(entry, default=str).lower()
    # She still signs in by her identity, as herself.
    assert client.get("/api/v1/candidates", headers=bearer(nina)).status_code == 200
    assert gateway.forwarded_principal().user_id == nina_id

    taken = client.patch(
        f"/api/v1/users/{nina_id}", headers=ADMIN, json={"email": "ivy@acme.example"}
    )
    pending = client.patch(
        f"/api/v1/users/{invited['user_id']}", headers=ADMIN, json={"email": "ivy2@acme.example"}
    )
    for response in (taken, pending):
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert "invite the new address" in pending.json()["detail"]
    for body in ({}, {"email": "not-an-address"}, {"name": ""}, {"tenant_id": "globex"}):
        refused = client.patch(f"/api/v1/users/{nina_id}", headers=ADMIN, json=body)
        assert refused.status_code == 422, (body, refused.text)
    # Only admins change members.
    recruiter = client.patch(
        f"/api/v1/users/{nina_id}",
        headers={"Authorization": "Bearer tok-recruiter"},
        json={"name": "Mallory"},
    )
    assert recruiter.status_code == 403
    entry = audit(recruiter)
    assert (entry["actor_id"], entry["outcome"], entry["reason"]) == (
        "rita",
        "refused",
        "forbidden",
    )

"""The platform operator's and the tenant admin's APIs through the gateway, on the real
database: tenants created and suspended, users invited and removed, API keys created, used
within their scopes, revoked and expired; each refusal a clear 401 or 403 problem."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from pymongo import MongoClient

from crm_shared import utc_now
from integration.gateway.tenancy_support import (
    ADMIN,
    OPERATOR,
    RECRUITER,
    Gateway,
    running_gateway,
    whole_sign_in,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway(mongodb_uri: str) -> Iterator[Gateway]:
    with running_gateway(mongodb_uri) as running:
        yield running


def problem(response: Any, status: int, problem_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(problem_type), body
    return body


def test_the_operator_api_needs_an_operator_key_not_a_tenant_token(gateway: Gateway) -> None:
    client = gateway.client
    problem(client.get("/api/v1/platform/tenants"), 401, "unauthorized")
    problem(client.get("/api/v1/platform/tenants", headers=ADMIN), 401, "unauthorized")

    listed = client.get("/api/v1/platform/tenants", headers=OPERATOR)

    assert listed.status_code == 200, listed.text
    # The TENANTS setting was migrated into the database on first use.
    assert [t["tenant_id"] for t in listed.json()["items"]] == ["acme", "globex"]


def test_an_operator_creates_and_suspends_a_tenant_and_its_callers_are_refused(
    gateway: Gateway,
) -> None:
    client = gateway.client
    created = client.post(
        "/api/v1/platform/tenants",
        headers=OPERATOR,
        json={"tenant_id": "initech", "name": "Initech"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "active"
    problem(
        client.post(
            "/api/v1/platform/tenants",
            headers=OPERATOR,
            json={"tenant_id": "initech", "name": "Again"},
        ),
        409,
        "conflict",
    )
    assert client.get("/api/v1/candidates", headers=ADMIN).status_code == 200

    suspended = client.post("/api/v1/platform/tenants/acme/suspend", headers=OPERATOR)

    assert suspended.json()["status"] == "suspended"
    body = problem(client.get("/api/v1/candidates", headers=ADMIN), 403, "unknown-tenant")
    assert "acme" in body["detail"]
    client.post("/api/v1/platform/tenants/acme/reactivate", headers=OPERATOR)
    assert client.get("/api/v1/candidates", headers=ADMIN).status_code == 200
    problem(client.get("/api/v1/platform/tenants/nope", headers=OPERATOR), 404, "not-found")


def test_a_community_key_names_one_tenant(gateway: Gateway) -> None:
    client = gateway.client
    edited = client.patch(
        "/api/v1/platform/tenants/acme", headers=OPERATOR, json={"community_key": "acme-careers"}
    )
    assert edited.json()["community_key"] == "acme-careers"

    taken = client.patch(
        "/api/v1/platform/tenants/globex", headers=OPERATOR, json={"community_key": "acme-careers"}
    )

    problem(taken, 409, "conflict")


def test_two_tenants_may_share_an_issuer_only_with_tenant_claims(gateway: Gateway) -> None:
    client = gateway.client
    sign_in = whole_sign_in(issuer="https://sso.example.com", audience="crm")
    assert (
        client.put(
            "/api/v1/platform/tenants/acme/sign-in", headers=OPERATOR, json=sign_in
        ).status_code
        == 200
    )

    clash = client.put("/api/v1/platform/tenants/globex/sign-in", headers=OPERATOR, json=sign_in)

    problem(clash, 409, "issuer-conflict")
    problem(
        client.put(
            "/api/v1/platform/tenants/globex/sign-in",
            headers=OPERATOR,
            json=whole_sign_in(issuer="http://sso.example.com", audience="crm"),
        ),
        422,
        "validation-error",
    )


def test_the_operators_sign_in_put_takes_every_field_and_resets_none(gateway: Gateway) -> None:
    """A PUT replaces the whole settings: a field left out is a 422 naming it, not its default
    (an audience change once turned the tenant's admission off)."""
    client = gateway.client
    settings = whole_sign_in(
        issuer="https://sso.example.com",
        audience="crm",
        email_domains=["acme.example"],
        jit_provisioning=True,
        default_role="recruiter",
    )
    saved = client.put("/api/v1/platform/tenants/acme/sign-in", headers=OPERATOR, json=settings)
    assert saved.status_code == 200, saved.text

    partial = client.put(
        "/api/v1/platform/tenants/acme/sign-in",
        headers=OPERATOR,
        json={"issuer": "https://sso.example.com", "audience": "crm-2"},
    )

    refused = problem(partial, 422, "validation-error")
    missing = {entry["field"] for entry in refused["errors"]}
    assert missing == set(settings) - {"issuer", "audience"}
    kept = client.get("/api/v1/platform/tenants/acme", headers=OPERATOR).json()["sign_in"]
    assert kept == settings


def test_a_tenant_admin_invites_lists_changes_and_removes_users(gateway: Gateway) -> None:
    client = gateway.client
    invited = client.post(
        "/api/v1/users", headers=ADMIN, json={"email": "Nina@Acme.example", "roles": ["viewer"]}
    )
    assert invited.status_code == 201, invited.text
    nina = invited.json()
    assert (nina["email"], nina["status"], nina["roles"]) == (
        "nina@acme.example",
        "invited",
        ["viewer"],
    )
    problem(
        client.post(
            "/api/v1/users", headers=ADMIN, json={"email": "nina@acme.example", "roles": ["admin"]}
        ),
        409,
        "conflict",
    )
    changed = client.patch(
        f"/api/v1/users/{nina['user_id']}", headers=ADMIN, json={"roles": ["recruiter"]}
    )
    assert changed.json()["roles"] == ["recruiter"]
    # Colleagues see the team by name only: no address, no roles.
    team = client.get("/api/v1/team", headers=RECRUITER)
    assert team.status_code == 200, team.text
    assert {"user_id": nina["user_id"], "name": ""} in team.json()["items"]
    assert all(set(m) == {"user_id", "name"} for m in team.json()["items"])
    # Another tenant's admin sees none of acme's users, and cannot touch them.
    globex = {"Authorization": "Bearer tok-globex"}
    assert client.get("/api/v1/users", headers=globex).json()["items"] == []
    problem(client.delete(f"/api/v1/users/{nina['user_id']}", headers=globex), 404, "not-found")

    assert client.delete(f"/api/v1/users/{nina['user_id']}", headers=ADMIN).status_code == 204

    assert client.get("/api/v1/users", headers=ADMIN).json()["items"] == []
    problem(client.get("/api/v1/users", headers=RECRUITER), 403, "forbidden")


def test_an_api_key_acts_within_its_scopes_and_is_shown_once(
    gateway: Gateway, mongodb_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = gateway.client
    caplog.set_level(logging.DEBUG)
    created = client.post(
        "/api/v1/api-keys",
        headers=ADMIN,
        json={"name": "reporting", "scopes": ["candidates:read"], "expires_in_days": 30},
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    secret = created.json()["key"]
    key_id = created.json()["key_id"]
    assert secret.startswith(f"crm_{key_id}_")
    key = {"Authorization": f"Bearer {secret}"}

    read = client.get("/api/v1/candidates", headers=key)

    assert read.status_code == 200, read.text
    principal = gateway.forwarded_principal()
    assert (principal.tenant_id, principal.user_id) == ("acme", f"key:{key_id}")
    assert principal.roles == frozenset({"viewer"})
    assert (principal.api_key_id, principal.scopes) == (key_id, frozenset({"candidates:read"}))
    body = problem(
        client.post("/api/v1/candidates", headers=key, json={}), 403, "insufficient-scope"
    )
    assert "candidates:write" in body["detail"]
    problem(client.get("/api/v1/users", headers=key), 403, "insufficient-scope")
    listed = client.get("/api/v1/api-keys", headers=ADMIN).json()["items"]
    assert [k["key_id"] for k in listed] == [key_id]
    assert listed[0]["last_used_at"] is not None
    assert "key" not in listed[0]
    # The key is in no log line, and its digest is all the database holds of it.
    assert all(secret not in record.getMessage() for record in caplog.records)
    stored: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        document = stored[gateway.database]["api_keys"].find_one({"_id": key_id})
    finally:
        stored.close()
    assert document is not None
    assert secret not in str(document)


@pytest.mark.parametrize(
    "presented",
    ["crm_000000000000_" + "x" * 43, "crm_short", "crm_{key_id}_" + "y" * 43],
)
def test_an_unknown_or_tampered_key_is_a_401(gateway: Gateway, presented: str) -> None:
    client = gateway.client
    created = client.post(
        "/api/v1/api-keys", headers=ADMIN, json={"name": "ci", "scopes": ["pools:write"]}
    ).json()

    refused = client.get(
        "/api/v1/candidates",
        headers={"Authorization": f"Bearer {presented.format(key_id=created['key_id'])}"},
    )

    body = problem(refused, 401, "unauthorized")
    assert body["detail"] == "the API key is not valid"


def test_a_revoked_or_expired_key_is_a_401(gateway: Gateway, mongodb_uri: str) -> None:
    client = gateway.client

    def new_key() -> tuple[str, dict[str, str]]:
        created = client.post(
            "/api/v1/api-keys", headers=ADMIN, json={"name": "sync", "scopes": ["candidates:write"]}
        ).json()
        return created["key_id"], {"Authorization": f"Bearer {created['key']}"}

    revoked_id, revoked = new_key()
    assert client.post("/api/v1/candidates", headers=revoked, json={}).status_code == 200
    assert client.delete(f"/api/v1/api-keys/{revoked_id}", headers=ADMIN).status_code == 204
    body = problem(client.get("/api/v1/candidates", headers=revoked), 401, "unauthorized")
    assert "revoked" in body["detail"]

    expired_id, expired = new_key()
    database: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        database[gateway.database]["api_keys"].update_one(
            {"_id": expired_id}, {"$set": {"expires_at": utc_now() - timedelta(seconds=1)}}
        )
    finally:
        database.close()
    body = problem(client.get("/api/v1/candidates", headers=expired), 401, "unauthorized")
    assert "expired" in body["detail"]


def test_keys_are_created_with_known_scopes_and_a_bounded_lifetime(gateway: Gateway) -> None:
    client = gateway.client
    body = problem(
        client.post(
            "/api/v1/api-keys", headers=ADMIN, json={"name": "x", "scopes": ["everything:write"]}
        ),
        422,
        "validation-error",
    )
    assert "everything:write" in body["detail"]
    problem(
        client.post(
            "/api/v1/api-keys",
            headers=ADMIN,
            json={"name": "x", "scopes": ["pools:read"], "expires_in_days": 5000},
        ),
        422,
        "validation-error",
    )
    problem(
        client.post("/api/v1/api-keys", headers=RECRUITER, json={"name": "x", "scopes": []}),
        403,
        "forbidden",
    )
    problem(client.delete("/api/v1/api-keys/000000000000", headers=ADMIN), 404, "not-found")


def test_the_operator_invites_a_new_tenants_first_admin(gateway: Gateway) -> None:
    client = gateway.client
    client.post(
        "/api/v1/platform/tenants", headers=OPERATOR, json={"tenant_id": "initech", "name": "I"}
    )

    invited = client.post(
        "/api/v1/platform/tenants/initech/admins",
        headers=OPERATOR,
        json={"email": "lead@initech.example"},
    )

    assert invited.status_code == 201, invited.text
    assert (invited.json()["roles"], invited.json()["status"]) == (["admin"], "invited")
    problem(
        client.post(
            "/api/v1/platform/tenants/initech/admins",
            headers=OPERATOR,
            json={"email": "lead@initech.example"},
        ),
        409,
        "conflict",
    )
    problem(
        client.post(
            "/api/v1/platform/tenants/nope/admins", headers=OPERATOR, json={"email": "a@b.example"}
        ),
        404,
        "not-found",
    )


def test_a_key_that_administers_users_cannot_make_a_broader_key(gateway: Gateway) -> None:
    client = gateway.client
    admin_key = client.post(
        "/api/v1/api-keys",
        headers=ADMIN,
        json={"name": "provisioning", "scopes": ["users:write", "pools:read"]},
    ).json()
    as_key = {"Authorization": f"Bearer {admin_key['key']}"}

    narrower = client.post(
        "/api/v1/api-keys", headers=as_key, json={"name": "n", "scopes": ["pools:read"]}
    )
    broader = client.post(
        "/api/v1/api-keys", headers=as_key, json={"name": "b", "scopes": ["gdpr:write"]}
    )

    assert narrower.status_code == 201, narrower.text
    assert narrower.json()["created_by"] == f"key:{admin_key['key_id']}"
    problem(broader, 403, "insufficient-scope")

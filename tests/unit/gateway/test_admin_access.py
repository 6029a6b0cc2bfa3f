"""Access-control defects an admin try-out found, through the gateway's own API on memory
stores: role changes that the identity provider would overwrite, a removed member's API keys,
grants beyond the caller's own permissions, partial settings PUTs and capitalised domains."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from crm_gateway.config import DevIdentity, Tenant
from crm_gateway.domain.audit import AuditEntry
from crm_gateway.domain.users import Membership, MembershipStatus, User
from crm_gateway.main import build_identity, create_app
from crm_shared import Role
from unit.gateway.fakes import settings
from unit.gateway.memory_identity import MemoryMemberships, MemoryUsers, memory_stores

ALICE = {"Authorization": "Bearer tok-alice"}
BOB = {"Authorization": "Bearer tok-bob"}
ADMISSION = {
    "email_domains": [],
    "jit_provisioning": False,
    "default_role": "viewer",
    "roles_from_token": False,
}


@dataclass
class RecordedTrail:
    """Stands in for the audit trail's buffer: what the gateway recorded."""

    entries: list[AuditEntry] = field(default_factory=list)

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


@dataclass
class Gateway:
    client: TestClient
    memberships: MemoryMemberships
    trail: RecordedTrail

    def bearer(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def admission(self, body: dict[str, Any], headers: dict[str, str] = ALICE) -> None:
        saved = self.client.put("/api/v1/sign-in-settings/admission", headers=headers, json=body)
        assert saved.status_code == 200, saved.text

    def key(self, headers: dict[str, str], *scopes: str) -> dict[str, Any]:
        created = self.client.post(
            "/api/v1/api-keys", headers=headers, json={"name": "sync", "scopes": list(scopes)}
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        return body


@pytest.fixture
def gateway() -> Gateway:
    """Tenant acme with two active admins, alice and bob (development tokens, and memberships
    so either can be removed), and rita, a recruiter."""
    config = settings(
        tenants={"acme": Tenant(name="Acme")},
        dev_tokens={
            "tok-alice": DevIdentity(tenant_id="acme", user_id="u-alice", roles=["admin"]),
            "tok-bob": DevIdentity(tenant_id="acme", user_id="u-bob", roles=["admin"]),
        },
    )
    app = create_app(config)
    stores = memory_stores()
    assert isinstance(stores.users, MemoryUsers)
    assert isinstance(stores.memberships, MemoryMemberships)
    members: list[tuple[str, set[Role]]] = [
        ("u-alice", {"admin"}),
        ("u-bob", {"admin"}),
        ("u-rita", {"recruiter"}),
    ]
    for user_id, roles in members:
        email = f"{user_id[2:]}@acme.example"
        stores.users.stored[user_id] = User(user_id, email)
        stores.memberships.stored[("acme", user_id)] = Membership(
            "acme", user_id, email, frozenset(roles), MembershipStatus.ACTIVE
        )
    identity = build_identity(config, stores, httpx.AsyncClient())
    trail = RecordedTrail()
    app.state.container = dataclasses.replace(
        app.state.container, identity=identity, audit_trail=trail, migrations=None
    )
    return Gateway(TestClient(app), stores.memberships, trail)


def problem(answer: httpx.Response, status: int) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = answer.json()
    return body


# 1. Roles that come from the identity provider's token are not set in the CRM.


def test_roles_from_the_token_cannot_be_changed_here_and_say_where_they_are(
    gateway: Gateway,
) -> None:
    client = gateway.client
    admission = ADMISSION | {"roles_from_token": True}
    gateway.admission(admission)
    refused = problem(
        client.patch("/api/v1/users/u-rita", headers=ALICE, json={"roles": ["viewer"]}), 409
    )
    assert refused["type"].endswith("roles-from-identity-provider")
    assert "identity provider" in refused["detail"]
    assert "roles_from_token" in refused["detail"]
    assert gateway.memberships.stored[("acme", "u-rita")].roles == {"recruiter"}
    # The name is the CRM's to change still.
    renamed = client.patch("/api/v1/users/u-rita", headers=ALICE, json={"name": "Rita R."})
    assert renamed.status_code == 200, renamed.text

    # Managed in the CRM again: the change is made.
    gateway.admission(ADMISSION)
    changed = client.patch("/api/v1/users/u-rita", headers=ALICE, json={"roles": ["viewer"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["roles"] == ["viewer"]


# 2. A removed member's API keys stop at once, stay revoked, and the revocation is audited.


def test_a_removed_members_keys_are_revoked_with_the_reason_and_stay_so(gateway: Gateway) -> None:
    client = gateway.client
    bobs = gateway.key(BOB, "candidates:read", "users:write")
    # A key bob's key made, and alice's own key: only bob's keys follow him out.
    made_by_bobs_key = gateway.key(gateway.bearer(bobs["key"]), "users:read")
    alices = gateway.key(ALICE, "users:read")
    assert client.get("/api/v1/users", headers=gateway.bearer(bobs["key"])).status_code == 200

    assert client.delete("/api/v1/users/u-bob", headers=ALICE).status_code == 204

    for key in (bobs, made_by_bobs_key):
        refused = problem(client.get("/api/v1/users", headers=gateway.bearer(key["key"])), 401)
        assert "was removed" in refused["detail"]
        assert key["key_id"] in refused["detail"]
    assert client.get("/api/v1/users", headers=gateway.bearer(alices["key"])).status_code == 200
    listed = {k["key_id"]: k for k in client.get("/api/v1/api-keys", headers=ALICE).json()["items"]}
    for key in (bobs, made_by_bobs_key):
        assert listed[key["key_id"]]["revoked_at"] is not None
        assert listed[key["key_id"]]["revoked_reason"] == "creator_removed"
    assert listed[alices["key_id"]]["revoked_reason"] is None
    revocations = [e for e in gateway.trail.entries if e.action == "DELETE /api-keys/{key_id}"]
    assert {e.resource["key_id"] for e in revocations} == {
        bobs["key_id"],
        made_by_bobs_key["key_id"],
    }
    assert {(e.reason, e.actor.id, e.resource["user_id"]) for e in revocations} == {
        ("creator_removed", "u-alice", "u-bob")
    }

    # Invited again, bob does not get his keys back.
    again = client.post(
        "/api/v1/users", headers=ALICE, json={"email": "bob@acme.example", "roles": ["admin"]}
    )
    assert again.status_code == 201, again.text
    assert client.get("/api/v1/users", headers=gateway.bearer(bobs["key"])).status_code == 401


def test_an_admin_revocation_keeps_its_own_reason(gateway: Gateway) -> None:
    key = gateway.key(ALICE, "users:read")
    assert gateway.client.delete(f"/api/v1/api-keys/{key['key_id']}", headers=ALICE).is_success
    refused = problem(gateway.client.get("/api/v1/users", headers=gateway.bearer(key["key"])), 401)
    assert refused["detail"] == f"the API key {key['key_id']} was revoked"
    [listed] = gateway.client.get("/api/v1/api-keys", headers=ALICE).json()["items"]
    assert listed["revoked_reason"] == "revoked_by_admin"


# 3. A caller grants only roles whose permissions it holds.


def test_a_narrow_key_cannot_grant_admin(gateway: Gateway) -> None:
    client = gateway.client
    narrow = gateway.bearer(gateway.key(ALICE, "users:write")["key"])
    invited = problem(
        client.post(
            "/api/v1/users", headers=narrow, json={"email": "eve@acme.example", "roles": ["admin"]}
        ),
        403,
    )
    assert invited["type"].endswith("insufficient-scope")
    assert invited["permission"] == "analytics:read"
    assert "audit:write" in invited["missing_permissions"]
    assert ("acme", "u-eve") not in gateway.memberships.stored
    promoted = problem(
        client.patch("/api/v1/users/u-rita", headers=narrow, json={"roles": ["admin"]}), 403
    )
    assert "admin" in promoted["detail"]
    assert gateway.memberships.stored[("acme", "u-rita")].roles == {"recruiter"}
    admission = problem(
        client.put(
            "/api/v1/sign-in-settings/admission",
            headers=narrow,
            json=ADMISSION | {"jit_provisioning": True, "default_role": "admin"},
        ),
        403,
    )
    assert admission["type"].endswith("insufficient-scope")
    settings_now = client.get("/api/v1/sign-in-settings", headers=ALICE).json()
    assert (settings_now["default_role"], settings_now["jit_provisioning"]) == ("viewer", False)
    # Keeping the default role it did not set, and removing a role, grant nothing.
    kept = client.put("/api/v1/sign-in-settings/admission", headers=narrow, json=ADMISSION)
    assert kept.status_code == 200, kept.text
    demoted = client.patch("/api/v1/users/u-bob", headers=narrow, json={"roles": ["admin"]})
    assert demoted.status_code == 200, demoted.text


def test_a_narrow_key_cannot_hand_roles_to_the_identity_provider(gateway: Gateway) -> None:
    # With roles from the token the provider may grant any role, admin too: turning it on is
    # granting every role.
    narrow = gateway.bearer(gateway.key(ALICE, "users:write")["key"])
    refused = problem(
        gateway.client.put(
            "/api/v1/sign-in-settings/admission",
            headers=narrow,
            json=ADMISSION | {"roles_from_token": True},
        ),
        403,
    )
    assert refused["type"].endswith("insufficient-scope")
    assert "audit:write" in refused["missing_permissions"]
    settings_now = gateway.client.get("/api/v1/sign-in-settings", headers=ALICE).json()
    assert settings_now["roles_from_token"] is False
    turned_on = gateway.client.put(
        "/api/v1/sign-in-settings/admission",
        headers=ALICE,
        json=ADMISSION | {"roles_from_token": True},
    )
    assert turned_on.status_code == 200, turned_on.text
    # Turning it off, or keeping it on, grants nothing.
    kept = gateway.client.put(
        "/api/v1/sign-in-settings/admission",
        headers=narrow,
        json=ADMISSION | {"roles_from_token": True},
    )
    assert kept.status_code == 200, kept.text
    off = gateway.client.put("/api/v1/sign-in-settings/admission", headers=narrow, json=ADMISSION)
    assert off.status_code == 200, off.text


def test_a_key_holding_a_roles_permissions_grants_it(gateway: Gateway) -> None:
    coordinator = ["events:write", "candidates:read", "settings:read", "users:write"]
    key = gateway.bearer(gateway.key(ALICE, *coordinator)["key"])
    invited = gateway.client.post(
        "/api/v1/users", headers=key, json={"email": "co@acme.example", "roles": ["coordinator"]}
    )
    assert invited.status_code == 201, invited.text
    refused = gateway.client.post(
        "/api/v1/users", headers=key, json={"email": "re@acme.example", "roles": ["recruiter"]}
    )
    assert problem(refused, 403)["permission"] == "analytics:read"


# 4. A settings PUT replaces the whole setting: nothing left out is reset silently.


def test_a_partial_admission_put_is_refused_naming_what_is_missing(gateway: Gateway) -> None:
    client = gateway.client
    admission = ADMISSION | {"roles_from_token": True, "jit_provisioning": True}
    gateway.admission(admission)
    partial = client.put(
        "/api/v1/sign-in-settings/admission", headers=ALICE, json={"jit_provisioning": False}
    )
    refused = problem(partial, 422)
    assert {e["field"] for e in refused["errors"]} == {
        "email_domains",
        "default_role",
        "roles_from_token",
    }
    kept = client.get("/api/v1/sign-in-settings", headers=ALICE).json()
    assert (kept["roles_from_token"], kept["jit_provisioning"]) == (True, True)


# 5. Unknown filters of the admin lists are a 422.


@pytest.mark.parametrize(
    "target",
    ["/api/v1/audit?actor_id=nobody", "/api/v1/users?status=removed", "/api/v1/api-keys?foo=1"],
)
def test_a_misspelt_filter_of_an_admin_list_is_refused(gateway: Gateway, target: str) -> None:
    refused = problem(gateway.client.get(target, headers=ALICE), 422)
    assert "unknown query parameters" in refused["detail"]


# 6. E-mail domains are case-insensitive.


def test_capitalised_email_domains_are_lower_cased(gateway: Gateway) -> None:
    admission = ADMISSION | {"email_domains": ["Acme.EXAMPLE", " Jobs.Acme.Example "]}
    saved = gateway.client.put("/api/v1/sign-in-settings/admission", headers=ALICE, json=admission)
    assert saved.status_code == 200, saved.text
    assert saved.json()["email_domains"] == ["acme.example", "jobs.acme.example"]


# 7. An API key's refused body names each bad field, as every other validation problem does.


def test_an_api_key_with_unknown_scopes_or_too_long_a_life_names_the_fields(
    gateway: Gateway,
) -> None:
    client = gateway.client
    scopes = problem(
        client.post(
            "/api/v1/api-keys",
            headers=ALICE,
            json={"name": "x", "scopes": ["pools:read", "everything:write", "pools:admin"]},
        ),
        422,
    )
    assert scopes["type"].endswith(":validation-error")
    assert [(e["field"], e["pointer"], e["source"]) for e in scopes["errors"]] == [
        ("scopes.1", "#/scopes/1", "body"),
        ("scopes.2", "#/scopes/2", "body"),
    ]
    assert "everything:write" in scopes["errors"][0]["detail"]
    lifetime = problem(
        client.post(
            "/api/v1/api-keys",
            headers=ALICE,
            json={"name": "x", "scopes": ["pools:read"], "expires_in_days": 5000},
        ),
        422,
    )
    assert [(e["field"], e["source"]) for e in lifetime["errors"]] == [("expires_in_days", "body")]
    assert "366" in lifetime["errors"][0]["detail"]


def test_an_api_key_with_unknown_scopes_and_too_long_a_life_names_every_field_at_once(
    gateway: Gateway,
) -> None:
    refused = problem(
        gateway.client.post(
            "/api/v1/api-keys",
            headers=ALICE,
            json={"name": "x", "scopes": ["candidates:read", "bogus:read"], "expires_in_days": 400},
        ),
        422,
    )
    assert [e["field"] for e in refused["errors"]] == ["scopes.1", "expires_in_days"]
    assert "bogus:read" in refused["detail"]
    assert "366" in refused["detail"]


# 8. Admission that lets anyone from any domain join as an admin is saved, with a warning.


def test_anyone_from_any_domain_joining_as_admin_is_saved_with_a_warning(
    gateway: Gateway,
) -> None:
    client = gateway.client
    risky = ADMISSION | {"jit_provisioning": True, "default_role": "admin"}
    saved = client.put("/api/v1/sign-in-settings/admission", headers=ALICE, json=risky)
    assert saved.status_code == 200, saved.text
    [warning] = saved.json()["warnings"]
    assert warning["code"] == "anyone-joins-as-admin"
    assert "any e-mail domain" in warning["detail"]
    assert set(warning["fields"]) == {"email_domains", "default_role", "jit_provisioning"}
    read = client.get("/api/v1/sign-in-settings", headers=ALICE).json()
    assert read["warnings"] == [warning]
    assert (read["jit_provisioning"], read["default_role"]) == (True, "admin")

    # One listed domain, a recruiter's role, or roles from the token: nothing to warn about.
    for safer in (
        {"email_domains": ["acme.example"]},
        {"default_role": "recruiter"},
        {"roles_from_token": True},
    ):
        answer = client.put("/api/v1/sign-in-settings/admission", headers=ALICE, json=risky | safer)
        assert answer.status_code == 200, answer.text
        assert answer.json()["warnings"] == [], safer


# 9. A public webmail domain admits anyone as surely as no domain; domains are kept once and a
# malformed one is named.


@pytest.mark.parametrize("domains", [["gmail.com"], ["acme.example", "GMail.com", "web.de"]])
def test_a_public_webmail_domain_joining_as_admin_is_warned_about(
    gateway: Gateway, domains: list[str]
) -> None:
    risky = ADMISSION | {"jit_provisioning": True, "default_role": "admin"}
    saved = gateway.client.put(
        "/api/v1/sign-in-settings/admission", headers=ALICE, json=risky | {"email_domains": domains}
    )
    assert saved.status_code == 200, saved.text
    [warning] = saved.json()["warnings"]
    assert warning["code"] == "anyone-joins-as-admin"
    assert "gmail.com" in warning["detail"]
    assert "public webmail" in warning["detail"]
    assert "acme.example" not in warning["detail"]
    read = gateway.client.get("/api/v1/sign-in-settings", headers=ALICE).json()
    assert read["warnings"] == [warning]


@pytest.mark.parametrize("role", ["recruiter", "viewer"])
def test_a_public_webmail_domain_joining_with_a_lesser_role_is_warned_about(
    gateway: Gateway, role: str
) -> None:
    """Anyone with a Gmail address joins as a recruiter: not an admin, but the tenant's
    candidates and their personal data are theirs to read."""
    admission = ADMISSION | {
        "jit_provisioning": True,
        "default_role": role,
        "email_domains": ["acme.example", "gmail.com"],
    }
    saved = gateway.client.put("/api/v1/sign-in-settings/admission", headers=ALICE, json=admission)
    assert saved.status_code == 200, saved.text
    [warning] = saved.json()["warnings"]
    assert warning["code"] == "anyone-joins-from-webmail"
    assert "Anyone with an address at gmail.com (a public webmail provider" in warning["detail"]
    assert f"joins on first sign-in as {role} and can read candidates" in warning["detail"]
    assert set(warning["fields"]) == {"email_domains", "jit_provisioning"}
    read = gateway.client.get("/api/v1/sign-in-settings", headers=ALICE).json()
    assert read["warnings"] == [warning]

    # No just-in-time joining, roles from the token, or the organisation's domains alone (and
    # no domain at all, the usual setting with the tenant's own provider): nothing to say.
    safer: dict[str, Any]
    for safer in (
        {"jit_provisioning": False},
        {"roles_from_token": True},
        {"email_domains": ["acme.example"]},
        {"email_domains": []},
    ):
        answer = gateway.client.put(
            "/api/v1/sign-in-settings/admission", headers=ALICE, json=admission | safer
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["warnings"] == [], safer


def test_an_organisation_domain_alone_joining_as_admin_is_not_warned_about(
    gateway: Gateway,
) -> None:
    risky = ADMISSION | {"jit_provisioning": True, "default_role": "admin"}
    saved = gateway.client.put(
        "/api/v1/sign-in-settings/admission",
        headers=ALICE,
        json=risky | {"email_domains": ["acme.example", "gmail.acme.example"]},
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["warnings"] == []


def test_a_domain_given_twice_in_any_case_is_stored_once(gateway: Gateway) -> None:
    admission = ADMISSION | {"email_domains": ["Acme.COM", "acme.com", "jobs.acme.com"]}
    saved = gateway.client.put("/api/v1/sign-in-settings/admission", headers=ALICE, json=admission)
    assert saved.status_code == 200, saved.text
    assert saved.json()["email_domains"] == ["acme.com", "jobs.acme.com"]
    read = gateway.client.get("/api/v1/sign-in-settings", headers=ALICE).json()
    assert read["email_domains"] == ["acme.com", "jobs.acme.com"]


def test_a_malformed_domain_is_named_with_the_form_expected(gateway: Gateway) -> None:
    admission = ADMISSION | {"email_domains": ["acme.com", "@acme.example", "foo"]}
    refused = problem(
        gateway.client.put("/api/v1/sign-in-settings/admission", headers=ALICE, json=admission),
        422,
    )
    errors = {e["field"]: e["detail"] for e in refused["errors"]}
    assert set(errors) == {"email_domains.1", "email_domains.2"}
    assert "`@acme.example`" in errors["email_domains.1"]
    assert "`foo`" in errors["email_domains.2"]
    assert all("`acme.com`" in detail and "no `@`" in detail for detail in errors.values())

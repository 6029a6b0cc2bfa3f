"""The local Keycloak: bound to loopback, importing the realm whose users the docs list."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crm_devstack.keycloak import (
    CLIENT_ID,
    DEMO_TENANT,
    DEMO_USERS,
    REALM,
    REALM_FILE,
    Keycloak,
)

pytestmark = pytest.mark.unit


def _realm() -> dict[str, Any]:
    realm: dict[str, Any] = json.loads(REALM_FILE.read_text())
    return realm


def test_keycloak_listens_on_loopback_only_and_imports_the_realm(tmp_path: Path) -> None:
    keycloak = Keycloak(tmp_path, 18180, cache_dir=tmp_path / "cache")
    argv = list(keycloak.process.argv)
    assert argv[0] == str(tmp_path / "cache" / "keycloak-26.7.3" / "bin" / "kc.sh")
    assert argv[1] == "start-dev"
    assert {"--import-realm", "--http-host=127.0.0.1", "--http-port=18180"} <= set(argv)
    assert keycloak.issuer == f"http://127.0.0.1:18180/realms/{REALM}"


def test_the_realm_holds_the_documented_users_roles_and_tenant() -> None:
    realm = _realm()
    assert realm["realm"] == REALM
    users = {user["username"]: user for user in realm["users"]}
    assert set(users) == set(DEMO_USERS)
    for username, (password, role) in DEMO_USERS.items():
        user = users[username]
        assert user["credentials"] == [{"type": "password", "value": password, "temporary": False}]
        assert user["realmRoles"] == [role]
        assert user["attributes"]["tenant_id"] == [DEMO_TENANT]


def test_the_client_is_public_with_pkce_and_puts_audience_and_tenant_in_tokens() -> None:
    (client,) = _realm()["clients"]
    assert client["clientId"] == CLIENT_ID
    assert client["publicClient"] is True
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    mappers = {mapper["protocolMapper"]: mapper["config"] for mapper in client["protocolMappers"]}
    assert mappers["oidc-audience-mapper"]["included.client.audience"] == CLIENT_ID
    assert mappers["oidc-usermodel-attribute-mapper"]["claim.name"] == "tenant_id"


def test_the_docs_list_every_demo_password() -> None:
    security = (REALM_FILE.parents[3] / "docs" / "security.md").read_text()
    for username, (password, _) in DEMO_USERS.items():
        assert f"`{username}` | `{password}`" in security

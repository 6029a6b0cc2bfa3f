"""Internal tokens: what the gateway mints, services accept; anything else is rejected."""

from __future__ import annotations

import time

import jwt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crm_shared import CurrentPrincipal, InternalTokens, InvalidTokenError, Principal
from crm_shared.errors import install_problem_handlers

pytestmark = pytest.mark.unit

SECRET = "s" * 40
ALICE = Principal(tenant_id="acme", user_id="alice", roles=frozenset({"recruiter"}))


def test_a_minted_token_verifies_to_the_same_principal() -> None:
    tokens = InternalTokens(SECRET)
    assert tokens.verify(tokens.mint(ALICE)) == ALICE


def test_a_token_signed_with_another_secret_is_rejected() -> None:
    forged = InternalTokens("f" * 40).mint(ALICE)
    with pytest.raises(InvalidTokenError):
        InternalTokens(SECRET).verify(forged)


def test_an_expired_token_is_rejected() -> None:
    claims = {
        "iss": "crm-gateway",
        "aud": "crm-services",
        "iat": int(time.time()) - 120,
        "exp": int(time.time()) - 60,
        "sub": "alice",
        "tenant_id": "acme",
        "roles": [],
    }
    with pytest.raises(InvalidTokenError):
        InternalTokens(SECRET).verify(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_an_unsigned_token_is_rejected() -> None:
    claims = {
        "iss": "crm-gateway",
        "aud": "crm-services",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "sub": "alice",
        "tenant_id": "acme",
    }
    with pytest.raises(InvalidTokenError):
        InternalTokens(SECRET).verify(jwt.encode(claims, "", algorithm="none"))


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        InternalTokens("short")


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.state.internal_tokens = InternalTokens(SECRET)
    install_problem_handlers(app)

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, str]:
        return {"tenant_id": principal.tenant_id, "user_id": principal.user_id}

    return TestClient(app)


def test_current_principal_comes_from_the_verified_token(client: TestClient) -> None:
    token = InternalTokens(SECRET).mint(ALICE)
    response = client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"tenant_id": "acme", "user_id": "alice"}


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer nonsense", "Basic abc"])
def test_a_request_without_a_valid_token_is_a_401_problem(
    client: TestClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/whoami", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == 401

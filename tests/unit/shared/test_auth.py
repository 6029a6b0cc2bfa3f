"""Internal tokens: what the gateway mints for one service, that service accepts; anything
else is rejected."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from fastapi.testclient import TestClient

from crm_shared import (
    CurrentPrincipal,
    InternalTokenSigner,
    InternalTokenVerifier,
    InvalidTokenError,
    Principal,
    load_private_key,
    load_public_key,
)
from crm_shared.errors import install_problem_handlers
from internal_keys import (
    INTERNAL_TOKEN_PRIVATE_KEY,
    INTERNAL_TOKEN_PUBLIC_KEY,
    SIGNER,
    forged_internal_tokens,
)

pytestmark = pytest.mark.unit

ALICE = Principal(tenant_id="acme", user_id="alice", roles=frozenset({"recruiter"}))
CANDIDATES = InternalTokenVerifier(load_public_key(INTERNAL_TOKEN_PUBLIC_KEY), "candidates")


def test_a_minted_token_verifies_to_the_same_principal() -> None:
    assert CANDIDATES.verify(SIGNER.mint(ALICE, "candidates")) == ALICE


def test_the_request_id_and_api_key_travel_with_the_token() -> None:
    keyed = ALICE.model_copy(update={"api_key_id": "key-7", "request_id": "0af7"})
    assert CANDIDATES.verify(SIGNER.mint(keyed, "candidates")) == keyed


def test_a_token_is_signed_with_eddsa_and_names_its_audience() -> None:
    token = SIGNER.mint(ALICE, "campaigns")
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == "campaigns"
    assert claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize("forgery", sorted(forged_internal_tokens(ALICE, "candidates")))
def test_a_forged_token_is_rejected(forgery: str) -> None:
    token = forged_internal_tokens(ALICE, "candidates")[forgery]
    with pytest.raises(InvalidTokenError):
        CANDIDATES.verify(token)


def test_an_unsigned_token_is_rejected() -> None:
    claims = {
        "iss": "crm-gateway",
        "aud": "candidates",
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "sub": "alice",
        "tenant_id": "acme",
    }
    with pytest.raises(InvalidTokenError):
        CANDIDATES.verify(jwt.encode(claims, "", algorithm="none"))


def test_a_token_without_an_audience_cannot_be_minted() -> None:
    with pytest.raises(ValueError, match="service"):
        SIGNER.mint(ALICE, "")


@pytest.mark.parametrize("value", ["", "   "])
def test_no_key_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="no internal token"):
        load_public_key(value)
    with pytest.raises(ValueError, match="no internal token"):
        load_private_key(value)


def test_a_key_of_another_kind_is_refused() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ValueError, match="Ed25519"):
        load_private_key(pem)


def test_keys_load_from_files_and_from_one_line_environment_values(tmp_path: Path) -> None:
    path = tmp_path / "private.pem"
    path.write_text(INTERNAL_TOKEN_PRIVATE_KEY)
    from_file = InternalTokenSigner(load_private_key(str(path)))
    one_line = INTERNAL_TOKEN_PUBLIC_KEY.strip().replace("\n", "\\n")
    verifier = InternalTokenVerifier(load_public_key(one_line), "events")
    assert verifier.verify(from_file.mint(ALICE, "events")) == ALICE


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()
    app.state.internal_token_verifier = CANDIDATES
    install_problem_handlers(app)

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, str]:
        return {"tenant_id": principal.tenant_id, "user_id": principal.user_id}

    return TestClient(app)


def test_current_principal_comes_from_the_verified_token(client: TestClient) -> None:
    token = SIGNER.mint(ALICE, "candidates")
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

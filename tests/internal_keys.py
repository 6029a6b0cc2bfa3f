"""The internal-token key pair of a test session, and tokens signed with it as the gateway
would sign them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt

from crm_shared import (
    InternalTokenSigner,
    Principal,
    generate_internal_key_pair,
    load_private_key,
)
from crm_shared.auth import INTERNAL_TOKEN_ISSUER

_KEYS = generate_internal_key_pair()
# PEM text, as INTERNAL_TOKEN_PRIVATE_KEY / INTERNAL_TOKEN_PUBLIC_KEY take it.
INTERNAL_TOKEN_PRIVATE_KEY = _KEYS.private_pem
INTERNAL_TOKEN_PUBLIC_KEY = _KEYS.public_pem
SIGNER = InternalTokenSigner(load_private_key(INTERNAL_TOKEN_PRIVATE_KEY))


def internal_token(principal: Principal, audience: str) -> str:
    """A valid internal token for `principal`, for the service named `audience`."""
    return SIGNER.mint(principal, audience)


def internal_bearer(principal: Principal, audience: str) -> dict[str, str]:
    """The Authorization header of a call from the gateway to `audience` for `principal`."""
    return {"Authorization": f"Bearer {internal_token(principal, audience)}"}


def _unverified_hs256(claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 JWT built by hand: PyJWT refuses to use PEM text as an HMAC secret, which is
    exactly the algorithm-confusion forgery a verifier must refuse."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    header = part(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = part(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{payload}".encode("ascii"), hashlib.sha256).digest()
    return f"{header}.{payload}.{part(signature)}"


def forged_internal_tokens(principal: Principal, audience: str) -> dict[str, str]:
    """Tokens for `principal` that `audience` must refuse with a 401, by what is wrong."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": INTERNAL_TOKEN_ISSUER,
        "aud": audience,
        "iat": now,
        "exp": now + 60,
        "sub": principal.user_id,
        "tenant_id": principal.tenant_id,
        "roles": sorted(principal.roles),
    }
    other_key = InternalTokenSigner(load_private_key(generate_internal_key_pair().private_pem))
    other_audience = "analytics" if audience != "analytics" else "candidates"
    return {
        "hs256 with an old shared secret": _unverified_hs256(claims, b"s" * 48),
        "hs256 with the public key as secret": _unverified_hs256(
            claims, INTERNAL_TOKEN_PUBLIC_KEY.encode("ascii")
        ),
        "for another service": SIGNER.mint(principal, other_audience),
        "signed by another key": other_key.mint(principal, audience),
        "expired": jwt.encode(
            claims | {"iat": now - 120, "exp": now - 60},
            load_private_key(INTERNAL_TOKEN_PRIVATE_KEY),
            algorithm="EdDSA",
        ),
    }

"""A test identity provider: keys the test makes, its JWKS, and tokens signed with them."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

AUDIENCE = "crm-gateway"

SigningPrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _new_key(algorithm: str) -> SigningPrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(algorithm)


def public_jwk(private_key: SigningPrivateKey, algorithm: str, kid: str) -> dict[str, Any]:
    """The public half of a key as a JWK, as an identity provider publishes it."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        text = RSAAlgorithm.to_jwk(private_key.public_key())
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        text = ECAlgorithm.to_jwk(private_key.public_key())
    else:
        text = OKPAlgorithm.to_jwk(private_key.public_key())
    jwk: dict[str, Any] = json.loads(text)
    jwk.update({"kid": kid, "use": "sig", "alg": algorithm})
    return jwk


@dataclass
class SigningKey:
    kid: str
    algorithm: str
    private_key: SigningPrivateKey

    @property
    def jwk(self) -> dict[str, Any]:
        return public_jwk(self.private_key, self.algorithm, self.kid)


@dataclass
class TestIssuer:
    """Signs tokens the way an OIDC provider does; publishes the keys it signs with."""

    __test__ = False

    issuer: str
    keys: list[SigningKey] = field(default_factory=list)

    def add_key(self, algorithm: str = "RS256") -> SigningKey:
        key = SigningKey(f"key-{uuid.uuid4().hex[:8]}", algorithm, _new_key(algorithm))
        self.keys.append(key)
        return key

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk for key in self.keys]}

    def discovery(self, jwks_uri: str) -> dict[str, Any]:
        return {"issuer": self.issuer, "jwks_uri": jwks_uri}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "user-1",
            "iat": now,
            "exp": now + 300,
            "tenant_id": "acme",
            "realm_access": {"roles": ["recruiter", "offline_access"]},
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self,
        key: SigningKey | None = None,
        *,
        headers: dict[str, Any] | None = None,
        **claim_overrides: Any,
    ) -> str:
        key = key or self.keys[0]
        return jwt.encode(
            self.claims(**claim_overrides),
            key.private_key,
            algorithm=key.algorithm,
            headers={"kid": key.kid, **(headers or {})},
        )


class QuietHandler(BaseHTTPRequestHandler):
    """A request handler that keeps the test output free of access logs."""

    def log_message(self, format: str, *args: object) -> None:
        return


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], port: int) -> Iterator[None]:
    """Serves `handler` on 127.0.0.1:`port` from a thread until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

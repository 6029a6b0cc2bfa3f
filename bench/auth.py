"""10. Sign-in and token verification: what authenticating a request costs the gateway.

Each figure runs the gateway's own code in this process, one request after another, against the
same operation done with bare PyJWT / hashlib (the raw stack):

- `oidc-<alg>`: a tenant member's access token (RS256, ES256, EdDSA) through the gateway's caller
  authentication (`CallerAuthentication`: the token's shape, the tenant's issuer, the JWKS from
  its cache, every claim check, the member from the membership cache), against a bare
  `jwt.decode` of the same token with the key in hand;
- `api-key`: an API key through `KeyAuthenticator` (cached lookup, constant-time digest check),
  against a bare SHA-256 digest and `hmac.compare_digest`;
- `internal-token`: the Ed25519 internal token the gateway mints for every forwarded request,
  minted and verified (`InternalTokenSigner`, `InternalTokenVerifier`), against a bare
  `jwt.encode` + `jwt.decode` with EdDSA;
- `first-sign-in`: a person's first request (JIT provisioning: the user and the membership are
  written to the database), no baseline.

The identity provider is served in-process (an httpx mock transport answering discovery and
JWKS), so no network round trip is measured: the keys are fetched once and cached, as in
production. The tenants, members and API keys live in the benchmark's MongoDB database.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pymongo import AsyncMongoClient

from bench.report import Figure
from crm_gateway.config import GatewaySettings, Tenant
from crm_gateway.container import IdentityStores
from crm_gateway.main import build_identity
from crm_gateway.oidc_config import OidcSettings, OidcTenantSettings
from crm_gateway.repositories.api_keys import MongoApiKeys
from crm_gateway.repositories.tenants import MongoTenants
from crm_gateway.repositories.users import MongoMemberships, MongoUsers
from crm_shared import (
    InternalTokenSigner,
    InternalTokenVerifier,
    Principal,
    generate_internal_key_pair,
    load_private_key,
    load_public_key,
)

AUDIENCE = "crm-gateway"
ISSUER_BASE = "http://127.0.0.1:9"  # never dialled: the mock transport answers
Timed = Callable[[], Awaitable[object]]


class _Provider:
    """One signing key of an identity provider, its JWKS and the tokens it issues."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.issuer = f"{ISSUER_BASE}/{algorithm.lower()}"
        self.key_id = f"k-{algorithm.lower()}"
        private: Any
        if algorithm == "RS256":
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
        elif algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
        else:
            private = ed25519.Ed25519PrivateKey.generate()
            jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
        self.private = private
        self.public = private.public_key()
        self.jwks = {"keys": [jwk | {"kid": self.key_id, "alg": algorithm, "use": "sig"}]}

    def token(self, subject: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + 3600,
            "email": f"{subject}@example.org",
            "email_verified": True,
            "realm_access": {"roles": ["recruiter"]},
        }
        return jwt.encode(
            claims, self.private, algorithm=self.algorithm, headers={"kid": self.key_id}
        )

    def bare_decode(self, token: str) -> dict[str, Any]:
        return jwt.decode(
            token, self.public, algorithms=[self.algorithm], audience=AUDIENCE, issuer=self.issuer
        )


def _identity_provider(providers: list[_Provider]) -> httpx.AsyncClient:
    by_issuer = {provider.issuer: provider for provider in providers}

    def answer(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        for issuer, provider in by_issuer.items():
            if url == f"{issuer}/.well-known/openid-configuration":
                return httpx.Response(200, json={"issuer": issuer, "jwks_uri": f"{issuer}/jwks"})
            if url == f"{issuer}/jwks":
                return httpx.Response(200, json=provider.jwks)
        return httpx.Response(404)

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


async def _rate(operation: Timed, requests: int) -> float:
    """Operations per second, one after another, after a short warm-up."""
    for _ in range(min(50, requests)):
        await operation()
    started = time.perf_counter()
    for _ in range(requests):
        await operation()
    return requests / (time.perf_counter() - started)


def _per_request_note(ours: float, raw: float) -> str:
    return f"{1000 / ours:.3f} ms per request (raw {1000 / raw:.3f} ms)"


async def run(mongodb_uri: str, requests: int) -> list[Figure]:
    providers = [_Provider(algorithm) for algorithm in ("RS256", "ES256", "EdDSA")]
    tenants = {f"bench-{p.algorithm.lower()}": p for p in providers}
    settings = GatewaySettings(
        tenants={tenant_id: Tenant(name=tenant_id) for tenant_id in tenants},
        oidc=OidcSettings(
            tenants=[
                OidcTenantSettings(tenant_id=tenant_id, issuer=p.issuer, audience=AUDIENCE)
                for tenant_id, p in tenants.items()
            ]
        ),
    )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    database = client[f"bench_auth_{uuid.uuid4().hex[:8]}"]
    identity_provider = _identity_provider(providers)
    figures: list[Figure] = []
    try:
        identity = build_identity(
            settings,
            IdentityStores(
                tenants=MongoTenants(database),
                users=MongoUsers(database),
                memberships=MongoMemberships(database),
                api_keys=MongoApiKeys(database),
            ),
            identity_provider,
        )
        authentication = identity.authentication

        for provider in providers:
            token = provider.token("ada")
            await authentication.authenticate(token)  # the first sign-in provisions Ada

            async def ours(token: str = token) -> object:
                return await authentication.authenticate(token)

            async def raw(token: str = token, provider: _Provider = provider) -> object:
                return provider.bare_decode(token)

            ours_rate, raw_rate = await _rate(ours, requests), await _rate(raw, requests)
            figures.append(
                Figure(
                    f"auth-oidc-{provider.algorithm.lower()}",
                    "authenticated requests/s",
                    ours_rate,
                    "req/s",
                    raw_rate,
                    "bare jwt.decode, key in hand",
                    _per_request_note(ours_rate, raw_rate),
                )
            )

        first = providers[0]
        tenant_id = next(t for t, p in tenants.items() if p is first)
        created = await identity.key_administration.create(
            tenant_id, "bench", "bench", ["candidates:read"], timedelta(days=1)
        )
        secret = created.plaintext
        digest = hashlib.sha256(secret.encode()).digest()

        async def key_ours() -> object:
            return await authentication.authenticate(secret)

        async def key_raw() -> object:
            return hmac.compare_digest(hashlib.sha256(secret.encode()).digest(), digest)

        ours_rate, raw_rate = await _rate(key_ours, requests), await _rate(key_raw, requests)
        figures.append(
            Figure(
                "auth-api-key",
                "authenticated requests/s",
                ours_rate,
                "req/s",
                raw_rate,
                "bare sha256 + compare_digest",
                _per_request_note(ours_rate, raw_rate),
            )
        )

        keys = generate_internal_key_pair()
        signer = InternalTokenSigner(load_private_key(keys.private_pem))
        verifier = InternalTokenVerifier(load_public_key(keys.public_pem), "candidates")
        principal = Principal(tenant_id=tenant_id, user_id="ada", roles=frozenset({"recruiter"}))
        private, public = load_private_key(keys.private_pem), load_public_key(keys.public_pem)

        async def internal_ours() -> object:
            return verifier.verify(signer.mint(principal, "candidates"))

        async def internal_raw() -> object:
            now = int(time.time())
            claims = {"sub": "ada", "aud": "candidates", "iat": now, "exp": now + 60}
            token = jwt.encode(claims, private, algorithm="EdDSA")
            return jwt.decode(token, public, algorithms=["EdDSA"], audience="candidates")

        ours_rate = await _rate(internal_ours, requests)
        raw_rate = await _rate(internal_raw, requests)
        figures.append(
            Figure(
                "auth-internal-token",
                "minted and verified/s",
                ours_rate,
                "tokens/s",
                raw_rate,
                "bare jwt encode + decode, EdDSA",
                _per_request_note(ours_rate, raw_rate),
            )
        )

        newcomers = iter(range(10**9))

        async def first_sign_in() -> object:
            return await authentication.authenticate(first.token(f"new-{next(newcomers)}"))

        first_rate = await _rate(first_sign_in, max(20, requests // 20))
        figures.append(
            Figure(
                "auth-first-sign-in",
                "first sign-ins/s",
                first_rate,
                "sign-ins/s",
                note=f"{1000 / first_rate:.1f} ms each: JIT user and membership written",
            )
        )
    finally:
        await identity_provider.aclose()
        await client.drop_database(database.name)
        await client.close()
    return figures

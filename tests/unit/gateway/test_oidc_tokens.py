"""OIDC bearer tokens: good ones map to a tenant, user and roles; each bad one is refused with
its reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from crm_gateway.adapters.jwks import JwksKeys
from crm_gateway.application.api_keys import KeyAuthenticator, KeyRefused
from crm_gateway.application.identity import CallerAuthentication
from crm_gateway.application.oidc_sign_in import OidcAuthenticator
from crm_gateway.application.tenants import TenantDirectory
from crm_gateway.application.users import MemberSignIn
from crm_gateway.domain.oidc import (
    Rejection,
    TenantIssuer,
    TokenRejected,
    VerificationPolicy,
    signing_key,
)
from crm_gateway.domain.tenants import SignInSettings, Tenant
from crm_shared import Principal
from unit.gateway.memory_identity import (
    MemoryApiKeys,
    MemoryMemberships,
    MemoryTenants,
    MemoryUsers,
)
from unit.gateway.oidc_issuer import AUDIENCE, TestIssuer

pytestmark = pytest.mark.unit

ISSUER = "https://sso.example.com/realms/acme"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def serve(*issuers: TestIssuer) -> httpx.MockTransport:
    """An HTTP transport answering the issuers' discovery documents and key sets."""

    def answer(request: httpx.Request) -> httpx.Response:
        # Computed per request, so keys an issuer adds later are published.
        for issuer in issuers:
            jwks_uri = issuer.issuer + "/protocol/openid-connect/certs"
            if str(request.url) == issuer.issuer + "/.well-known/openid-configuration":
                return httpx.Response(200, json=issuer.discovery(jwks_uri))
            if str(request.url) == jwks_uri:
                return httpx.Response(200, json=issuer.jwks)
        return httpx.Response(404)

    return httpx.MockTransport(answer)


@pytest.fixture
def issuer() -> TestIssuer:
    test_issuer = TestIssuer(ISSUER)
    test_issuer.add_key("RS256")
    return test_issuer


@pytest.fixture
async def authenticator(issuer: TestIssuer) -> AsyncIterator[OidcAuthenticator]:
    async with httpx.AsyncClient(transport=serve(issuer)) as client:
        yield OidcAuthenticator(
            [TenantIssuer(tenant_id="acme", issuer=ISSUER, audience=AUDIENCE)],
            JwksKeys(client),
            VerificationPolicy(leeway_seconds=30, max_lifetime_seconds=3600),
        )


async def refused(authenticator: OidcAuthenticator, token: str) -> Rejection:
    with pytest.raises(TokenRejected) as caught:
        await authenticator.authenticate(token)
    return caught.value.reason


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
async def test_a_good_token_names_the_tenant_user_and_our_roles(
    authenticator: OidcAuthenticator, issuer: TestIssuer, algorithm: str
) -> None:
    key = issuer.add_key(algorithm)
    principal = await authenticator.authenticate(issuer.token(key, sub="kc-user-7"))
    assert principal.tenant_id == "acme"
    assert principal.user_id == "kc-user-7"
    # `offline_access` is Keycloak's, not ours: it is dropped.
    assert principal.roles == frozenset({"recruiter"})


async def test_an_expired_token_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    now = int(time.time())
    token = issuer.token(iat=now - 600, exp=now - 60)
    assert await refused(authenticator, token) == Rejection.EXPIRED


async def test_a_token_expired_within_the_leeway_is_accepted(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    now = int(time.time())
    principal = await authenticator.authenticate(issuer.token(iat=now - 600, exp=now - 10))
    assert principal.user_id == "user-1"


async def test_a_token_not_yet_valid_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    now = int(time.time())
    token = issuer.token(nbf=now + 120, exp=now + 600)
    assert await refused(authenticator, token) == Rejection.NOT_YET_VALID


async def test_a_token_issued_in_the_future_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    now = int(time.time())
    token = issuer.token(iat=now + 600, exp=now + 900)
    assert await refused(authenticator, token) == Rejection.NOT_YET_VALID


async def test_a_token_for_another_audience_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    assert await refused(authenticator, issuer.token(aud="another-app")) == Rejection.WRONG_AUDIENCE


async def test_a_token_from_an_issuer_no_tenant_trusts_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    # Signed with the trusted issuer's own key, but naming another issuer.
    token = issuer.token(iss="https://evil.example.com/realms/acme")
    assert await refused(authenticator, token) == Rejection.UNKNOWN_ISSUER


async def test_an_unsigned_token_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(issuer.claims(realm_access={"roles": ["admin"]})).encode())
    assert await refused(authenticator, f"{header}.{payload}.") == Rejection.UNSIGNED


async def test_hs256_signed_with_the_published_public_key_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    """Algorithm confusion: whoever has the public key could sign such a token."""
    key = issuer.keys[0]
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key.kid}).encode())
    payload = _b64(json.dumps(issuer.claims(realm_access={"roles": ["admin"]})).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}.{_b64(signature)}"
    assert await refused(authenticator, token) == Rejection.DISALLOWED_ALGORITHM


async def test_a_token_claiming_another_algorithm_than_its_key_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    rsa_key = issuer.keys[0]
    ec_key = issuer.add_key("ES256")
    token = issuer.token(ec_key, headers={"kid": rsa_key.kid})
    assert await refused(authenticator, token) == Rejection.DISALLOWED_ALGORITHM


async def test_an_unknown_key_id_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    rogue = TestIssuer(ISSUER)
    rogue_key = rogue.add_key("RS256")
    assert await refused(authenticator, rogue.token(rogue_key)) == Rejection.UNKNOWN_KEY


async def test_a_tampered_token_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    header, _, signature = issuer.token().split(".")
    payload = _b64(json.dumps(issuer.claims(realm_access={"roles": ["admin"]})).encode())
    assert await refused(authenticator, f"{header}.{payload}.{signature}") == (
        Rejection.BAD_SIGNATURE
    )


async def test_a_token_signed_by_another_key_under_a_known_key_id_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    rogue = TestIssuer(ISSUER)
    rogue.add_key("RS256")
    token = rogue.token(headers={"kid": issuer.keys[0].kid})
    assert await refused(authenticator, token) == Rejection.BAD_SIGNATURE


async def test_a_token_valid_for_too_long_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    now = int(time.time())
    token = issuer.token(iat=now, exp=now + 10 * 365 * 86_400)
    assert await refused(authenticator, token) == Rejection.LIFETIME_TOO_LONG


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "aud"])
async def test_a_token_lacking_a_required_claim_is_refused(
    authenticator: OidcAuthenticator, issuer: TestIssuer, claim: str
) -> None:
    assert await refused(authenticator, issuer.token(**{claim: None})) == Rejection.MISSING_CLAIM


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30"])
async def test_garbage_is_refused_as_malformed(
    authenticator: OidcAuthenticator, token: str
) -> None:
    assert await refused(authenticator, token) == Rejection.MALFORMED


def _tenants_sharing_one_issuer() -> list[TenantIssuer]:
    return [
        TenantIssuer(tenant_id=tenant, issuer=ISSUER, audience=AUDIENCE, tenant_claim="tenant_id")
        for tenant in ("acme", "globex")
    ]


async def test_a_shared_issuer_maps_each_token_to_the_tenant_it_names(issuer: TestIssuer) -> None:
    async with httpx.AsyncClient(transport=serve(issuer)) as client:
        authenticator = OidcAuthenticator(_tenants_sharing_one_issuer(), JwksKeys(client))
        acme = await authenticator.authenticate(issuer.token(tenant_id="acme"))
        globex = await authenticator.authenticate(issuer.token(tenant_id="globex"))
        unknown = await refused(authenticator, issuer.token(tenant_id="initech"))
        missing = await refused(authenticator, issuer.token(tenant_id=None))
    assert (acme.tenant_id, globex.tenant_id) == ("acme", "globex")
    assert unknown == missing == Rejection.WRONG_TENANT


async def test_a_tenant_requiring_a_tenant_claim_refuses_a_token_naming_another(
    issuer: TestIssuer,
) -> None:
    only_acme = [
        TenantIssuer(tenant_id="acme", issuer=ISSUER, audience=AUDIENCE, tenant_claim="tenant_id")
    ]
    async with httpx.AsyncClient(transport=serve(issuer)) as client:
        authenticator = OidcAuthenticator(only_acme, JwksKeys(client))
        assert await refused(authenticator, issuer.token(tenant_id="globex")) == (
            Rejection.WRONG_TENANT
        )


async def test_roles_come_from_the_configured_claim_through_the_mapping(
    issuer: TestIssuer,
) -> None:
    configured = TenantIssuer(
        tenant_id="acme",
        issuer=ISSUER,
        audience=AUDIENCE,
        roles_claim="roles",
        role_mapping={"CRM.Admin": "admin", "CRM.Reader": "viewer"},
    )
    async with httpx.AsyncClient(transport=serve(issuer)) as client:
        authenticator = OidcAuthenticator([configured], JwksKeys(client))
        mapped = await authenticator.authenticate(
            issuer.token(roles=["CRM.Admin", "CRM.Reader", "Other"])
        )
        none_listed = await authenticator.authenticate(issuer.token(roles=None))
    assert mapped.roles == frozenset({"admin", "viewer"})
    assert none_listed.roles == frozenset()


def test_a_symmetric_jwk_never_becomes_a_signing_key() -> None:
    secret = {"kty": "oct", "k": _b64(b"s" * 32), "kid": "k1"}
    with pytest.raises(TokenRejected) as caught:
        signing_key(secret, "HS256")
    assert caught.value.reason == Rejection.UNKNOWN_KEY


class KnownTokens:
    def authenticate(self, token: str) -> Principal | None:
        if token == "dev-acme-admin":
            return Principal(tenant_id="acme", user_id="alice", roles=frozenset({"admin"}))
        return None


def callers(oidc: OidcAuthenticator) -> CallerAuthentication:
    """Tenant acme, provisioning the provider's people with the token's roles."""
    sign_in = SignInSettings(
        issuer=ISSUER, audience=AUDIENCE, jit_provisioning=True, roles_from_token=True
    )
    tenants = TenantDirectory(MemoryTenants(), [Tenant("acme", "Acme", sign_in=sign_in)])
    return CallerAuthentication(
        KnownTokens(),
        KeyAuthenticator(MemoryApiKeys()),
        oidc,
        tenants,
        MemberSignIn(MemoryUsers(), MemoryMemberships()),
    )


async def test_a_bearer_token_is_a_known_opaque_token_a_key_or_an_oidc_jwt(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    bearer = callers(authenticator)
    person: dict[str, Any] = {"email": "rita@acme.example", "email_verified": True}

    assert (await bearer.authenticate("dev-acme-admin")).user_id == "alice"
    member = await bearer.authenticate(issuer.token(sub="rita", **person))
    assert member.user_id.startswith("usr_")
    assert member.roles == frozenset({"recruiter"})
    with pytest.raises(TokenRejected) as unknown:
        await bearer.authenticate("dev-made-up")
    with pytest.raises(KeyRefused):
        await bearer.authenticate("crm_0123456789ab_" + "x" * 43)
    with pytest.raises(TokenRejected) as expired:
        await bearer.authenticate(
            issuer.token(iat=int(time.time()) - 900, exp=int(time.time()) - 600, **person)
        )
    assert unknown.value.reason == Rejection.UNKNOWN_TOKEN
    assert expired.value.reason == Rejection.EXPIRED


async def test_keys_named_in_the_token_itself_are_never_used(
    authenticator: OidcAuthenticator, issuer: TestIssuer
) -> None:
    """`jwk`, `jku` and `x5u` headers point at the attacker's key: only the issuer's JWKS counts."""
    attacker = TestIssuer(ISSUER)
    key = attacker.add_key("RS256")
    embedded = attacker.token(
        key, headers={"jwk": key.jwk, "jku": "https://evil.example.com/jwks.json"}
    )
    assert await refused(authenticator, embedded) == Rejection.UNKNOWN_KEY
    under_known_kid = attacker.token(
        key, headers={"kid": issuer.keys[0].kid, "jwk": key.jwk, "x5u": "https://evil.example.com"}
    )
    assert await refused(authenticator, under_known_kid) == Rejection.BAD_SIGNATURE

"""Issuers' key sets: discovered, cached, refetched once on rotation, never hammered."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from crm_gateway.adapters.jwks import JwksKeys
from crm_gateway.domain.oidc import Rejection, TokenRejected
from unit.gateway.oidc_issuer import TestIssuer

pytestmark = pytest.mark.unit

ISSUER = "https://sso.example.com/realms/acme"
JWKS_URI = ISSUER + "/protocol/openid-connect/certs"


class CountingIssuer:
    """Serves an issuer's discovery document and key set over a mock transport, counting."""

    def __init__(self, issuer: TestIssuer, discovery_issuer: str | None = None) -> None:
        self.issuer = issuer
        self.discovery_issuer = discovery_issuer or issuer.issuer
        self.requests: list[str] = []
        self.down = False

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._answer)

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        await asyncio.sleep(0.01)
        if self.down:
            return httpx.Response(503)
        if str(request.url) == ISSUER + "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": self.discovery_issuer, "jwks_uri": JWKS_URI})
        if str(request.url) == JWKS_URI:
            return httpx.Response(200, json=self.issuer.jwks)
        return httpx.Response(404)

    @property
    def key_set_fetches(self) -> int:
        return self.requests.count("/realms/acme/protocol/openid-connect/certs")


@pytest.fixture
def issuer() -> TestIssuer:
    test_issuer = TestIssuer(ISSUER)
    test_issuer.add_key("RS256")
    return test_issuer


async def test_the_key_set_is_discovered_once_and_cached(issuer: TestIssuer) -> None:
    served = CountingIssuer(issuer)
    async with httpx.AsyncClient(transport=served.transport()) as client:
        keys = JwksKeys(client)
        for _ in range(5):
            jwk = await keys.jwk(ISSUER, issuer.keys[0].kid)
    assert jwk["kid"] == issuer.keys[0].kid
    assert served.requests == [
        "/realms/acme/.well-known/openid-configuration",
        "/realms/acme/protocol/openid-connect/certs",
    ]


async def test_a_rotated_key_is_found_by_one_refetch(issuer: TestIssuer) -> None:
    served = CountingIssuer(issuer)
    now = [1000.0]
    async with httpx.AsyncClient(transport=served.transport()) as client:
        keys = JwksKeys(client, min_refetch_seconds=30, clock=lambda: now[0])
        await keys.jwk(ISSUER, issuer.keys[0].kid)
        now[0] += 31
        rotated = issuer.add_key("ES256")
        jwk = await keys.jwk(ISSUER, rotated.kid)
        await keys.jwk(ISSUER, rotated.kid)
    assert jwk["kid"] == rotated.kid
    assert served.key_set_fetches == 2


async def test_unknown_key_ids_refetch_at_most_once_per_interval(issuer: TestIssuer) -> None:
    served = CountingIssuer(issuer)
    now = [1000.0]
    async with httpx.AsyncClient(transport=served.transport()) as client:
        keys = JwksKeys(client, min_refetch_seconds=30, clock=lambda: now[0])
        await keys.jwk(ISSUER, issuer.keys[0].kid)
        now[0] += 31

        async def made_up() -> Rejection:
            with pytest.raises(TokenRejected) as caught:
                await keys.jwk(ISSUER, uuid.uuid4().hex)
            return caught.value.reason

        reasons = await asyncio.gather(*(made_up() for _ in range(20)))
        reasons.append(await made_up())
        assert served.key_set_fetches == 2
        now[0] += 31
        reasons.append(await made_up())
    assert set(reasons) == {Rejection.UNKNOWN_KEY}
    assert served.key_set_fetches == 3


async def test_the_key_set_is_refetched_when_the_cache_expires(issuer: TestIssuer) -> None:
    served = CountingIssuer(issuer)
    now = [1000.0]
    async with httpx.AsyncClient(transport=served.transport()) as client:
        keys = JwksKeys(client, cache_seconds=600, clock=lambda: now[0])
        await keys.jwk(ISSUER, issuer.keys[0].kid)
        now[0] += 599
        await keys.jwk(ISSUER, issuer.keys[0].kid)
        assert served.key_set_fetches == 1
        now[0] += 2
        await keys.jwk(ISSUER, issuer.keys[0].kid)
    assert served.key_set_fetches == 2


async def test_known_keys_stay_in_use_while_the_issuer_is_down(issuer: TestIssuer) -> None:
    served = CountingIssuer(issuer)
    now = [1000.0]
    async with httpx.AsyncClient(transport=served.transport()) as client:
        keys = JwksKeys(client, cache_seconds=600, min_refetch_seconds=30, clock=lambda: now[0])
        await keys.jwk(ISSUER, issuer.keys[0].kid)
        served.down = True
        now[0] += 700
        jwk = await keys.jwk(ISSUER, issuer.keys[0].kid)
        await keys.jwk(ISSUER, issuer.keys[0].kid)
    assert jwk["kid"] == issuer.keys[0].kid
    # One failed attempt, not one per request.
    assert served.key_set_fetches == 2


async def test_an_unreachable_issuer_without_known_keys_is_reported_and_not_hammered(
    issuer: TestIssuer,
) -> None:
    served = CountingIssuer(issuer)
    served.down = True
    now = [1000.0]
    async with httpx.AsyncClient(transport=served.transport()) as client:
        keys = JwksKeys(client, min_refetch_seconds=30, clock=lambda: now[0])
        for _ in range(3):
            with pytest.raises(TokenRejected) as caught:
                await keys.jwk(ISSUER, issuer.keys[0].kid)
            assert caught.value.reason == Rejection.KEYS_UNAVAILABLE
    assert len(served.requests) == 1


async def test_a_discovery_document_naming_another_issuer_is_not_trusted(
    issuer: TestIssuer,
) -> None:
    served = CountingIssuer(issuer, discovery_issuer="https://evil.example.com/realms/acme")
    async with httpx.AsyncClient(transport=served.transport()) as client:
        with pytest.raises(TokenRejected) as caught:
            await JwksKeys(client).jwk(ISSUER, issuer.keys[0].kid)
    assert caught.value.reason == Rejection.KEYS_UNAVAILABLE


async def test_symmetric_and_encryption_keys_in_the_set_are_ignored(issuer: TestIssuer) -> None:
    issuer_keys = issuer.jwks["keys"]
    published = {
        "keys": [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "shared"},
            {**issuer_keys[0], "kid": "for-encryption", "use": "enc"},
            issuer_keys[0],
        ]
    }

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": JWKS_URI})
        return httpx.Response(200, json=published)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        keys = JwksKeys(client, min_refetch_seconds=30)
        assert (await keys.jwk(ISSUER, issuer.keys[0].kid))["kid"] == issuer.keys[0].kid
        # Without a key id, the one signing key is used.
        assert (await keys.jwk(ISSUER, None))["kid"] == issuer.keys[0].kid
        for kid in ("shared", "for-encryption"):
            with pytest.raises(TokenRejected):
                await keys.jwk(ISSUER, kid)

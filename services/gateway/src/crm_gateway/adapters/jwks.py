"""Issuers' signing keys: OIDC discovery, then the JWKS, cached and refreshed on rotation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from crm_gateway.domain.oidc import Rejection, TokenRejected

DISCOVERY_PATH = "/.well-known/openid-configuration"


@dataclass
class _IssuerKeys:
    """What is known of one issuer's keys and when it was learnt."""

    keys: dict[str | None, Mapping[str, Any]] = field(default_factory=dict)
    fetched_at: float = float("-inf")
    attempted_at: float = float("-inf")
    jwks_uri: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JwksKeys:
    """Fetches each issuer's JWKS through its discovery document and keeps it.

    The set is refetched when older than `cache_seconds`, and when a token names a key id the
    set lacks (the issuer rotated its keys), but then at most once per `min_refetch_seconds`, so
    tokens with made-up key ids cannot make the gateway hammer the issuer. A failed refetch keeps
    the keys already known.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        cache_seconds: float = 600.0,
        min_refetch_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._cache_seconds = cache_seconds
        self._min_refetch_seconds = min_refetch_seconds
        self._clock = clock
        self._issuers: dict[str, _IssuerKeys] = {}
        self.fetches = 0

    async def jwk(self, issuer: str, key_id: str | None) -> Mapping[str, Any]:
        """The issuer's JWK with this id; raises `TokenRejected` when there is none."""
        known = self._issuers.setdefault(issuer, _IssuerKeys())
        if self._clock() - known.fetched_at >= self._cache_seconds:
            await self._refresh(issuer, known, min_age=self._cache_seconds)
        found = self._pick(known, key_id)
        if found is None:
            await self._refresh(issuer, known, min_age=self._min_refetch_seconds)
            found = self._pick(known, key_id)
        if found is None:
            raise TokenRejected(
                Rejection.UNKNOWN_KEY, f"issuer {issuer} publishes no key {key_id or '(unnamed)'}"
            )
        return found

    @staticmethod
    def _pick(known: _IssuerKeys, key_id: str | None) -> Mapping[str, Any] | None:
        if key_id is not None:
            return known.keys.get(key_id)
        # A token without `kid` is accepted only from an issuer with a single signing key.
        return next(iter(known.keys.values())) if len(known.keys) == 1 else None

    async def _refresh(self, issuer: str, known: _IssuerKeys, *, min_age: float) -> None:
        async with known.lock:
            now = self._clock()
            # Another request may have refetched while this one waited for the lock.
            if now - known.fetched_at < min_age:
                return
            if now - known.attempted_at >= self._min_refetch_seconds:
                known.attempted_at = now
                try:
                    known.keys = await self._fetch(issuer, known)
                    known.fetched_at = self._clock()
                    return
                except (httpx.HTTPError, ValueError, KeyError, TypeError):
                    # The keys already known stay in use until a fetch succeeds.
                    pass
            if not known.keys:
                raise TokenRejected(
                    Rejection.KEYS_UNAVAILABLE, f"the signing keys of {issuer} cannot be fetched"
                )

    async def _fetch(self, issuer: str, known: _IssuerKeys) -> dict[str | None, Mapping[str, Any]]:
        self.fetches += 1
        if known.jwks_uri is None:
            response = await self._client.get(issuer.rstrip("/") + DISCOVERY_PATH)
            response.raise_for_status()
            discovery = response.json()
            # OIDC Discovery 1.0 section 4.3: the document must name exactly this issuer.
            if discovery.get("issuer") != issuer:
                raise ValueError(f"the discovery document of {issuer} names another issuer")
            known.jwks_uri = str(discovery["jwks_uri"])
        response = await self._client.get(known.jwks_uri)
        response.raise_for_status()
        jwks = response.json()
        keys: dict[str | None, Mapping[str, Any]] = {}
        for jwk in jwks["keys"]:
            # Symmetric and encryption keys never verify a signature here.
            if not isinstance(jwk, dict) or jwk.get("kty") == "oct":
                continue
            if jwk.get("use", "sig") != "sig":
                continue
            keys[jwk.get("kid")] = jwk
        return keys

"""Authenticating a caller by an OIDC bearer token from their tenant's identity provider."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from crm_gateway.domain.oidc import (
    SigningKeys,
    TenantIssuer,
    VerificationPolicy,
    choose_tenant_issuer,
    principal_from_claims,
    read_header,
    signing_key,
    verify_claims,
)
from crm_shared import Principal

IssuerSource = Callable[[], Awaitable[Sequence[TenantIssuer]]]


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature, issuer, audience and times hold, and the tenant it is for."""

    issuer: TenantIssuer
    claims: Mapping[str, Any]
    # The tenant, subject and the provider's roles mapped to ours.
    principal: Principal


class OidcAuthenticator:
    """Verifies bearer JWTs against the issuers the tenants trust: a fixed list, or a source
    read per token (the tenants' stored sign-in settings, cached by the tenant directory)."""

    def __init__(
        self,
        issuers: Sequence[TenantIssuer] | IssuerSource,
        keys: SigningKeys,
        policy: VerificationPolicy | None = None,
    ) -> None:
        self._issuers = issuers
        self._keys = keys
        self._policy = policy or VerificationPolicy()

    async def _trusted(self) -> list[TenantIssuer]:
        if callable(self._issuers):
            return list(await self._issuers())
        return list(self._issuers)

    async def verify(self, token: str) -> VerifiedToken:
        """The verified claims of a token; raises `TokenRejected` with the reason otherwise."""
        header = read_header(token)
        issuer = choose_tenant_issuer(await self._trusted(), header.issuer, header.claims)
        jwk = await self._keys.jwk(issuer.issuer, header.key_id)
        key = signing_key(jwk, header.algorithm)
        claims = verify_claims(token, key, issuer, self._policy)
        return VerifiedToken(issuer, claims, principal_from_claims(claims, issuer))

    async def authenticate(self, token: str) -> Principal:
        """The principal a token stands for; raises `TokenRejected` with the reason otherwise."""
        return (await self.verify(token)).principal


class OpaqueTokens(Protocol):
    """Bearer tokens the gateway knows by value (the development tokens)."""

    def authenticate(self, token: str) -> Principal | None:
        """The principal a token stands for, or None for an unknown token."""
        ...

"""Rules for OIDC bearer tokens: which are acceptable and whom they stand for.

Signature, expiry and audience checks are PyJWT's; this module decides which algorithms and
keys may be used, which claims are required, and maps the claims to a tenant, user and roles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any, Protocol, get_args

import jwt
from jwt.exceptions import (
    DecodeError,
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
    PyJWTError,
)

from crm_shared import Principal, Role

# Asymmetric only: a symmetric (HS*) token would be checked with a key the issuer publishes,
# so anyone could sign one ("algorithm confusion"); `none` is no signature at all.
ALLOWED_ALGORITHMS: frozenset[str] = frozenset({"RS256", "ES256", "EdDSA"})
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat")
OUR_ROLES: frozenset[str] = frozenset(get_args(Role))


class Rejection(StrEnum):
    """Why a bearer token was refused; the gateway shows it in its 401."""

    UNKNOWN_TOKEN = "unknown_token"  # noqa: S105  # a reason, not a credential
    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    DISALLOWED_ALGORITHM = "disallowed_algorithm"
    UNKNOWN_ISSUER = "unknown_issuer"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_ISSUER = "wrong_issuer"
    MISSING_CLAIM = "missing_claim"
    LIFETIME_TOO_LONG = "lifetime_too_long"
    WRONG_TENANT = "wrong_tenant"
    KEYS_UNAVAILABLE = "keys_unavailable"


class TokenRejected(Exception):
    """A bearer token that is not accepted, with the reason."""

    def __init__(self, reason: Rejection, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class TenantIssuer:
    """A tenant's identity provider and how its tokens' claims are read."""

    tenant_id: str
    issuer: str
    audience: str
    # A dotted path into the claims; Keycloak puts realm roles in `realm_access.roles`.
    roles_claim: str = "realm_access.roles"
    # The provider's role names -> ours; a role named like one of ours maps to it unless listed.
    role_mapping: Mapping[str, Role] = field(default_factory=dict)
    user_claim: str = "sub"
    # When set, the token must carry the tenant id in this claim (one issuer for several
    # tenants, as a shared Keycloak realm is).
    tenant_claim: str | None = None


@dataclass(frozen=True)
class TokenHeader:
    """What a token says about itself before its signature is checked."""

    algorithm: str
    key_id: str | None
    issuer: str
    # Unverified: only to choose which issuer's checks apply.
    claims: Mapping[str, Any]


class SigningKeys(Protocol):
    """The published signing keys of issuers (fetched, cached and refreshed elsewhere)."""

    async def jwk(self, issuer: str, key_id: str | None) -> Mapping[str, Any]:
        """The issuer's JWK with this id; raises `TokenRejected` when there is none."""
        ...


@dataclass(frozen=True)
class VerificationPolicy:
    """Tolerances every OIDC token is held to."""

    leeway_seconds: float = 30.0
    max_lifetime_seconds: float = 86_400.0


def read_header(token: str) -> TokenHeader:
    """The algorithm, key id and claimed issuer of a token, refusing what cannot be verified."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except PyJWTError as error:
        raise TokenRejected(Rejection.MALFORMED, "not a well-formed JWT") from error
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm.lower() == "none":
        raise TokenRejected(Rejection.UNSIGNED, "the token is not signed")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise TokenRejected(
            Rejection.DISALLOWED_ALGORITHM,
            f"algorithm {algorithm} is not accepted (only {', '.join(sorted(ALLOWED_ALGORITHMS))})",
        )
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise TokenRejected(Rejection.MISSING_CLAIM, "the token names no issuer (iss)")
    key_id = header.get("kid")
    return TokenHeader(
        algorithm=algorithm,
        key_id=key_id if isinstance(key_id, str) else None,
        issuer=issuer,
        claims=unverified,
    )


@lru_cache(maxsize=64)
def _parsed(jwk_json: str) -> jwt.PyJWK:
    # Building the key object (an RSA key from its numbers above all) costs more than the
    # signature check itself; an issuer's few keys are parsed once, not on every request.
    return jwt.PyJWK(json.loads(jwk_json))


def signing_key(jwk: Mapping[str, Any], algorithm: str) -> jwt.PyJWK:
    """The public key of a JWK, if it may verify a token signed with `algorithm`."""
    if jwk.get("use", "sig") != "sig" or jwk.get("kty") == "oct":
        raise TokenRejected(Rejection.UNKNOWN_KEY, "the key is not a public signing key")
    declared = jwk.get("alg")
    if declared is not None and declared != algorithm:
        raise TokenRejected(
            Rejection.DISALLOWED_ALGORITHM,
            f"the key is for {declared}, the token claims {algorithm}",
        )
    try:
        key = _parsed(json.dumps(dict(jwk), sort_keys=True))
    except PyJWTError as error:
        raise TokenRejected(Rejection.UNKNOWN_KEY, "the key cannot be read") from error
    # A key without `alg` gets its type's algorithm (RSA -> RS256, P-256 -> ES256, Ed25519 ->
    # EdDSA), so a token may not pick another family for it.
    if key.algorithm_name != algorithm:
        raise TokenRejected(
            Rejection.DISALLOWED_ALGORITHM,
            f"the key is for {key.algorithm_name}, the token claims {algorithm}",
        )
    return key


def verify_claims(
    token: str,
    key: jwt.PyJWK,
    issuer: TenantIssuer,
    policy: VerificationPolicy,
) -> dict[str, Any]:
    """The claims of a token whose signature, issuer, audience and times hold."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[key.algorithm_name],
            audience=issuer.audience,
            issuer=issuer.issuer,
            leeway=policy.leeway_seconds,
            options={"require": list(REQUIRED_CLAIMS)},
        )
    except ExpiredSignatureError as error:
        raise TokenRejected(Rejection.EXPIRED, "the token has expired") from error
    except ImmatureSignatureError as error:
        raise TokenRejected(Rejection.NOT_YET_VALID, "the token is not valid yet") from error
    except InvalidAudienceError as error:
        raise TokenRejected(
            Rejection.WRONG_AUDIENCE, f"the token is not meant for {issuer.audience}"
        ) from error
    except InvalidIssuerError as error:
        raise TokenRejected(
            Rejection.WRONG_ISSUER, f"the token was not issued by {issuer.issuer}"
        ) from error
    except MissingRequiredClaimError as error:
        raise TokenRejected(
            Rejection.MISSING_CLAIM, f"the token lacks the {error.claim} claim"
        ) from error
    except InvalidSignatureError as error:
        raise TokenRejected(Rejection.BAD_SIGNATURE, "the signature does not match") from error
    except InvalidIssuedAtError as error:
        raise TokenRejected(
            Rejection.NOT_YET_VALID, "the token was issued in the future"
        ) from error
    except (DecodeError, InvalidTokenError) as error:
        raise TokenRejected(Rejection.MALFORMED, str(error) or "the token is invalid") from error
    lifetime = float(claims["exp"]) - float(claims["iat"])
    if lifetime > policy.max_lifetime_seconds:
        raise TokenRejected(
            Rejection.LIFETIME_TOO_LONG,
            f"the token is valid for {lifetime:.0f} s, more than {policy.max_lifetime_seconds:.0f}",
        )
    return claims


def claim_at(claims: Mapping[str, Any], dotted_path: str) -> Any:
    """The value at a dotted path of the claims (`realm_access.roles`), or None."""
    value: Any = claims
    for part in dotted_path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def roles_from_claims(claims: Mapping[str, Any], issuer: TenantIssuer) -> frozenset[Role]:
    """Our roles for the provider's role names; names that map to none of ours are ignored."""
    names = claim_at(claims, issuer.roles_claim)
    if isinstance(names, str):
        names = names.split()
    if not isinstance(names, list):
        return frozenset()
    roles: set[Role] = set()
    for name in names:
        if not isinstance(name, str):
            continue
        mapped = issuer.role_mapping.get(name)
        if mapped is not None:
            roles.add(mapped)
        elif name in OUR_ROLES:
            roles.add(name)  # type: ignore[arg-type]  # checked against Role's values above
    return frozenset(roles)


def choose_tenant_issuer(
    issuers: list[TenantIssuer], claims_issuer: str, unverified_claims: Mapping[str, Any]
) -> TenantIssuer:
    """The tenant configuration a token's issuer (and tenant claim) select."""
    candidates = [issuer for issuer in issuers if issuer.issuer == claims_issuer]
    if not candidates:
        raise TokenRejected(Rejection.UNKNOWN_ISSUER, f"no tenant trusts issuer {claims_issuer}")
    if len(candidates) == 1 and candidates[0].tenant_claim is None:
        return candidates[0]
    for candidate in candidates:
        if candidate.tenant_claim is None:
            continue
        if claim_at(unverified_claims, candidate.tenant_claim) == candidate.tenant_id:
            return candidate
    raise TokenRejected(Rejection.WRONG_TENANT, "the token names no tenant that trusts its issuer")


def principal_from_claims(claims: Mapping[str, Any], issuer: TenantIssuer) -> Principal:
    """The tenant, user and roles verified claims stand for."""
    if (
        issuer.tenant_claim is not None
        and claim_at(claims, issuer.tenant_claim) != issuer.tenant_id
    ):
        raise TokenRejected(
            Rejection.WRONG_TENANT, f"the token is not for tenant {issuer.tenant_id}"
        )
    user = claim_at(claims, issuer.user_claim)
    if not isinstance(user, str) or not user:
        raise TokenRejected(
            Rejection.MISSING_CLAIM, f"the token lacks the {issuer.user_claim} claim"
        )
    return Principal(
        tenant_id=issuer.tenant_id, user_id=user, roles=roles_from_claims(claims, issuer)
    )

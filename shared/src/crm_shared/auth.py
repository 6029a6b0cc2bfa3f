"""Internal identity: the gateway vouches for the caller with a short-lived signed token.

The gateway authenticates the outside caller and forwards `Authorization: Bearer <internal
token>`; every service verifies it and gets a `Principal`. The tenant is taken from the token
only, never from anything the client sends.

Tokens are signed with Ed25519 (JWT `EdDSA`). Only the gateway holds the private key; a service
holds the public key, so a compromised service can verify tokens but not mint them. Each token
names the one service it is for (`aud`), so a token a service received cannot be replayed
against another.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from crm_shared.errors import ProblemError, declare_dependency_problems
from crm_shared.telemetry import add_log_fields

# What each role may do is one table: crm_shared.permissions.ROLE_PERMISSIONS.
Role = Literal["admin", "recruiter", "marketer", "coordinator", "viewer"]

INTERNAL_TOKEN_ISSUER = "crm-gateway"
_ALGORITHM = "EdDSA"
_PEM_START = "-----BEGIN"


class Principal(BaseModel):
    """Who is calling: the tenant, the user and their roles; the API key when the caller used
    one, and the id of the outside request the call belongs to."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    roles: frozenset[Role] = frozenset()
    api_key_id: str | None = None
    # An API key's scopes (permission strings): the caller may do no more than these, whatever
    # its roles grant. None for a person, whose roles alone decide.
    scopes: frozenset[str] | None = None
    request_id: str | None = None

    def has_any_role(self, roles: Iterable[Role]) -> bool:
        """Whether the principal holds at least one of `roles`."""
        return not self.roles.isdisjoint(roles)


class InvalidTokenError(Exception):
    """The internal token is missing, malformed, forged, expired or for another service."""


@dataclass(frozen=True)
class InternalKeyPair:
    """An Ed25519 key pair as PEM text: PKCS#8 private key, SubjectPublicKeyInfo public key."""

    private_pem: str
    public_pem: str


def generate_internal_key_pair() -> InternalKeyPair:
    """A new key pair for internal tokens (the devstack makes one per run directory)."""
    private = Ed25519PrivateKey.generate()
    return InternalKeyPair(
        private_pem=private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
        public_pem=public_key_pem(private),
    )


def public_key_pem(private: Ed25519PrivateKey) -> str:
    """The PEM text of a private key's public half."""
    return (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def pem_text(value: str) -> str:
    """PEM text given as itself or as the path of a file holding it (a mounted secret).

    Environment variables rarely keep line breaks intact, so a literal `\\n` counts as one."""
    value = value.strip()
    if not value:
        return ""
    if value.startswith(_PEM_START):
        return value.replace("\\n", "\n")
    return Path(value).read_text(encoding="ascii")


def load_private_key(value: str) -> Ed25519PrivateKey:
    """The Ed25519 private key of PEM text or a PEM file; `ValueError` for anything else."""
    text = pem_text(value)
    if not text:
        raise ValueError("no internal token private key is configured")
    try:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise ValueError(f"the internal token private key is no PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the internal token private key must be an Ed25519 key")
    return key


def load_public_key(value: str) -> Ed25519PublicKey:
    """The Ed25519 public key of PEM text or a PEM file; `ValueError` for anything else."""
    text = pem_text(value)
    if not text:
        raise ValueError("no internal token public key is configured")
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm) as error:
        raise ValueError(f"the internal token public key is no PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the internal token public key must be an Ed25519 key")
    return key


class InternalTokenSigner:
    """Mints internal tokens; only the gateway has one (it alone holds the private key)."""

    def __init__(self, private_key: Ed25519PrivateKey, ttl_seconds: int = 60) -> None:
        if ttl_seconds <= 0:
            raise ValueError("internal tokens need a positive lifetime")
        self._key = private_key
        self._ttl = ttl_seconds

    def mint(self, principal: Principal, audience: str) -> str:
        """A token asserting `principal` to the service named `audience`, valid for the
        configured lifetime."""
        if not audience:
            raise ValueError("an internal token must name the service it is for")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": INTERNAL_TOKEN_ISSUER,
            "aud": audience,
            "iat": now,
            "exp": now + self._ttl,
            "sub": principal.user_id,
            "tenant_id": principal.tenant_id,
            "roles": sorted(principal.roles),
        }
        if principal.request_id is not None:
            claims["request_id"] = principal.request_id
        if principal.api_key_id is not None:
            claims["api_key_id"] = principal.api_key_id
        if principal.scopes is not None:
            claims["scopes"] = sorted(principal.scopes)
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)


class InternalTokenVerifier:
    """Verifies the internal tokens meant for one service with the gateway's public key."""

    def __init__(self, public_key: Ed25519PublicKey, audience: str) -> None:
        if not audience:
            raise ValueError("an internal token verifier needs the service's name as audience")
        self._key = public_key
        self._audience = audience

    def verify(self, token: str) -> Principal:
        """The principal a token asserts; raises `InvalidTokenError` for any bad token."""
        try:
            # The algorithm list is what refuses `none`, HS256 signed with the public key as a
            # secret, and any other algorithm confusion.
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=self._audience,
                issuer=INTERNAL_TOKEN_ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
            return Principal(
                tenant_id=claims["tenant_id"],
                user_id=claims["sub"],
                roles=claims.get("roles", []),
                api_key_id=claims.get("api_key_id"),
                scopes=claims.get("scopes"),
                request_id=claims.get("request_id"),
            )
        except (jwt.PyJWTError, KeyError, ValueError, TypeError) as error:
            raise InvalidTokenError(str(error)) from error


def bearer_token(request: Request) -> str | None:
    """The bearer token of a request's Authorization header, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def unauthorized(detail: str) -> ProblemError:
    """The 401 problem for a request without valid credentials."""
    return ProblemError(
        401, detail, problem_type="unauthorized", headers={"WWW-Authenticate": "Bearer"}
    )


def verified_principal(request: Request) -> Principal:
    """The verified principal of the request, or a 401 problem (for code outside a dependency)."""
    verifier: InternalTokenVerifier = request.app.state.internal_token_verifier
    token = bearer_token(request)
    if token is None:
        raise unauthorized("a bearer token is required")
    try:
        return verifier.verify(token)
    except InvalidTokenError:
        raise unauthorized("the token is invalid or expired") from None


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified principal of the request, or a 401 problem.

    Asynchronous on purpose, as every dependency on the request path: FastAPI runs a plain
    function in a worker thread, a hand-off that cost more than the verification itself.
    The request's log lines carry its tenant and the gateway's request id from here on."""
    principal = verified_principal(request)
    add_log_fields(tenant_id=principal.tenant_id, request_id=principal.request_id)
    return principal


declare_dependency_problems(current_principal, 401)
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

"""Internal identity: the gateway vouches for the caller with a short-lived signed token.

The gateway authenticates the outside caller and forwards `Authorization: Bearer <internal
token>`; every service verifies it and gets a `Principal`. The tenant is taken from the token
only, never from anything the client sends.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from crm_shared.errors import ProblemError, declare_dependency_problems

# What each role may do is one table: crm_shared.permissions.ROLE_PERMISSIONS.
Role = Literal["admin", "recruiter", "marketer", "coordinator", "viewer"]

INTERNAL_TOKEN_ISSUER = "crm-gateway"
INTERNAL_TOKEN_AUDIENCE = "crm-services"
_ALGORITHM = "HS256"


class Principal(BaseModel):
    """Who is calling: the tenant, the user and their roles."""

    model_config = ConfigDict(frozen=True)

    tenant_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    roles: frozenset[Role] = frozenset()

    def has_any_role(self, roles: Iterable[Role]) -> bool:
        """Whether the principal holds at least one of `roles`."""
        return not self.roles.isdisjoint(roles)


class InvalidTokenError(Exception):
    """The internal token is missing, malformed, forged or expired."""


class InternalTokens:
    """Mints (gateway) and verifies (services) internal tokens with the shared secret."""

    def __init__(self, secret: str, ttl_seconds: int = 60) -> None:
        if len(secret) < 32:
            raise ValueError("the internal token secret must have at least 32 characters")
        self._secret = secret
        self._ttl = ttl_seconds

    def mint(self, principal: Principal) -> str:
        """A token asserting `principal`, valid for the configured lifetime."""
        now = int(time.time())
        claims = {
            "iss": INTERNAL_TOKEN_ISSUER,
            "aud": INTERNAL_TOKEN_AUDIENCE,
            "iat": now,
            "exp": now + self._ttl,
            "sub": principal.user_id,
            "tenant_id": principal.tenant_id,
            "roles": sorted(principal.roles),
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> Principal:
        """The principal a token asserts; raises `InvalidTokenError` for any bad token."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=INTERNAL_TOKEN_AUDIENCE,
                issuer=INTERNAL_TOKEN_ISSUER,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
            return Principal(
                tenant_id=claims["tenant_id"], user_id=claims["sub"], roles=claims.get("roles", [])
            )
        except (jwt.PyJWTError, KeyError, ValueError) as error:
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


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified principal of the request, or a 401 problem."""
    tokens: InternalTokens = request.app.state.internal_tokens
    token = bearer_token(request)
    if token is None:
        raise unauthorized("a bearer token is required")
    try:
        return tokens.verify(token)
    except InvalidTokenError:
        raise unauthorized("the token is invalid or expired") from None


declare_dependency_problems(current_principal, 401)
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]

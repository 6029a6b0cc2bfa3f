"""An identity provider's authorization code flow endpoints: its discovery document, the
token endpoint (code exchange and refresh) and the end-session endpoint."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

from crm_gateway.adapters.jwks import DISCOVERY_PATH
from crm_gateway.domain.sessions import ProviderTokens

# Used when a token response names no lifetime (RFC 6749 makes `expires_in` optional).
DEFAULT_TOKEN_SECONDS = 300


class ProviderUnavailable(Exception):
    """The provider's discovery document or token endpoint could not be used."""


class TokenRefused(Exception):
    """The token endpoint refused the grant (`invalid_grant`: a used code, a revoked or
    expired refresh token), with the provider's error code."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class ProviderEndpoints:
    authorization_endpoint: str
    token_endpoint: str
    end_session_endpoint: str | None


@dataclass(frozen=True)
class Client:
    """The gateway as the provider knows it: client id (the tenant's audience), and a secret
    for a confidential client (None: a public client, PKCE only)."""

    client_id: str
    secret: str | None = None


class OidcProvider:
    """Talks to tenants' identity providers on behalf of browsers signing in."""

    def __init__(self, client: httpx.AsyncClient, clock: Callable[[], datetime]) -> None:
        self._client = client
        self._clock = clock
        self._endpoints: dict[str, ProviderEndpoints] = {}

    async def endpoints(self, issuer: str) -> ProviderEndpoints:
        """The issuer's endpoints from its discovery document (read once per process)."""
        known = self._endpoints.get(issuer)
        if known is not None:
            return known
        try:
            response = await self._client.get(issuer.rstrip("/") + DISCOVERY_PATH)
            response.raise_for_status()
            document = response.json()
            if document.get("issuer") != issuer:
                raise ValueError(f"the discovery document of {issuer} names another issuer")
            found = ProviderEndpoints(
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                end_session_endpoint=document.get("end_session_endpoint"),
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            raise ProviderUnavailable(f"the discovery document of {issuer}: {error}") from error
        self._endpoints[issuer] = found
        return found

    async def authorization_url(
        self,
        issuer: str,
        client: Client,
        *,
        redirect_uri: str,
        state: str,
        nonce: str,
        code_challenge: str,
    ) -> str:
        """Where the browser goes to sign in (`response_type=code`, PKCE S256)."""
        endpoints = await self.endpoints(issuer)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": client.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid email profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in endpoints.authorization_endpoint else "?"
        return f"{endpoints.authorization_endpoint}{separator}{query}"

    async def exchange_code(
        self, issuer: str, client: Client, *, code: str, code_verifier: str, redirect_uri: str
    ) -> ProviderTokens:
        """The tokens an authorization code is worth."""
        return await self._grant(
            issuer,
            client,
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": redirect_uri,
            },
        )

    async def refresh(self, issuer: str, client: Client, refresh_token: str) -> ProviderTokens:
        """New tokens for a refresh token; raises `TokenRefused` when it is no longer good."""
        return await self._grant(
            issuer,
            client,
            {"grant_type": "refresh_token", "refresh_token": refresh_token},
            need_id_token=False,
        )

    async def end_session_url(
        self, issuer: str, client: Client, *, id_token: str, post_logout_redirect_uri: str
    ) -> str | None:
        """RP-initiated logout at the provider, or None when it publishes no end-session
        endpoint (or cannot be reached: the gateway's session is ended anyway)."""
        try:
            endpoints = await self.endpoints(issuer)
        except ProviderUnavailable:
            return None
        if not endpoints.end_session_endpoint:
            return None
        hint = {"id_token_hint": id_token} if id_token else {}
        query = urlencode(
            {
                **hint,
                "post_logout_redirect_uri": post_logout_redirect_uri,
                "client_id": client.client_id,
            }
        )
        return f"{endpoints.end_session_endpoint}?{query}"

    async def _grant(
        self, issuer: str, client: Client, form: Mapping[str, str], *, need_id_token: bool = True
    ) -> ProviderTokens:
        """The token endpoint's answer; a refresh may come without a new ID token (`""`)."""
        endpoints = await self.endpoints(issuer)
        body = {**form, "client_id": client.client_id}
        # A confidential client authenticates with HTTP Basic (client_secret_basic, the
        # default every provider supports); a public client by its id and PKCE alone.
        auth = httpx.BasicAuth(client.client_id, client.secret) if client.secret else None
        try:
            response = await self._client.post(
                endpoints.token_endpoint, data=body, auth=auth or httpx.USE_CLIENT_DEFAULT
            )
        except httpx.HTTPError as error:
            raise ProviderUnavailable(f"the token endpoint of {issuer}: {error}") from error
        answer = _json(response)
        if response.status_code in (400, 401):
            raise TokenRefused(str(answer.get("error") or "invalid_grant"))
        id_token = answer.get("id_token")
        if response.status_code != 200 or (need_id_token and not isinstance(id_token, str)):
            raise ProviderUnavailable(
                f"the token endpoint of {issuer} answered {response.status_code} "
                "without an ID token"
            )
        lifetime = answer.get("expires_in")
        seconds = int(lifetime) if isinstance(lifetime, int | float) else DEFAULT_TOKEN_SECONDS
        refresh = answer.get("refresh_token")
        access = answer.get("access_token")
        return ProviderTokens(
            id_token=id_token if isinstance(id_token, str) else "",
            refresh_token=refresh if isinstance(refresh, str) else None,
            access_token=access if isinstance(access, str) and access.count(".") == 2 else None,
            expires_at=self._clock() + timedelta(seconds=seconds),
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}

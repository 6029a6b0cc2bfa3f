"""A test identity provider with the authorization code flow over local HTTP: discovery, key
set, an authorization endpoint that signs in a chosen person at once (as a provider does for a
browser already signed in there), a token endpoint that checks PKCE and issues real signed ID
tokens and refresh tokens, and an end-session endpoint."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from crm_devstack.infra import LOCALHOST, free_port
from unit.gateway.oidc_issuer import AUDIENCE, QuietHandler, TestIssuer

REALM_PATH = "/realms/acme"


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    person: dict[str, Any]


@dataclass
class AuthorizationServer:
    """The provider's state; `handler` serves it (with `serving`)."""

    port: int = field(default_factory=free_port)
    # Who the provider signs in, and what its token endpoint says about their tokens.
    person: dict[str, Any] = field(default_factory=dict)
    expires_in: int = 300
    # Set to an error code (`access_denied`) to refuse the next authorization requests.
    refuse_with: str | None = None
    # Set to make the token endpoint fail as a provider in trouble does (a 500).
    token_endpoint_down: bool = False
    codes: dict[str, _Grant] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    ended_sessions: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.issuer = TestIssuer(f"http://{LOCALHOST}:{self.port}{REALM_PATH}")
        self.issuer.add_key("RS256")

    @property
    def handler(self) -> type[QuietHandler]:
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = {name: values[0] for name, values in parse_qs(url.query).items()}
                if url.path == REALM_PATH + "/.well-known/openid-configuration":
                    self._json(200, server.discovery())
                elif url.path == REALM_PATH + "/certs":
                    self._json(200, server.issuer.jwks)
                elif url.path == REALM_PATH + "/auth":
                    self._redirect(server.authorize(query))
                elif url.path == REALM_PATH + "/logout":
                    server.ended_sessions.append(query)
                    self._redirect(query.get("post_logout_redirect_uri", "/"))
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path != REALM_PATH + "/token":
                    self.send_error(404)
                    return
                server.token_requests.append(form)
                status, body = server.token(form)
                self._json(status, body)

            def _json(self, status: int, body: dict[str, Any]) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _redirect(self, location: str) -> None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        return Handler

    def discovery(self) -> dict[str, Any]:
        base = self.issuer.issuer
        return {
            "issuer": base,
            "jwks_uri": base + "/certs",
            "authorization_endpoint": base + "/auth",
            "token_endpoint": base + "/token",
            "end_session_endpoint": base + "/logout",
        }

    def authorize(self, query: dict[str, str]) -> str:
        """Where the provider sends the browser back: the redirect URI with a code, or with
        the error it was told to refuse with."""
        back = query["redirect_uri"]
        if self.refuse_with:
            return f"{back}?{urlencode({'error': self.refuse_with, 'state': query['state']})}"
        assert query["response_type"] == "code"
        assert query["code_challenge_method"] == "S256"
        code = secrets.token_urlsafe(16)
        self.codes[code] = _Grant(
            client_id=query["client_id"],
            redirect_uri=back,
            challenge=query["code_challenge"],
            nonce=query["nonce"],
            person=dict(self.person),
        )
        return f"{back}?{urlencode({'code': code, 'state': query['state']})}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.token_endpoint_down:
            return 500, {"error": "server_error"}
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None or grant.redirect_uri != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant"}
            verifier = form.get("code_verifier", "")
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if challenge != grant.challenge or grant.client_id != form.get("client_id"):
                return 400, {"error": "invalid_grant"}
            return 200, self._tokens(grant.person, grant.nonce)
        if form.get("grant_type") == "refresh_token":
            person = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if person is None:
                return 400, {"error": "invalid_grant"}
            return 200, self._tokens(person, None)
        return 400, {"error": "unsupported_grant_type"}

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()

    def _tokens(self, person: dict[str, Any], nonce: str | None) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(16)
        self.refresh_tokens[refresh] = person
        claims = {**person, "aud": AUDIENCE, "nonce": nonce}
        return {
            "token_type": "Bearer",
            "access_token": self.issuer.token(**claims),
            # As Keycloak's: the roles are in the access token only.
            "id_token": self.issuer.token(**{**claims, "realm_access": None}),
            "refresh_token": refresh,
            "expires_in": self.expires_in,
        }

"""Signing in through Keycloak as a browser does (authorization code with PKCE), and the token
it issues verified by the gateway's OIDC verifier."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crm_devstack.config import StackConfig
from crm_devstack.infra import LOCALHOST, free_ports
from crm_devstack.keycloak import (
    CLIENT_ID,
    DEMO_TENANT,
    DEMO_USERS,
    Keycloak,
    LoginForm,
    demo_user_ids,
)
from crm_devstack.keycloak import loopback_browser as browser_client
from crm_devstack.stack import service_processes
from crm_gateway.adapters.jwks import JwksKeys
from crm_gateway.application.oidc_sign_in import OidcAuthenticator
from crm_gateway.domain.oidc import TenantIssuer
from crm_gateway.oidc_config import OidcSettings, OidcTenantSettings
from crm_shared import Principal
from integration.gateway.tenancy_support import running_gateway
from unit.gateway.oidc_issuer import QuietHandler, serving

# The first Keycloak start on a machine builds the server: minutes on a loaded one.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


class Callback:
    """The local redirect_uri a native app or the console listens on for the code."""

    def __init__(self) -> None:
        (self.port,) = free_ports(1)
        self.queries: list[dict[str, list[str]]] = []
        received = self.queries

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                received.append(parse_qs(urlsplit(self.path).query))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.handler = Handler

    @property
    def uri(self) -> str:
        return f"http://{LOCALHOST}:{self.port}/callback"


@pytest.fixture
def callback() -> Iterator[Callback]:
    server = Callback()
    with serving(server.handler, server.port):
        yield server


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Attempt:
    """One sign-in through the browser flow: what the login form's POST answered."""

    answer: httpx.Response
    state: str
    verifier: str


def submit_login(keycloak: Keycloak, callback: Callback, username: str, password: str) -> Attempt:
    """Opens the authorization endpoint with a PKCE challenge and submits the login form."""
    verifier, challenge = _pkce_pair()
    state = secrets.token_urlsafe(16)
    with browser_client() as browser:
        discovery = browser.get(keycloak.discovery_url).json()
        login_page = browser.get(
            discovery["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": callback.uri,
                "scope": "openid",
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        assert login_page.status_code == 200, login_page.text[:500]
        form = LoginForm()
        form.feed(login_page.text)
        assert form.action is not None, "no login form on the sign-in page"
        answer = browser.post(
            form.action, data={**form.fields, "username": username, "password": password}
        )
        if answer.status_code == 302:
            # The browser follows the redirect to the local redirect_uri.
            location = answer.headers["location"]
            assert location.startswith(callback.uri + "?")
            assert browser.get(location).status_code == 200
    return Attempt(answer, state, verifier)


def sign_in_like_a_browser(
    keycloak: Keycloak, callback: Callback, username: str, password: str
) -> tuple[str, str]:
    """Runs the authorization code flow with PKCE; returns the code and the PKCE verifier."""
    attempt = submit_login(keycloak, callback, username, password)
    assert attempt.answer.status_code == 302, attempt.answer.text[:500]
    (query,) = callback.queries
    assert query["state"] == [attempt.state]
    return query["code"][0], attempt.verifier


async def exchange(
    keycloak: Keycloak, callback: Callback, code: str, verifier: str | None
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": CLIENT_ID,
        "code": code,
        "redirect_uri": callback.uri,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(keycloak.token_url, data=form)


async def verify(keycloak: Keycloak, access_token: str) -> Principal:
    async with httpx.AsyncClient(timeout=10) as client:
        authenticator = OidcAuthenticator(
            [
                TenantIssuer(
                    tenant_id=DEMO_TENANT,
                    issuer=keycloak.issuer,
                    audience=CLIENT_ID,
                    tenant_claim="tenant_id",
                )
            ],
            JwksKeys(client),
        )
        return await authenticator.authenticate(access_token)


async def test_a_recruiter_signs_in_with_pkce_and_the_gateway_accepts_the_token(
    keycloak: Keycloak, callback: Callback
) -> None:
    password, _ = DEMO_USERS["rita.recruiter"]
    code, verifier = sign_in_like_a_browser(keycloak, callback, "rita.recruiter", password)
    tokens = await exchange(keycloak, callback, code, verifier)
    assert tokens.status_code == 200, tokens.text
    principal = await verify(keycloak, tokens.json()["access_token"])
    assert principal.tenant_id == DEMO_TENANT
    assert principal.roles == frozenset({"recruiter"})
    assert principal.user_id  # Keycloak's subject id of the user


async def test_a_code_without_its_pkce_verifier_is_refused(
    keycloak: Keycloak, callback: Callback
) -> None:
    password, _ = DEMO_USERS["vic.viewer"]
    code, _ = sign_in_like_a_browser(keycloak, callback, "vic.viewer", password)
    refused = await exchange(keycloak, callback, code, None)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


def test_a_wrong_password_gets_the_form_again_and_no_code(
    keycloak: Keycloak, callback: Callback
) -> None:
    attempt = submit_login(keycloak, callback, "rita.recruiter", "not-her-password")
    assert attempt.answer.status_code == 200
    assert "Invalid username or password" in attempt.answer.text
    assert callback.queries == []


@pytest.mark.parametrize(
    ("username", "roles"),
    [
        ("alice.admin", {"admin"}),
        ("rita.recruiter", {"recruiter"}),
        ("vic.viewer", {"viewer"}),
        ("mark.marketer", {"marketer"}),
    ],
)
async def test_the_documented_non_interactive_token_carries_each_demo_users_roles(
    keycloak: Keycloak, username: str, roles: set[str]
) -> None:
    password, _ = DEMO_USERS[username]
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            keycloak.token_url,
            data={
                "grant_type": "password",
                "client_id": CLIENT_ID,
                "username": username,
                "password": password,
            },
        )
    assert response.status_code == 200, response.text
    principal = await verify(keycloak, response.json()["access_token"])
    assert principal.tenant_id == DEMO_TENANT
    assert principal.roles == roles
    # The realm file's fixed id: the same subject after every restart of Keycloak.
    assert principal.user_id == demo_user_ids()[username]


def test_a_browser_signs_in_through_the_gateway_and_calls_the_api_with_its_cookie(
    keycloak: Keycloak, mongodb_uri: str
) -> None:
    """The console's flow: the gateway's /auth/login sends the browser to Keycloak, the login
    form is submitted, Keycloak sends the browser to the gateway's callback, and the session
    cookie then authenticates API calls (roles from Keycloak's access token)."""
    (port,) = free_ports(1)
    site = f"http://{LOCALHOST}:{port}"
    provider = OidcSettings(
        tenants=[
            OidcTenantSettings(
                tenant_id=DEMO_TENANT,
                issuer=keycloak.issuer,
                audience=CLIENT_ID,
                tenant_claim="tenant_id",
            )
        ]
    )
    password, _ = DEMO_USERS["rita.recruiter"]
    with running_gateway(mongodb_uri, oidc=provider) as gateway, browser_client() as browser:
        gateway.client.base_url = httpx.URL(site)
        start = gateway.client.get(
            "/auth/login", params={"tenant": DEMO_TENANT}, follow_redirects=False
        )
        assert start.status_code == 302, start.text
        login_page = browser.get(start.headers["location"])
        assert login_page.status_code == 200, login_page.text[:500]
        form = LoginForm()
        form.feed(login_page.text)
        assert form.action is not None
        answer = browser.post(
            form.action, data={**form.fields, "username": "rita.recruiter", "password": password}
        )
        assert answer.status_code == 302, answer.text[:500]
        back = answer.headers["location"]
        assert back.startswith(f"{site}/auth/callback?")

        signed_in = gateway.client.get(back, follow_redirects=False)

        assert signed_in.status_code == 302, signed_in.text
        session = gateway.client.get("/auth/session").json()
        assert (session["tenant_id"], session["roles"]) == (DEMO_TENANT, ["recruiter"])
        assert gateway.client.get("/api/v1/candidates").status_code == 200
        assert gateway.forwarded_principal().roles == frozenset({"recruiter"})

        signed_out = gateway.client.post(
            "/auth/logout", headers={"X-CSRF-Token": session["csrf_token"]}
        )
        assert signed_out.status_code == 200, signed_out.text
        end_session = signed_out.json()["end_session_url"]
        assert end_session.startswith(keycloak.issuer + "/protocol/openid-connect/logout?")
        # Keycloak accepts the RP-initiated logout (its confirmation or the redirect back).
        assert browser.get(end_session).status_code in (200, 302)
        assert gateway.client.get("/api/v1/candidates").status_code == 401


def _password_grant(keycloak: Keycloak, username: str) -> str:
    password, _ = DEMO_USERS[username]
    response = httpx.post(
        keycloak.token_url,
        data={
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "username": username,
            "password": password,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_the_local_stacks_gateway_signs_alice_admin_in_through_keycloak(
    keycloak: Keycloak, mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The gateway configured exactly as `crm-stack up` configures it (its TENANTS, OIDC and
    DEV_TOKENS), against this Keycloak: alice.admin signs in with a browser at the URL `make
    run` prints, becomes an admin member of acme, and administers it; her password-grant
    token (the scripted way) is the same member."""
    config = StackConfig(run_dir=tmp_path_factory.mktemp("stack"), keycloak_port=keycloak.port)
    [process] = [p for p in service_processes(config) if p.name == "gateway"]
    stack_settings = {
        "tenants": json.loads(process.env["TENANTS"]),
        "oidc": json.loads(process.env["OIDC"]),
        "dev_tokens": json.loads(process.env["DEV_TOKENS"]),
    }
    (port,) = free_ports(1)
    site = f"http://{LOCALHOST}:{port}"
    password, _ = DEMO_USERS["alice.admin"]
    with running_gateway(mongodb_uri, **stack_settings) as gateway, browser_client() as browser:
        gateway.client.base_url = httpx.URL(site)
        start = gateway.client.get(
            "/auth/login",
            params={"tenant": DEMO_TENANT, "return_to": "/docs"},
            follow_redirects=False,
        )
        assert start.status_code == 302, start.text
        assert start.headers["location"].startswith(keycloak.issuer + "/")
        login_page = browser.get(start.headers["location"])
        form = LoginForm()
        form.feed(login_page.text)
        assert form.action is not None, login_page.text[:500]
        answer = browser.post(
            form.action, data={**form.fields, "username": "alice.admin", "password": password}
        )
        assert answer.status_code == 302, answer.text[:500]
        signed_in = gateway.client.get(answer.headers["location"], follow_redirects=False)
        assert signed_in.status_code == 302, signed_in.text
        assert signed_in.headers["location"] == "/docs"

        session = gateway.client.get("/auth/session").json()
        assert (session["tenant_id"], session["roles"]) == (DEMO_TENANT, ["admin"])
        members = gateway.client.get("/api/v1/users")
        assert members.status_code == 200, members.text
        [alice] = members.json()["items"]
        assert alice["email"] == "alice.admin@acme.example"
        assert alice["status"] == "active"

        # The scripted way in: her Keycloak token as a bearer token, the same member.
        gateway.client.cookies.clear()
        bearer = {"Authorization": f"Bearer {_password_grant(keycloak, 'alice.admin')}"}
        again = gateway.client.get("/api/v1/users", headers=bearer)
        assert again.status_code == 200, again.text
        assert [member["user_id"] for member in again.json()["items"]] == [alice["user_id"]]
        # A viewer of the realm signs in as a viewer: no administration.
        viewer = {"Authorization": f"Bearer {_password_grant(keycloak, 'vic.viewer')}"}
        assert gateway.client.get("/api/v1/users", headers=viewer).status_code == 403
        assert gateway.client.get("/api/v1/candidates", headers=viewer).status_code == 200


class PublishedPort(httpx.BaseTransport):
    """Docker's port publishing, for the test's browser: requests to `origin` reach `target`,
    addressed (Host header) as before."""

    def __init__(self, origin: str, target: str) -> None:
        self._origin = httpx.URL(origin)
        self._target = httpx.URL(target)
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (url.scheme, url.host, url.port) == (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        ):
            url = url.copy_with(host=self._target.host, port=self._target.port)
        return self._inner.handle_request(
            httpx.Request(
                request.method,
                url,
                headers=request.headers,
                stream=request.stream,
                extensions=request.extensions,
            )
        )


def test_the_browser_and_the_gateway_reach_keycloak_at_different_addresses_as_compose_does(
    keycloak: Keycloak, mongodb_uri: str
) -> None:
    """Compose's arrangement: the browser knows Keycloak by an origin nothing on the gateway's
    side listens on (there, the host's published port), the gateway reaches the server at
    another address through its `backchannel_urls`; the issuer is the browser's for both, and
    a recruiter signs in. (Keycloak here derives its URLs from the Host header, which both
    routes keep; compose fixes them with KC_HOSTNAME instead.)"""
    (unused,) = free_ports(1)
    browser_origin = f"http://localhost:{unused}"
    issuer = f"{browser_origin}/realms/recruitcrm"
    oidc = {
        "tenants": [
            {
                "tenant_id": DEMO_TENANT,
                "issuer": issuer,
                "audience": CLIENT_ID,
                "tenant_claim": "tenant_id",
            }
        ],
        "backchannel_urls": {browser_origin: keycloak.url},
    }
    (port,) = free_ports(1)
    site = f"http://{LOCALHOST}:{port}"
    password, _ = DEMO_USERS["rita.recruiter"]
    with (
        running_gateway(mongodb_uri, oidc=oidc) as gateway,
        browser_client(PublishedPort(browser_origin, keycloak.url)) as browser,
    ):
        gateway.client.base_url = httpx.URL(site)
        start = gateway.client.get(
            "/auth/login", params={"tenant": DEMO_TENANT}, follow_redirects=False
        )
        assert start.status_code == 302, start.text
        assert start.headers["location"].startswith(issuer + "/protocol/openid-connect/auth?")
        login_page = browser.get(start.headers["location"])
        form = LoginForm()
        form.feed(login_page.text)
        assert form.action is not None, login_page.text[:500]
        assert form.action.startswith(issuer + "/")
        answer = browser.post(
            form.action, data={**form.fields, "username": "rita.recruiter", "password": password}
        )
        assert answer.status_code == 302, answer.text[:500]
        # The code is exchanged, and the ID token's keys fetched, through the back-channel.
        signed_in = gateway.client.get(answer.headers["location"], follow_redirects=False)
        assert signed_in.status_code == 302, signed_in.text
        session = gateway.client.get("/auth/session").json()
        assert (session["tenant_id"], session["roles"]) == (DEMO_TENANT, ["recruiter"])
        assert gateway.client.get("/api/v1/candidates").status_code == 200

"""The console signs in through the gateway: the authorization code flow with PKCE against a
provider over real HTTP, a session in the gateway's database held as an HttpOnly cookie, CSRF
protection of cookie writes, idle expiry, token refresh, sign-out (and the cookie refused after
it), and each sign-in and sign-out in the audit log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pymongo
import pytest

from crm_gateway.application.browser_sessions import BrowserSignIn
from crm_gateway.repositories.audit import AUDIT_LOG
from integration.gateway.authorization_server import AuthorizationServer
from integration.gateway.tenancy_support import ADMIN, Gateway, gateway_trusting
from unit.gateway.oidc_issuer import AUDIENCE, serving

pytestmark = pytest.mark.integration

SITE = "https://testserver"
RITA = {
    "sub": "kc-rita",
    "email": "rita@acme.example",
    "email_verified": True,
    "name": "Rita",
    "realm_access": {"roles": ["recruiter"]},
}


@pytest.fixture
def provider() -> Iterator[AuthorizationServer]:
    server = AuthorizationServer(person=dict(RITA))
    with serving(server.handler, server.port):
        yield server


def gateway_for(mongodb_uri: str, provider: AuthorizationServer, **overrides: Any) -> Any:
    return gateway_trusting(
        mongodb_uri, provider.issuer.issuer, audit_flush_interval_seconds=0.05, **overrides
    )


@pytest.fixture
def gateway(mongodb_uri: str, provider: AuthorizationServer) -> Iterator[Gateway]:
    with gateway_for(mongodb_uri, provider) as running:
        running.client.base_url = httpx.URL(SITE)
        yield running


# What Chromium sends for a page it navigates to.
BROWSER = {
    "accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
}


def sign_in(
    gateway: Gateway, return_to: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    """A browser's round trip: the gateway, the provider, back to the gateway's callback."""
    params = {"tenant": "acme"} | ({"return_to": return_to} if return_to else {})
    start = gateway.client.get("/auth/login", params=params, follow_redirects=False)
    assert start.status_code == 302, start.text
    at_provider = httpx.get(start.headers["location"], follow_redirects=False)
    assert at_provider.status_code == 302
    back: httpx.Response = gateway.client.get(
        at_provider.headers["location"], headers=headers, follow_redirects=False
    )
    return back


def audit_entries(gateway: Gateway, action: str, count: int) -> list[dict[str, Any]]:
    """The tenant's audit entries of an action, once `count` of them were written."""
    deadline = time.monotonic() + 5
    while True:
        found: list[dict[str, Any]] = gateway.client.get(
            "/api/v1/audit", headers=ADMIN, params={"action": action}
        ).json()["items"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def stored_entry(mongodb_uri: str, gateway: Gateway, response: httpx.Response) -> dict[str, Any]:
    """The audit entry of one response, read from the database (a refused caller's entry may
    name no tenant, so the tenant's own search would not show it)."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(mongodb_uri, tz_aware=True)
    try:
        collection = client[gateway.database][AUDIT_LOG]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = collection.find_one({"request_id": response.headers["X-Request-Id"]})
            if found is not None:
                return found
            time.sleep(0.05)
    finally:
        client.close()
    raise AssertionError(f"no audit entry for {response.request.url}")


def test_a_browser_signs_in_and_calls_the_api_with_its_cookie(
    gateway: Gateway, provider: AuthorizationServer
) -> None:
    start = gateway.client.get("/auth/login", params={"tenant": "acme"}, follow_redirects=False)
    sent = parse_qs(urlsplit(start.headers["location"]).query)
    assert sent["code_challenge_method"] == ["S256"]
    assert sent["client_id"] == [AUDIENCE]
    assert sent["redirect_uri"] == [f"{SITE}/auth/callback"]

    back = sign_in(gateway, return_to="/candidates?view=mine")

    assert back.status_code == 302, back.text
    assert back.headers["location"] == "/candidates?view=mine"
    cookie = back.headers["set-cookie"].lower()
    for attribute in ("httponly", "secure", "samesite=lax", "path=/"):
        assert attribute in cookie
    # The code was exchanged with the PKCE verifier (the provider checked it).
    assert provider.token_requests[-1]["grant_type"] == "authorization_code"
    session = gateway.client.get("/auth/session")
    assert session.status_code == 200, session.text
    body = session.json()
    assert (body["tenant_id"], body["roles"], body["name"]) == ("acme", ["recruiter"], "Rita")
    assert "candidates:write" in body["permissions"]
    assert body["user_id"].startswith("usr_")

    listed = gateway.client.get("/api/v1/candidates")

    assert listed.status_code == 200, listed.text
    principal = gateway.forwarded_principal()
    assert (principal.user_id, principal.roles) == (body["user_id"], frozenset({"recruiter"}))
    signed_in = audit_entries(gateway, "GET /auth/callback", 1)
    assert [(e["actor_id"], e["outcome"]) for e in signed_in] == [(body["user_id"], "succeeded")]


def test_an_unsafe_return_path_is_replaced_by_the_root(gateway: Gateway) -> None:
    assert sign_in(gateway, return_to="//evil.example/x").headers["location"] == "/"


def test_a_forged_or_replayed_state_is_a_clear_problem(
    gateway: Gateway, provider: AuthorizationServer
) -> None:
    forged = gateway.client.get(
        "/auth/callback", params={"state": "made-up", "code": "x"}, follow_redirects=False
    )
    assert forged.status_code == 400
    assert forged.headers["content-type"] == "application/problem+json"
    assert forged.json()["reason"] == "invalid_state"

    start = gateway.client.get("/auth/login", params={"tenant": "acme"}, follow_redirects=False)
    back = httpx.get(start.headers["location"], follow_redirects=False).headers["location"]
    assert gateway.client.get(back, follow_redirects=False).status_code == 302
    replayed = gateway.client.get(back, follow_redirects=False)
    assert replayed.status_code == 400
    assert replayed.json()["reason"] == "invalid_state"


def test_a_provider_refusal_is_a_401_problem_and_audited(
    gateway: Gateway, provider: AuthorizationServer
) -> None:
    provider.refuse_with = "access_denied"

    back = sign_in(gateway)

    assert back.status_code == 401
    assert back.headers["content-type"] == "application/problem+json"
    assert back.json()["reason"] == "access_denied"
    assert "set-cookie" not in back.headers
    refused = audit_entries(gateway, "GET /auth/callback", 1)
    assert [(e["outcome"], e["reason"]) for e in refused] == [("refused", "access_denied")]


def test_a_refused_browser_sign_in_is_a_page_and_an_api_client_keeps_the_problem(
    mongodb_uri: str, provider: AuthorizationServer
) -> None:
    provider.person = RITA | {"sub": "kc-eve", "email": "eve@evil.example"}
    with gateway_for(mongodb_uri, provider, console_url="http://console.internal") as gateway:
        gateway.client.base_url = httpx.URL(SITE)
        admission = gateway.client.put(
            "/api/v1/sign-in-settings/admission",
            headers=ADMIN,
            json={
                "email_domains": ["acme.example"],
                "jit_provisioning": True,
                "default_role": "viewer",
                "roles_from_token": False,
            },
        )
        assert admission.status_code == 200, admission.text

        page = sign_in(gateway, headers=BROWSER)

        assert page.status_code == 403
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "same-origin"
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert "set-cookie" not in page.headers
        assert "<h1>Sign-in refused: Forbidden</h1>" in page.text
        assert "eve@evil.example is not in an e-mail domain this tenant admits" in page.text
        assert '<a href="/console/sign-in?tenant=acme">' in page.text
        assert "{" not in page.text

        api_client = sign_in(gateway, headers={"accept": "application/json"})

        assert api_client.status_code == 403
        assert api_client.headers["content-type"] == "application/problem+json"
        assert api_client.json()["reason"] == "email-domain-not-allowed"
        refused = audit_entries(gateway, "GET /auth/callback", 2)
        assert [e["reason"] for e in refused] == ["email-domain-not-allowed"] * 2


def test_a_refusal_page_escapes_what_the_provider_sent(
    gateway: Gateway, provider: AuthorizationServer
) -> None:
    provider.refuse_with = "<script>x</script>"

    page = sign_in(gateway, headers=BROWSER)

    assert page.status_code == 401
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text
    assert "&lt;script&gt;x&lt;/script&gt;" in page.text
    # This gateway serves no console: no link to a page it does not have.
    assert "<a " not in page.text


def test_a_cookie_write_needs_the_csrf_token_and_its_own_origin(gateway: Gateway) -> None:
    sign_in(gateway)
    csrf = gateway.client.get("/auth/session").json()["csrf_token"]

    without = gateway.client.post("/api/v1/candidates", json={})
    cross_site = gateway.client.post(
        "/api/v1/candidates",
        json={},
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    )
    wrong = gateway.client.post("/api/v1/candidates", json={}, headers={"X-CSRF-Token": "x"})
    assert [r.status_code for r in (without, cross_site, wrong)] == [403, 403, 403]
    assert without.json()["type"].endswith("csrf")
    assert gateway.forwarded == []

    allowed = gateway.client.post(
        "/api/v1/candidates", json={}, headers={"X-CSRF-Token": csrf, "Origin": SITE}
    )
    assert allowed.status_code == 200, allowed.text
    assert len(gateway.forwarded) == 1


def test_a_console_form_from_its_own_origin_needs_no_token(
    mongodb_uri: str, provider: AuthorizationServer
) -> None:
    """A form posted without script sends no header: its own origin is what shows it is the
    console's own page. The API's cookie writes still need the token."""
    with gateway_for(mongodb_uri, provider, console_url="http://console.internal") as gateway:
        gateway.client.base_url = httpx.URL(SITE)
        sign_in(gateway)
        note = {"body": "Zoë called back 📞"}
        own = gateway.client.post(
            "/console/candidates/c1/notes", data=note, headers={"Origin": SITE}
        )
        assert own.status_code == 200, own.text
        assert gateway.forwarded[-1].url.path == "/console/candidates/c1/notes"
        forwarded = len(gateway.forwarded)
        refused = [
            gateway.client.post("/console/candidates/c1/notes", data=note, headers=headers)
            for headers in ({}, {"Origin": "https://evil.example"}, {"Origin": "null"})
        ]
        assert [r.status_code for r in refused] == [403, 403, 403]
        api = gateway.client.post("/api/v1/candidates", json={}, headers={"Origin": SITE})
        assert api.status_code == 403
        assert len(gateway.forwarded) == forwarded


def test_sign_out_ends_the_session_and_a_replayed_cookie_is_a_401(
    gateway: Gateway, provider: AuthorizationServer, mongodb_uri: str
) -> None:
    sign_in(gateway)
    csrf = gateway.client.get("/auth/session").json()["csrf_token"]
    cookie = gateway.client.cookies.get("crm_session")
    assert cookie

    refused = gateway.client.post("/auth/logout")
    assert refused.status_code == 403
    signed_out = gateway.client.post("/auth/logout", headers={"X-CSRF-Token": csrf})

    assert signed_out.status_code == 200, signed_out.text
    end_session = urlsplit(signed_out.json()["end_session_url"])
    assert end_session.path.endswith("/logout")
    query = parse_qs(end_session.query)
    assert query["post_logout_redirect_uri"] == [f"{SITE}/"]
    assert query["id_token_hint"][0].count(".") == 2
    assert "crm_session" not in gateway.client.cookies
    replayed = gateway.client.get("/api/v1/candidates", headers={"Cookie": f"crm_session={cookie}"})
    assert replayed.status_code == 401
    assert replayed.headers["content-type"] == "application/problem+json"
    assert replayed.json()["reason"] == "unknown_session"
    entry = stored_entry(mongodb_uri, gateway, replayed)
    assert (entry["outcome"], entry["reason"]) == ("refused", "unknown_session")
    assert cookie not in json.dumps(entry, default=str)
    assert (
        gateway.client.get("/auth/session", headers={"Cookie": f"crm_session={cookie}"}).status_code
        == 401
    )
    assert len(audit_entries(gateway, "POST /auth/logout", 1)) == 1


def test_a_removed_members_session_is_refused(gateway: Gateway, mongodb_uri: str) -> None:
    sign_in(gateway)
    user_id = gateway.client.get("/auth/session").json()["user_id"]

    removed = gateway.client.delete(f"/api/v1/users/{user_id}", headers=ADMIN)
    assert removed.status_code == 204, removed.text

    refused = gateway.client.get("/api/v1/candidates")
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("membership-removed")
    entry = stored_entry(mongodb_uri, gateway, refused)
    assert (entry["outcome"], entry["reason"], entry["tenant_id"]) == (
        "refused",
        "membership-removed",
        "acme",
    )


def test_an_idle_session_expires(mongodb_uri: str, provider: AuthorizationServer) -> None:
    with gateway_for(mongodb_uri, provider, session_idle_minutes=1 / 60) as gateway:
        gateway.client.base_url = httpx.URL(SITE)
        sign_in(gateway)
        assert gateway.client.get("/auth/session").status_code == 200

        time.sleep(1.2)  # past the one-second idle time

        expired = gateway.client.get("/auth/session")
    assert expired.status_code == 401
    assert expired.json()["reason"] == "session_idle_expired"


def test_expired_provider_tokens_are_refreshed_and_a_refused_refresh_ends_the_session(
    mongodb_uri: str, provider: AuthorizationServer
) -> None:
    provider.expires_in = 1
    with gateway_for(mongodb_uri, provider) as gateway:
        gateway.client.base_url = httpx.URL(SITE)
        sign_in(gateway)
        mongo: pymongo.MongoClient[dict[str, Any]]
        with pymongo.MongoClient(mongodb_uri) as mongo:
            stored = mongo[gateway.database]["browser_sessions"].find_one()
        assert stored is not None
        # Only the session id's digest and a sealed refresh token are stored.
        assert stored["_id"] != gateway.client.cookies.get("crm_session")
        assert stored["refresh_token"] not in provider.refresh_tokens
        assert stored["id_token"].count(".") != 2
        time.sleep(1.1)  # the provider's tokens expired

        renewed = gateway.client.get("/api/v1/candidates")
        assert renewed.status_code == 200, renewed.text
        assert provider.token_requests[-1]["grant_type"] == "refresh_token"

        time.sleep(1.1)
        provider.revoke_refresh_tokens()
        ended = gateway.client.get("/api/v1/candidates")
        assert ended.status_code == 401
        assert ended.json()["reason"] == "refresh_failed"
        # Ended for good: a later call does not try the provider again.
        calls = len(provider.token_requests)
        assert gateway.client.get("/auth/session").status_code == 401
        assert len(provider.token_requests) == calls


def test_a_provider_that_cannot_refresh_now_is_a_503_and_the_session_is_kept(
    mongodb_uri: str, provider: AuthorizationServer
) -> None:
    provider.expires_in = 1
    with gateway_for(mongodb_uri, provider) as gateway:
        gateway.client.base_url = httpx.URL(SITE)
        sign_in(gateway)
        time.sleep(1.1)  # the provider's tokens expired
        provider.token_endpoint_down = True

        down = gateway.client.get("/api/v1/candidates")

        assert down.status_code == 503, down.text
        assert down.json()["type"].endswith("identity-provider-unavailable")
        provider.token_endpoint_down = False
        assert gateway.client.get("/api/v1/candidates").status_code == 200


def test_loopback_http_gets_a_cookie_without_secure(
    mongodb_uri: str, provider: AuthorizationServer
) -> None:
    with gateway_for(mongodb_uri, provider) as gateway:
        gateway.client.base_url = httpx.URL("http://127.0.0.1:8000")
        back = sign_in(gateway)
        assert back.status_code == 302, back.text
        assert "secure" not in back.headers["set-cookie"].lower()
        assert gateway.client.get("/auth/session").status_code == 200


def test_an_unknown_tenant_is_a_404_problem(gateway: Gateway) -> None:
    missing = gateway.client.get("/auth/login", params={"tenant": "nope"}, follow_redirects=False)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def assert_sign_in_page(page: httpx.Response, status: int, heading: str, link: str) -> None:
    """A page for a person (not the problem's JSON), with the reason and the way back."""
    assert page.status_code == status, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert f"<h1>{heading}</h1>" in page.text
    assert f'<a href="{link}">Back to sign-in</a>' in page.text
    assert "{" not in page.text


def test_a_browser_is_answered_a_page_by_login_and_callback_whatever_goes_wrong(
    mongodb_uri: str, provider: AuthorizationServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with gateway_for(mongodb_uri, provider, console_url="http://console.internal") as gateway:
        gateway.client.base_url = httpx.URL(SITE)
        api = {"accept": "application/json"}

        # An unknown tenant: the link back does not carry the tenant that is none.
        unknown = gateway.client.get(
            "/auth/login", params={"tenant": "nope"}, headers=BROWSER, follow_redirects=False
        )
        assert_sign_in_page(unknown, 404, "Sign-in refused: Not Found", "/console/sign-in")
        assert "tenant &#x27;nope&#x27; is unknown or not active" in unknown.text
        as_api = gateway.client.get("/auth/login", params={"tenant": "nope"}, headers=api)
        assert as_api.status_code == 404
        assert as_api.headers["content-type"] == "application/problem+json"

        # A malformed address (no tenant; a state longer than any the gateway issues): 422.
        for path, params in (
            ("/auth/login", {}),
            ("/auth/callback", {"state": "s" * 300, "code": "x"}),
        ):
            malformed = gateway.client.get(
                path, params=params, headers=BROWSER, follow_redirects=False
            )
            assert_sign_in_page(
                malformed, 422, "Sign-in refused: Request validation failed", "/console/sign-in"
            )
            assert "this sign-in address is missing a part or has one that is not valid" in (
                malformed.text
            )
            as_api = gateway.client.get(path, params=params, headers=api)
            assert as_api.status_code == 422
            assert as_api.headers["content-type"] == "application/problem+json"
            assert as_api.json()["type"].endswith("validation-error")

        # An error nobody expected at the callback: said (and logged), not a stack of JSON.
        async def broken(*_: Any, **__: Any) -> Any:
            raise RuntimeError("a bug")

        monkeypatch.setattr(BrowserSignIn, "complete", broken)
        failed = gateway.client.get(
            "/auth/callback", params={"state": "s", "code": "x"}, headers=BROWSER
        )
        assert_sign_in_page(
            failed, 500, "Sign-in failed: Internal Server Error", "/console/sign-in"
        )
        assert "an unexpected error occurred" in failed.text
        assert "a bug" not in failed.text
        # An API client still gets the problem document (the test client re-raises the error
        # the app's handler answered).
        with pytest.raises(RuntimeError):
            gateway.client.get("/auth/callback", params={"state": "s", "code": "x"}, headers=api)

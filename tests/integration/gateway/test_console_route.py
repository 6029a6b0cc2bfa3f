"""The gateway serves the console at /console/ to signed-in browsers: a browser without a
session is sent to the sign-in page, a signed-in one reaches the console with an internal
token for it and the session's own credentials, a write needs the CSRF token, and nothing a
browser sends can pose as what the gateway adds."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from integration.gateway.authorization_server import AuthorizationServer
from integration.gateway.tenancy_support import Gateway
from integration.gateway.test_browser_sign_in import SITE, gateway_for, provider, sign_in
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.integration
__all__ = ["provider"]

CONSOLE = "http://console.internal"


@pytest.fixture
def gateway(mongodb_uri: str, provider: AuthorizationServer) -> Iterator[Gateway]:
    with gateway_for(mongodb_uri, provider, console_url=CONSOLE) as running:
        running.client.base_url = httpx.URL(SITE)
        yield running


def console_calls(gateway: Gateway) -> list[httpx.Request]:
    return [call for call in gateway.forwarded if str(call.url).startswith(CONSOLE)]


def test_a_browser_without_a_session_is_sent_to_sign_in_and_back(gateway: Gateway) -> None:
    page = gateway.client.get("/console/candidates?q=Zo%C3%AB", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == (
        "/console/sign-in?return_to=%2Fconsole%2Fcandidates%3Fq%3DZo%25C3%25AB"
    )
    fragment = gateway.client.get(
        "/console/candidates", headers={"HX-Request": "true"}, follow_redirects=False
    )
    assert fragment.status_code == 204
    assert fragment.headers["hx-redirect"].startswith("/console/sign-in?")
    assert console_calls(gateway) == []


def test_the_sign_in_page_files_and_public_pages_are_served_to_anyone_without_credentials(
    gateway: Gateway,
) -> None:
    for path in ("/console/sign-in", "/console/static/console.css", "/console/public/events/e1"):
        answer = gateway.client.get(
            path,
            headers={"x-console-session": "forged", "x-csrf-token": "forged"},
            follow_redirects=False,
        )
        assert answer.status_code == 200, path
    for call in console_calls(gateway):
        assert "authorization" not in call.headers
        assert "x-console-session" not in call.headers
        assert "x-csrf-token" not in call.headers


def test_a_signed_in_browser_reaches_the_console_as_itself(gateway: Gateway) -> None:
    assert sign_in(gateway).status_code == 302
    session = gateway.client.get("/auth/session").json()

    page = gateway.client.get(
        "/console/candidates", headers={"x-console-session": "forged"}, follow_redirects=False
    )

    assert page.status_code == 200
    [call] = console_calls(gateway)
    assert call.url.path == "/console/candidates"
    assert call.headers["x-console-session"] == gateway.client.cookies["crm_session"]
    assert call.headers["x-csrf-token"] == session["csrf_token"]
    assert call.headers["x-console-user-name"] == "Rita"
    assert "cookie" not in call.headers
    token = call.headers["authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, INTERNAL_TOKEN_PUBLIC_KEY, algorithms=["EdDSA"], audience="console")
    assert (claims["tenant_id"], claims["roles"]) == ("acme", ["recruiter"])


def test_a_console_write_needs_the_sessions_csrf_token(gateway: Gateway) -> None:
    assert sign_in(gateway).status_code == 302
    csrf = gateway.client.get("/auth/session").json()["csrf_token"]

    refused = gateway.client.post("/console/sign-out")
    foreign = gateway.client.post(
        "/console/sign-out", headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    )
    accepted = gateway.client.post("/console/sign-out", headers={"X-CSRF-Token": csrf})

    assert (refused.status_code, refused.json()["type"]) == (403, "urn:recruitcrm:problem:csrf")
    assert foreign.status_code == 403
    assert accepted.status_code == 200
    assert len(console_calls(gateway)) == 1


def test_a_gateway_without_a_console_says_so(
    mongodb_uri: str, provider: AuthorizationServer
) -> None:
    with gateway_for(mongodb_uri, provider) as running:
        answer = running.client.get("/console/sign-in")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_console_that_does_not_answer_is_said_so_in_html_not_json(gateway: Gateway) -> None:
    assert sign_in(gateway).status_code == 302
    csrf = gateway.client.get("/auth/session").json()["csrf_token"]

    page = gateway.client.get("/console/candidates/answers-late?q=Zo%C3%AB")
    fragment = gateway.client.get("/console/answers-late", headers={"HX-Request": "true"})
    write = gateway.client.post(
        "/console/answers-late", headers={"X-CSRF-Token": csrf, "HX-Request": "true"}
    )
    down = gateway.client.get("/console/is-down")

    assert page.status_code == 504
    assert page.headers["content-type"].startswith("text/html")
    assert "style-src 'self'" in page.headers["content-security-policy"]
    assert "may have taken effect" not in page.text  # a read changed nothing
    assert "<h1>The console did not answer in time</h1>" in page.text
    assert '<a href="/console/candidates/answers-late?q=Zo%C3%AB">Try again</a>' in page.text
    assert (fragment.status_code, fragment.headers["content-type"][:9]) == (504, "text/html")
    assert fragment.text.startswith('<div class="problem" role="alert">')
    assert "<html" not in fragment.text
    assert "Look at the page again before you repeat what you did" in write.text
    assert "may have taken effect" in write.text
    assert "Look at the page again" not in fragment.text
    assert down.status_code == 502
    assert "<h1>The console is not available</h1>" in down.text
    # The API's own failures stay problem documents.
    api = gateway.client.get("/api/v1/candidates/answers-late")
    assert api.status_code == 504
    assert api.headers["content-type"].startswith("application/problem+json")

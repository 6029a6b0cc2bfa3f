"""Signing out: the browser lands on the console's signed-out page (also through the identity
provider's end-session page), whose "Sign in again" returns to the page left and to nowhere
outside the console."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from crm_console.domain.signing_out import after_sign_out, page_left, signed_out_page
from unit.console.test_pages import Api, console, gateway_headers, htmx_headers

pytestmark = pytest.mark.unit

__all__ = ["console"]

Console = tuple[httpx.AsyncClient, Api]
EVIL = ["//evil.example", "https://evil.example", "https://evil.example/console/x", "/api/v1/x"]


def test_the_provider_returns_to_the_signed_out_page_on_the_origin_it_named() -> None:
    url = after_sign_out(
        "http://127.0.0.1:8081/realms/acme/protocol/openid-connect/logout?id_token_hint=t"
        "&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A8000%2F&client_id=crm",
        "/console/pools/p1?stage=New",
        "acme",
    )
    parts = urlsplit(url)
    assert parts.netloc == "127.0.0.1:8081"
    query = parse_qs(parts.query)
    [back] = query["post_logout_redirect_uri"]
    assert back.startswith("http://127.0.0.1:8000/console/sign-in?")
    assert parse_qs(urlsplit(back).query) == {
        "reason": ["signed_out"],
        "return_to": ["/console/pools/p1?stage=New"],
        "tenant": ["acme"],
    }
    assert query["id_token_hint"] == ["t"]
    assert query["client_id"] == ["crm"]
    no_provider = after_sign_out(None, "/console/pools", "acme")
    assert no_provider == signed_out_page("/console/pools", "acme")


@pytest.mark.parametrize(
    ("address", "left"),
    [
        ("http://127.0.0.1:8000/console/candidates?q=ada", "/console/candidates?q=ada"),
        ("https://evil.example/console/pools", "/console/pools"),
        ("https://evil.example", "/console/"),
        ("//evil.example", "/console/"),
        ("http://127.0.0.1:8000/api/v1/candidates", "/console/"),
        (None, "/console/"),
    ],
)
def test_the_page_left_is_a_console_path_only(address: str | None, left: str) -> None:
    assert page_left(address) == left


@pytest.mark.parametrize("evil", EVIL)
def test_a_signed_out_page_never_sends_the_browser_outside_the_console(evil: str) -> None:
    query = parse_qs(urlsplit(signed_out_page(evil, "acme")).query)
    assert query["return_to"] == ["/console/"]


async def test_sign_out_lands_on_the_signed_out_page_with_the_way_back(console: Console) -> None:
    client, api = console
    api.answer(
        "POST",
        "/auth/logout",
        body={
            "end_session_url": "https://idp.example/logout?post_logout_redirect_uri="
            "https%3A%2F%2Fcrm.example%2F"
        },
    )
    answer = await client.post(
        "/console/sign-out",
        headers={**htmx_headers(), "hx-current-url": "https://crm.example/console/segments/s1"},
    )
    assert answer.status_code == 204
    [back] = parse_qs(urlsplit(answer.headers["hx-redirect"]).query)["post_logout_redirect_uri"]
    assert back == (
        "https://crm.example/console/sign-in?reason=signed_out"
        "&return_to=%2Fconsole%2Fsegments%2Fs1&tenant=acme"
    )
    page = await client.get(back.removeprefix("https://crm.example"))
    assert page.status_code == 200
    assert 'data-testid="signed-out"' in page.text
    assert "<h1>Signed out</h1>" in page.text
    assert (
        'href="/auth/login?tenant=acme&amp;return_to=%2Fconsole%2Fsegments%2Fs1" '
        'data-testid="sign-in-again">Sign in again</a>'
    ) in page.text


async def test_a_sign_out_whose_session_had_ended_still_lands_on_the_signed_out_page(
    console: Console,
) -> None:
    client, api = console
    api.answer("POST", "/auth/logout", 401, {"title": "Unauthorized", "status": 401})
    answer = await client.post(
        "/console/sign-out", headers={**htmx_headers(), "referer": "http://crm/console/imports"}
    )
    assert answer.headers["hx-redirect"] == signed_out_page("/console/imports", "acme")


async def test_without_script_sign_out_moves_on_to_the_provider_by_a_page(
    console: Console,
) -> None:
    """A form post may not be redirected to another origin (`form-action 'self'`): without
    script the console answers a page that moves on to the provider by itself."""
    client, api = console
    logout = "https://idp.example/logout?post_logout_redirect_uri=https%3A%2F%2Fcrm.example%2F"
    api.answer("POST", "/auth/logout", body={"end_session_url": logout})
    answer = await client.post(
        "/console/sign-out",
        headers={**gateway_headers(), "referer": "https://crm.example/console/segments/s1"},
    )
    assert answer.status_code == 200
    [refresh] = re.findall(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', answer.text)
    [back] = parse_qs(urlsplit(html.unescape(refresh)).query)["post_logout_redirect_uri"]
    assert back.endswith(
        "/console/sign-in?reason=signed_out&return_to=%2Fconsole%2Fsegments%2Fs1&tenant=acme"
    )
    assert "Continue to sign out at your identity provider" in answer.text

    # Without a provider's end of session the signed-out page is on the console's origin.
    api.answer("POST", "/auth/logout", body={})
    plain = await client.post("/console/sign-out", headers=gateway_headers())
    assert plain.status_code == 303
    assert plain.headers["location"].startswith("/console/sign-in?reason=signed_out")


@pytest.mark.parametrize("evil", EVIL)
async def test_sign_in_again_refuses_a_way_back_outside_the_console(
    console: Console, evil: str
) -> None:
    client, _ = console
    page = await client.get(
        "/console/sign-in", params={"reason": "signed_out", "tenant": "acme", "return_to": evil}
    )
    [link] = [
        html.unescape(part.split('"')[1])
        for part in page.text.split("href=")
        if 'data-testid="sign-in-again"' in part
    ]
    assert link == "/auth/login?tenant=acme&return_to=%2Fconsole%2F"
    assert "evil" not in page.text

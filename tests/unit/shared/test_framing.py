"""The sites a tenant lets frame its forms: what counts as a site origin, and the headers an
embeddable page gets from them."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from crm_shared import (
    MAX_SITE_ORIGINS,
    ServiceSettings,
    build_platform,
    create_service_app,
    frame_ancestors,
    framed_by,
    site_origin,
    site_origins,
)
from crm_shared.framing import allows_framing
from crm_shared.pages import PAGE_CSP
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("written", "origin"),
    [
        ("https://careers.example.com", "https://careers.example.com"),
        ("  HTTPS://Careers.Example.com/ ", "https://careers.example.com"),
        ("https://careers.example.com:8443", "https://careers.example.com:8443"),
        ("https://*.example.com", "https://*.example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://127.0.0.1:5173/", "http://127.0.0.1:5173"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
    ],
)
def test_a_site_origin_is_kept_in_its_one_spelling(written: str, origin: str) -> None:
    assert site_origin(written) == origin


@pytest.mark.parametrize(
    ("written", "says"),
    [
        ("careers.example.com", "is not an origin"),
        ("ftp://careers.example.com", "must start with https://"),
        ("javascript://x", "must start with https://"),
        ("http://careers.example.com", "is not https"),
        ("https://careers.example.com/jobs", "has a path"),
        ("https://careers.example.com/?embed=1", "has a path"),
        ("https://careers.example.com#x", "has a path"),
        ("https://user@careers.example.com", "names a user"),
        ("https://careers.example.com:0", "no valid port"),
        ("https://careers.example.com:99999", "no valid port"),
        ("https://careers.example.com:80a", "no valid port"),
        ("https://*", "only allowed as https://*.example.com"),
        ("https://*.com", "whole top-level domain"),
        ("https://careers.*.example.com", "only allowed as https://*.example.com"),
        ("https://*careers.example.com", "only allowed as https://*.example.com"),
        ("https://-bad.example.com", "no valid host name"),
        ("https://a b.example.com", "no valid host name"),
        # What would add a directive of its own to the header.
        ("https://x.example.com; script-src *", "no valid host name"),
        ("https://x.example.com 'unsafe-inline'", "no valid host name"),
        ("https://bücher.example", "write the host as xn--bcher-kva.example"),
        ("https://", "no valid host name"),
        ("https://[2001:db8::1]:443", "is an IP address"),
    ],
)
def test_what_is_not_a_site_origin_is_refused_saying_why(written: str, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        site_origin(written)


def test_a_list_of_origins_keeps_each_once_and_has_a_limit() -> None:
    assert site_origins(
        ["https://a.example.com", "https://A.example.com/", "https://b.example"]
    ) == [
        "https://a.example.com",
        "https://b.example",
    ]
    with pytest.raises(ValueError, match=f"at most {MAX_SITE_ORIGINS}"):
        site_origins(f"https://s{n}.example.com" for n in range(MAX_SITE_ORIGINS + 1))


def test_the_frame_ancestors_directive_names_the_sites_or_none() -> None:
    assert frame_ancestors([]) == "frame-ancestors 'none'"
    assert (
        frame_ancestors(["https://careers.example.com", "https://*.example.org"])
        == "frame-ancestors https://careers.example.com https://*.example.org"
    )
    # A stored value that is not an origin never reaches the header.
    assert frame_ancestors(["https://x.example.com; script-src *"]) == "frame-ancestors 'none'"
    assert (
        frame_ancestors(["*", "https://careers.example.com"])
        == "frame-ancestors https://careers.example.com"
    )


def test_a_page_policy_is_opened_to_the_named_sites_only() -> None:
    policy = framed_by(PAGE_CSP, ["https://careers.example.com"])
    assert "frame-ancestors https://careers.example.com;" in policy
    assert policy.replace(
        "frame-ancestors https://careers.example.com", "frame-ancestors 'none'"
    ) == (PAGE_CSP)
    assert framed_by(PAGE_CSP, []) == PAGE_CSP
    with pytest.raises(ValueError, match="no frame-ancestors 'none'"):
        framed_by("default-src 'none'", ["https://careers.example.com"])


@pytest.mark.parametrize(
    ("policy", "allows"),
    [
        (None, False),
        ("", False),
        (PAGE_CSP, False),
        ("default-src 'none'", False),
        ("default-src 'none'; frame-ancestors https://careers.example.com", True),
        ("frame-ancestors https://careers.example.com; default-src 'none'", True),
        ("default-src 'none'; FRAME-ANCESTORS 'NONE'", False),
    ],
)
def test_whether_a_policy_lets_a_site_frame_the_page(policy: str | None, allows: bool) -> None:
    assert allows_framing(policy) is allows


async def test_a_page_that_names_its_framing_sites_gets_no_x_frame_options_deny() -> None:
    settings = ServiceSettings(
        service_name="pages", log_json=False, internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY
    )
    router = APIRouter()

    @router.get("/embed")
    async def embed() -> HTMLResponse:
        policy = framed_by(PAGE_CSP, ["https://careers.example.com"])
        return HTMLResponse("<h1>Register</h1>", headers={"Content-Security-Policy": policy})

    @router.get("/closed")
    async def closed() -> HTMLResponse:
        return HTMLResponse("<h1>Register</h1>", headers={"Content-Security-Policy": PAGE_CSP})

    platform = build_platform(settings, uses_mongo=False, uses_kafka=False)
    app = create_service_app(platform, title="pages", description="", routers=[router])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
        embedded = await client.get("/embed")
        closed_page = await client.get("/closed")
    assert (
        "frame-ancestors https://careers.example.com"
        in (embedded.headers["content-security-policy"])
    )
    assert "x-frame-options" not in embedded.headers
    assert embedded.headers["x-content-type-options"] == "nosniff"
    assert embedded.headers["referrer-policy"] == "same-origin"
    assert closed_page.headers["x-frame-options"] == "DENY"

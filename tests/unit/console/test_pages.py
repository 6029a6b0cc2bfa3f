"""The console's pages rendered in-process, the gateway's API answered by a stand-in: what
each page shows for what the API says (the real API: tests/e2e/test_console.py)."""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from crm_console.adapters.gateway_api import GatewayApi
from crm_console.config import ConsoleSettings
from crm_console.domain.problems import problem_from
from crm_console.domain.signing_out import safe_return_path
from crm_console.main import PACKAGE, create_app
from crm_shared import Principal
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY, internal_bearer

pytestmark = pytest.mark.unit

Handler = Callable[[httpx.Request], httpx.Response]
RITA = Principal(tenant_id="acme", user_id="rita", roles=frozenset({"recruiter"}))


def gateway_headers(principal: Principal = RITA) -> dict[str, str]:
    """What the gateway adds to a console request of a signed-in browser."""
    return {
        **internal_bearer(principal, "console"),
        "x-console-session": "session-secret",
        "x-csrf-token": "csrf-secret",
        "x-console-user-name": "Rita%20R%C3%A9cruteuse",
    }


def htmx_headers(principal: Principal = RITA) -> dict[str, str]:
    """A fragment request of a signed-in browser; minted per call, as internal tokens expire
    in 60 s and a loaded machine can take longer than that to reach a test."""
    return {**gateway_headers(principal), "hx-request": "true"}


# A part of a page htmx loads once the page is in (a profile's panels): its route, and the
# whole element the answer replaces.
LAZY_PART = re.compile(
    r'<(div|section)\b[^>]*\bhx-get="([^"]+)" hx-trigger="load"[^>]*>.*?</\1>', re.S
)


async def with_lazy_parts(
    client: httpx.AsyncClient, path: str, principal: Principal = RITA
) -> httpx.Response:
    """A page as the browser shows it once htmx loaded its lazy parts: each asked for as htmx
    asks (a fragment request of the same person) and put in its placeholder's place, as
    `hx-swap="outerHTML"` does (an error answer too, as the console's htmx configuration swaps
    those; a 204 leaves the placeholder)."""
    page = await client.get(path, headers=gateway_headers(principal))
    if page.status_code != 200:
        return page
    text = page.text
    for found in list(LAZY_PART.finditer(text)):
        part = await client.get(html.unescape(found.group(2)), headers=htmx_headers(principal))
        if part.status_code != 204:
            text = text.replace(found.group(0), part.text, 1)
    return httpx.Response(page.status_code, text=text)


class Api:
    """The gateway's API as the test scripts it, recording what the console asked."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], httpx.Response] = {}
        self.pages: dict[tuple[str, str], dict[str | None, httpx.Response]] = {}
        self.calls: list[httpx.Request] = []
        self.matched: list[tuple[str, dict[str, str], httpx.Response]] = []
        # Calls that get no answer at all (a timeout, a refused connection).
        self.failures: dict[tuple[str, str], Exception] = {}

    def answer(self, method: str, path: str, status: int = 200, body: Any = None) -> None:
        self.routes[(method, path)] = httpx.Response(status, json=body)

    def answer_with(self, path: str, params: dict[str, str], body: Any) -> None:
        """A GET of `path` whose query holds `params`: answered before `answer`'s."""
        self.matched.append((path, params, httpx.Response(200, json=body)))

    def answer_pages(self, path: str, *pages: list[Any]) -> None:
        """A paged list read with GET: `pages` in turn, each naming the next by its cursor
        (`page2`, `page3`...); a cursor not handed out is a 400."""
        cursors = [None, *(f"page{n}" for n in range(2, len(pages) + 1))]
        following = [*cursors[1:], None]
        self.pages[("GET", path)] = {
            cursor: httpx.Response(200, json={"items": items, "next_cursor": after})
            for cursor, items, after in zip(cursors, pages, following, strict=True)
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        if (failure := self.failures.get((request.method, request.url.path))) is not None:
            raise failure
        asked = request.url.params
        for path, params, response in self.matched:
            if (request.method, request.url.path) == ("GET", path) and all(
                asked.get(name) == value for name, value in params.items()
            ):
                return response
        paged = self.pages.get((request.method, request.url.path))
        if paged is not None:
            return paged.get(request.url.params.get("cursor")) or httpx.Response(
                400, json={"title": "Bad Request", "status": 400, "type": "invalid-cursor"}
            )
        found = self.routes.get((request.method, request.url.path))
        if found is None:
            return httpx.Response(
                404, json={"title": "Not Found", "status": 404, "detail": "no such route"}
            )
        return found


@pytest.fixture
async def console() -> AsyncIterator[tuple[httpx.AsyncClient, Api]]:
    api = Api()
    app = create_app(
        ConsoleSettings(internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY, default_tenant="acme")
    )
    container = app.state.container
    object.__setattr__(
        container,
        "gateway",
        GatewayApi(
            httpx.AsyncClient(base_url="http://gateway", transport=httpx.MockTransport(api))
        ),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as client:
        yield client, api


async def test_the_sign_in_page_suggests_the_tenant_and_lets_the_form_reach_the_provider(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, _ = console
    page = await client.get("/console/sign-in", params={"return_to": "/console/pools"})
    assert page.status_code == 200
    assert 'value="acme"' in page.text
    assert 'name="return_to" value="/console/pools"' in page.text
    policy = page.headers["content-security-policy"]
    assert "form-action" not in policy
    assert "script-src 'self'" in policy


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/console/candidates?q=x", "/console/candidates?q=x"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/console//evil.example", "/console/"),
        ("/console/\\evil", "/console/"),
        ("/api/v1/candidates", "/console/"),
        (None, "/console/"),
    ],
)
def test_after_sign_in_only_a_console_page_is_a_place_to_return_to(
    asked: str | None, kept: str
) -> None:
    assert safe_return_path(asked) == kept


async def test_a_page_reached_without_the_gateway_is_refused(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    answer = await client.get("/console/", headers={"x-console-session": "forged"})
    assert answer.status_code == 401
    assert api.calls == []


async def test_home_shows_what_it_may_read_and_says_why_for_the_rest(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/analytics/summary", body={"candidates": 1234, "messages_sent": 7})
    api.answer(
        "GET",
        "/api/v1/pools",
        body=[
            {"name": "Backend", "stages": ["New", "Hired"], "member_counts": {"New": 3}},
            {"name": "Design", "stages": ["New", "Portfolio"], "member_counts": {"Portfolio": 2}},
        ],
    )
    api.answer(
        "GET",
        "/api/v1/events",
        403,
        {"title": "Forbidden", "status": 403, "detail": "needs events:read"},
    )
    page = await client.get("/console/", headers=gateway_headers())
    assert page.status_code == 200
    assert 'data-figure="candidates">1234<' in page.text
    assert "Not available: needs events:read" in page.text
    assert "Rita Récruteuse" in page.text
    [config] = re.findall(r"data-chart='([^']*)'", page.text)
    chart = json.loads(config.replace("&#39;", "'"))
    assert chart["data"]["labels"] == ["Backend", "Design"]
    assert [(d["label"], d["data"]) for d in chart["data"]["datasets"]] == [
        ("Backend: New", [3, None]),
        ("Backend: Hired", [0, None]),
        ("Design: New", [None, 0]),
        ("Design: Portfolio", [None, 2]),
    ]
    # The console acts with the browser's own session and CSRF token, nothing else.
    for call in api.calls:
        assert call.headers["cookie"] == "crm_session=session-secret"
        assert call.headers["x-csrf-token"] == "csrf-secret"
        assert "authorization" not in call.headers


async def test_search_as_you_type_gets_the_results_alone_with_a_next_page_link(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    api.answer(
        "GET",
        "/api/v1/candidates",
        body={
            "items": [
                {
                    "id": "c1",
                    "first_name": "Zoë",
                    "last_name": "Ångström",
                    "emails": ["zoe@example.org"],
                    "current_title": None,
                    "current_company": None,
                    "location": None,
                    "skills": ["python"],
                    "source": "event",
                    "engagement_score": 2.5,
                }
            ],
            "next_cursor": "abc",
        },
    )
    fragment = await client.get(
        "/console/candidates",
        params={"q": "Ång", "skills": "python, sql", "source": "bogus"},
        headers={**gateway_headers(), "hx-request": "true"},
    )
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "Zoë Ångström" in fragment.text
    assert "cursor=abc" in fragment.text
    [call] = api.calls
    assert call.url.params.get_list("skill") == ["python", "sql"]
    assert call.url.params["q"] == "Ång"
    assert "source" not in call.url.params


async def test_an_ended_session_sends_the_browser_to_sign_in_and_back(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/candidates", 401, {"title": "Unauthorized", "status": 401})
    page = await client.get("/console/candidates", params={"q": "x"}, headers=gateway_headers())
    assert page.status_code == 303
    assert page.headers["location"] == (
        "/console/sign-in?return_to=%2Fconsole%2Fcandidates%3Fq%3Dx&reason=expired"
    )
    fragment = await client.get(
        "/console/candidates", headers={**gateway_headers(), "hx-request": "true"}
    )
    assert fragment.status_code == 204
    assert fragment.headers["hx-redirect"].startswith("/console/sign-in?")


async def test_a_candidate_the_api_does_not_know_is_a_404_page_with_the_reason(
    console: tuple[httpx.AsyncClient, Api],
) -> None:
    client, _ = console
    page = await client.get("/console/candidates/nobody", headers=gateway_headers())
    assert page.status_code == 404
    assert "no such route" in page.text
    # The navigation stays, so the person can go on from the error.
    assert 'aria-label="Sections"' in page.text


def test_problem_fields_are_named_as_the_form_names_them() -> None:
    body = json.dumps(
        {
            "title": "Unprocessable Content",
            "status": 422,
            "detail": "invalid: emails.0",
            "errors": [
                {"field": "emails.0", "detail": "not an e-mail address"},
                {"field": "first_name", "detail": "too long"},
            ],
        }
    ).encode()
    problem = problem_from(422, body)
    assert problem.field_errors == {
        "emails": "Enter an e-mail address (name@example.org).",
        "first_name": "too long",
    }
    assert problem_from(502, b"<html>").title == "Bad Gateway"


def test_the_vendored_libraries_are_the_published_builds() -> None:
    vendor = PACKAGE / "static" / "vendor"
    listed = re.findall(
        r"^\| (\S+) \| .* \| ([0-9a-f]{64}) \|$", (vendor / "VENDOR.md").read_text(), re.M
    )
    assert {name for name, _ in listed} == {
        path.name for path in vendor.iterdir() if path.suffix == ".js"
    }
    for name, digest in listed:
        assert hashlib.sha256(Path(vendor / name).read_bytes()).hexdigest() == digest, name


def test_every_block_of_the_stylesheet_is_closed() -> None:
    # An unclosed `@media` block swallows every rule after it: they then hold on narrow
    # screens only, and nothing in a desktop browser shows why.
    source = (PACKAGE / "static" / "console.css").read_text()
    stylesheet = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    depth = 0
    for number, line in enumerate(stylesheet.splitlines(), start=1):
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"line {number} closes a block that is not open"
    assert depth == 0, "a block of console.css is never closed"

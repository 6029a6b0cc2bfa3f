"""A part of a page loaded after it (a profile's panel) whose own route fails keeps its heading
and says why inside it, with "Try again", in a real browser (htmx would otherwise put the alert
in place of the whole panel). The console runs in-process against a stand-in API, served to
Chromium through Playwright's routing: no process stack."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from browser import PageWatch
from playwright.sync_api import Page, Route, expect
from starlette.testclient import TestClient

from crm_console.adapters.gateway_api import GatewayApi
from crm_console.config import ConsoleSettings
from crm_console.main import create_app
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY
from unit.console.test_candidates import answer_profile
from unit.console.test_pages import Api, gateway_headers

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SITE = "http://console.test"
# What the gateway answers htmx when the console is slower than it waits (api/console.py).
GATEWAY_TIMEOUT = (
    '<div class="problem" role="alert"><p><strong>504 · The console did not answer in time'
    "</strong>: the upstream service did not answer in time</p></div>"
)


@pytest.fixture
def console() -> Iterator[tuple[TestClient, Api]]:
    api = Api()
    app = create_app(
        ConsoleSettings(internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY, default_tenant="acme")
    )
    object.__setattr__(
        app.state.container,
        "gateway",
        GatewayApi(
            httpx.AsyncClient(base_url="http://gateway", transport=httpx.MockTransport(api))
        ),
    )
    with TestClient(app, base_url=SITE, raise_server_exceptions=False) as client:
        yield client, api


def test_a_failing_panel_keeps_its_heading_says_why_and_tries_again(
    console: tuple[TestClient, Api], watched_page: tuple[Page, PageWatch]
) -> None:
    client, api = console
    page, watch = watched_page
    answer_profile(api)
    # The segments panel's route itself fails (a bug: the console's 500).
    api.failures[("GET", "/api/v1/candidates/c1/segments")] = RuntimeError("a bug")
    failing = {"duplicates": "504", "engagement": "no answer"}

    def serve(route: Route) -> None:
        """The gateway's part: the console's answer, with a signed-in person's headers."""
        path = urlsplit(route.request.url).path
        panel = path.rsplit("/", 1)[-1]
        if failing.get(panel) == "504":
            route.fulfill(status=504, content_type="text/html", body=GATEWAY_TIMEOUT)
            return
        if failing.get(panel) == "no answer":
            route.abort()
            return
        headers = gateway_headers()
        if "hx-request" in route.request.headers:
            headers["hx-request"] = "true"
        answer = client.request(route.request.method, route.request.url, headers=headers)
        route.fulfill(
            status=answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k != "content-length"},
            body=answer.content,
        )

    page.route(re.compile(r"^http://console\.test/"), serve)
    page.goto(f"{SITE}/console/candidates/c1")

    for panel_id, heading, said in (
        ("profile-segments", "Segments", "Not available: the console answered 500."),
        ("profile-duplicates", "Possible duplicates", "504 · The console did not answer in time"),
        ("profile-engagement", "Engagement", "Not available: no answer (is the connection down?)."),
    ):
        panel = page.locator(f"#{panel_id}")
        expect(panel.get_by_role("alert")).to_contain_text(said)
        expect(panel.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(panel.get_by_role("link", name="Try again")).to_be_visible()
        expect(panel).not_to_contain_text("Loading")
        assert panel.get_attribute("aria-busy") is None
    # The panels that answered are in place, and nothing took the focus from the page.
    expect(page.get_by_text("Met at PyCon")).to_be_visible()
    assert page.evaluate("document.activeElement === document.body")

    # Once the route answers, "Try again" puts the panel in place, heading and all.
    del failing["duplicates"]
    duplicates = page.locator("#profile-duplicates")
    duplicates.get_by_role("link", name="Try again").click()
    expect(duplicates.get_by_text("same name, same company")).to_be_visible()
    expect(duplicates.get_by_role("heading", name="Possible duplicates")).to_be_visible()
    expect(duplicates.get_by_role("alert")).to_have_count(0)

    # What the browser logged is the failures themselves, nothing else.
    unexpected = [
        error
        for error in watch.errors
        if not re.search(
            r"status of 50[04]|Error Code 50[04]|ERR_FAILED|htmx:sendError|htmx:afterRequest", error
        )
    ]
    assert unexpected == []

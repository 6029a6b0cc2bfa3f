"""An event's registration form embedded in a careers site, in a real browser (Debian's Chromium
under Playwright) against the process stack: an admin names the site and copies the snippet
from the console, a page served from that other origin pastes it, the framed form registers
somebody and shows the confirmation, sized to fit; a site the tenant did not name gets the
form's `frame-ancestors` without it, and Chromium refuses it the frame."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from browser import DESKTOP, PageWatch, assert_accessible, screenshot
from playwright.sync_api import Browser, Response, expect

from crm_devstack.infra import free_ports
from e2e.conftest import ProcessStack
from e2e.console_support import api_call, sign_in
from helpers import unique

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

EMBED_URL = re.compile(r"/console/public/events/[^/]+/embed$")


@dataclass
class CareersSite:
    """A careers page served on 127.0.0.1 at a port of its own: reached as `localhost:<port>`
    it is another origin than the gateway's, as `127.0.0.1:<port>` yet another. `page` is the
    HTML it serves, the console's snippet pasted in once the test has copied it."""

    port: int
    page: str = ""


@contextmanager
def careers_site() -> Iterator[CareersSite]:
    (port,) = free_ports(1)
    site = CareersSite(port)

    class CareersPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = site.page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), CareersPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def careers_page(snippet: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Careers</title>"
        "</head><body><main><h1>Join us</h1><p>Meet the team at our open house:</p>"
        f"{snippet}</main><footer>Acme careers</footer></body></html>"
    )


def published_event() -> dict[str, Any]:
    return {
        "name": unique("Embedded open house"),
        "kind": "open_house",
        "time_zone": "Europe/Berlin",
        "starts_at": "2031-06-05T17:00:00",
        "location": "Acme HQ, Berlin",
        "capacity": 30,
        "questions": [
            {
                "id": "team",
                "label": "Which team interests you?",
                "kind": "choice",
                "required": True,
                "options": ["Backend", "Data"],
            }
        ],
    }


def test_a_careers_site_embeds_the_form_and_a_site_not_named_is_refused_the_frame(
    process_stack: ProcessStack, browser: Browser
) -> None:
    gateway = process_stack.gateway_url
    event = api_call(gateway, "POST", "/events", published_event())
    with careers_site() as site:
        allowed = f"http://localhost:{site.port}"
        try:
            site.page = careers_page(_snippet_named_by_an_admin(browser, gateway, event, allowed))
            _registers_through_the_frame(browser, allowed, event)
            # The same page on 127.0.0.1: the same server, but an origin not on the list.
            _is_refused_the_frame(browser, f"http://127.0.0.1:{site.port}", allowed)
        finally:
            api_call(gateway, "PUT", "/settings/event-embedding", {"site_origins": []})
    [registration] = api_call(gateway, "GET", f"/events/{event['id']}/registrations")["items"]
    assert registration["last_name"] == "Framed"
    assert [(a["question_id"], a["value"]) for a in registration["answers"]] == [("team", "Data")]


def _snippet_named_by_an_admin(
    browser: Browser, gateway: str, event: dict[str, Any], allowed: str
) -> str:
    """An admin sees the event cannot be embedded yet, names the careers site in the Embedding
    settings (a line with a path refused first) and copies the snippet from the event page."""
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        watch = PageWatch()
        watch.attach(page)
        event_page = f"/console/events/{event['id']}"
        api_call(gateway, "PUT", "/settings/event-embedding", {"site_origins": []})
        sign_in(page, gateway, "alice.admin", start=event_page)
        expect(page.get_by_test_id("embed-sites")).to_contain_text("No site may show this form")
        page.get_by_test_id("embed-sites").get_by_role("link").click()
        expect(page.get_by_role("heading", name="Embedding", exact=True)).to_be_visible()
        page.get_by_label("Sites, one per line").fill(
            f"{allowed}\nhttps://careers.example.com/jobs"
        )
        page.get_by_role("button", name="Save sites").click()
        expect(page.get_by_role("alert")).to_contain_text(
            "https://careers.example.com/jobs: 'https://careers.example.com/jobs' has a path"
        )
        page.get_by_label("Sites, one per line").fill(allowed)
        page.get_by_role("button", name="Save sites").click()
        expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
        assert_accessible(page)
        screenshot(page, "settings-embedding")

        page.goto(gateway + event_page)
        expect(page.get_by_test_id("embed-sites")).to_contain_text(f"Allowed on {allowed}")
        code = page.get_by_label("Embed code").input_value()
        assert code == (
            f'<script src="{gateway}/console/public/embed.js" data-event="{event["id"]}" async>'
            "</script>"
        )
        page.get_by_role("button", name="Copy code").first.click()
        expect(page.locator('[data-copy-status="embed-code"]')).to_have_text(re.compile("Cop"))
        assert_accessible(page)
        page.get_by_role("heading", name="Embed on your site").scroll_into_view_if_needed()
        screenshot(page, "event-embed")
        watch.errors = [e for e in watch.errors if "Response Status Error Code 4" not in e]
        watch.assert_clean()
        return code
    finally:
        context.close()


def _registers_through_the_frame(browser: Browser, site: str, event: dict[str, Any]) -> None:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        watch = PageWatch()
        watch.attach(page)
        with page.expect_response(EMBED_URL) as framed:
            page.goto(site)
        policy = framed.value.headers["content-security-policy"]
        assert f"frame-ancestors {site}" in policy, policy
        assert "x-frame-options" not in framed.value.headers
        frame = page.frame_locator("iframe")
        expect(frame.get_by_role("heading", name=event["name"])).to_be_visible()
        # The frame grew to the form (the script's first guess is 640 px): no inner scroll bar.
        iframe = page.locator("iframe")
        expect(iframe).to_have_attribute("title", "Event registration")
        form_height = _frame_height_once_settled(page)
        inner = frame.locator("body").evaluate("b => Math.ceil(b.getBoundingClientRect().height)")
        assert abs(form_height - inner) <= 1, (form_height, inner)

        frame.get_by_label("First name").fill("Ines")
        frame.get_by_label("Last name").fill("Framed")
        frame.get_by_label("E-mail").fill(f"{unique('framed')}@example.de")
        frame.get_by_role("button", name="Register").click()
        # The required question was left out: the refusal by its field, inside the frame.
        expect(frame.get_by_text("'Which team interests you?' needs an answer")).to_be_visible()
        frame.get_by_label("Which team interests you?").select_option("Data")
        frame.get_by_role("button", name="Register").click()
        expect(frame.get_by_test_id("registration-code")).to_have_text(re.compile(r"^[0-9A-Z]{8}$"))
        # The confirmation is shorter than the form: the frame follows it down.
        expect(iframe).not_to_have_css("height", f"{form_height}px")
        assert _frame_height_once_settled(page) < form_height
        screenshot(page, "event-embedded")
        watch.errors = [e for e in watch.errors if "Response Status Error Code 4" not in e]
        watch.assert_clean()
    finally:
        context.close()


def _frame_height_once_settled(page: Any) -> int:
    """The frame's height once the form's size message arrived and stopped changing it."""
    last = -1
    for _ in range(40):
        height = page.locator("iframe").evaluate(
            "f => Math.round(f.getBoundingClientRect().height)"
        )
        if height == last and height != 640:
            return int(height)
        last = height
        page.wait_for_timeout(250)
    raise AssertionError(f"the frame's height did not settle (last {last} px)")


def _is_refused_the_frame(browser: Browser, site: str, allowed: str) -> None:
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        blocked: list[str] = []
        page.on("console", lambda message: blocked.append(message.text))
        with page.expect_response(EMBED_URL) as framed:
            page.goto(site)
        answer: Response = framed.value
        policy = answer.headers["content-security-policy"]
        assert f"frame-ancestors {allowed}" in policy, policy
        assert site not in policy
        # Chromium refuses the frame for its ancestors: the form never shows in it.
        expect(page.get_by_role("heading", name="Join us")).to_be_visible()
        page.wait_for_timeout(1000)
        assert page.frame_locator("iframe").get_by_role("button", name="Register").count() == 0
        assert any("frame-ancestors" in text for text in blocked), blocked
    finally:
        context.close()

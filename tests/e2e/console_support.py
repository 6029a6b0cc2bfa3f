"""Signing in to the console through Keycloak as a person does, and the demo tenant's API
reached with a development token to set up what a test looks at."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, ViewportSize, expect

from crm_devstack.keycloak import DEMO_USERS
from crm_devstack.stack import DEV_TOKENS


def dev_headers(tenant: str, role: str) -> dict[str, str]:
    """A development token's header for `role` in `tenant` (the local stack's)."""
    [token] = [
        t for t, who in DEV_TOKENS.items() if who["tenant_id"] == tenant and role in who["roles"]
    ]
    return {"Authorization": f"Bearer {token}"}


def api_call(gateway_url: str, method: str, path: str, body: Any = None) -> Any:
    """One call as the demo tenant's admin; a failure fails the test with the API's answer."""
    response = httpx.request(
        method,
        f"{gateway_url}/api/v1{path}",
        json=body,
        headers=dev_headers("acme", "admin"),
        timeout=30,
    )
    assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def sign_in(page: Page, gateway_url: str, username: str, *, start: str = "/console/") -> None:
    """Opens a console page signed out, goes through the sign-in page and Keycloak's login
    form, and comes back to the page it started from."""
    password, _ = DEMO_USERS[username]
    page.goto(gateway_url + start)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Organisation")).to_have_value("acme")
    page.get_by_role("button", name="Continue").click()
    try:
        page.locator("#username").wait_for(timeout=30_000)
    except Exception as error:
        raise AssertionError(
            f"no Keycloak login form at {page.url}:\n{page.content()[:2000]}"
        ) from error
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.locator("#kc-login").click()
    page.wait_for_url(f"{gateway_url}{start}*")


def panels_loaded(page: Page) -> None:
    """Waits until htmx has put every panel the page loads after it (a profile's) in place:
    before a screenshot, an accessibility check, or leaving the page (a request the browser
    cancels would be an error in the console)."""
    expect(page.locator("[data-lazy-panel]")).to_have_count(0, timeout=30_000)


@contextmanager
def without_script(browser: Browser, signed_in: Page, viewport: ViewportSize) -> Iterator[Page]:
    """A page in a browser that runs no script, signed in as whoever `signed_in` is; the
    context closes after."""
    context = browser.new_context(
        viewport=viewport,
        java_script_enabled=False,
        storage_state=signed_in.context.storage_state(),
    )
    try:
        yield context.new_page()
    finally:
        context.close()

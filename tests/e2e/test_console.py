"""The console in a real browser (Debian's Chromium under Playwright) against the process
stack, signed in through Keycloak: each page works, is accessible (axe-core, WCAG 2.1 AA, no
serious finding) and runs without script errors or blocked resources."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest
from browser import PHONE, PageWatch, assert_accessible, screenshot
from playwright.sync_api import Browser, Page, Route, expect

from e2e.conftest import ProcessStack
from e2e.console_support import api_call, panels_loaded, sign_in
from helpers import unique

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def test_a_recruiter_signs_in_searches_and_opens_a_profile(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    page, watch = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Ångström").replace("-", "")
    created = api_call(
        gateway,
        "POST",
        "/candidates",
        {
            "first_name": "Zoë",
            "last_name": surname,
            "emails": [f"{surname.lower()}@example.org"],
            "current_title": "Data Engineer",
            "skills": ["python", "kafka"],
            "location": "Malmö",
        },
    )
    api_call(
        gateway,
        "POST",
        "/pools",
        {"name": unique("Data engineers"), "stages": ["New", "Contacted", "Interested"]},
    )

    sign_in(page, gateway, "rita.recruiter")

    expect(page.get_by_role("heading", name="Home", exact=True)).to_be_visible()
    expect(page.locator("#pipeline-chart[data-drawn]")).to_have_count(1)
    assert_accessible(page)
    screenshot(page, "home")

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Candidates").click()
    expect(page.get_by_role("heading", name="Candidates", exact=True)).to_be_visible()
    # Past "Ångström" into the run's own letters: other modules' people are called Ångström too.
    typed = surname[:12]
    page.get_by_label("Search").press_sequentially(typed, delay=30)
    expect(page).to_have_url(re.compile(r"q=" + re.escape(quote(typed))))
    expect(page.locator("#results tbody tr")).to_have_count(1)
    result = page.locator("#results").get_by_role("link", name=f"Zoë {surname}")
    expect(result).to_be_visible()
    assert_accessible(page)
    screenshot(page, "candidates")

    result.click()
    expect(page.get_by_role("heading", name=f"Zoë {surname}")).to_be_visible()
    expect(page.get_by_text("Malmö")).to_be_visible()
    assert page.url.endswith(f"/console/candidates/{created['id']}")
    panels_loaded(page)
    assert_accessible(page)
    screenshot(page, "candidate-profile")

    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    page.goto(f"{gateway}/console/candidates")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    watch.assert_clean()


def test_a_search_typed_while_the_page_still_loads_is_sent(
    process_stack: ProcessStack, watched_page: tuple[Page, PageWatch]
) -> None:
    """htmx wires a page at DOMContentLoaded, which waits for every deferred script: one held
    back in the page leaves the search field on screen and unwired, as on a slow line."""
    page, watch = watched_page
    gateway = process_stack.gateway_url
    surname = unique("Öberg").replace("-", "")
    api_call(
        gateway,
        "POST",
        "/candidates",
        {"first_name": "Åsa", "last_name": surname, "emails": [f"{surname.lower()}@example.se"]},
    )
    api_call(
        gateway,
        "POST",
        "/candidates",
        {
            "first_name": "Åke",
            "last_name": "Lind",
            "emails": [f"lind.{surname.lower()}@example.se"],
        },
    )
    sign_in(page, gateway, "rita.recruiter")
    held: list[Route] = []

    def with_a_slow_script(route: Route) -> None:
        answer = route.fetch()
        slow = f'<script src="{gateway}/console/static/slow.js" defer></script></head>'
        route.fulfill(response=answer, body=answer.text().replace("</head>", slow, 1))

    def hold(route: Route) -> None:
        held.append(route)

    page.route(re.compile(r"/console/candidates$"), with_a_slow_script)
    page.route(re.compile(r"/console/static/slow\.js$"), hold)

    page.add_init_script(
        "window.contentLoaded = false;"
        "document.addEventListener('DOMContentLoaded', () => { window.contentLoaded = true; });"
    )
    page.goto(f"{gateway}/console/candidates", wait_until="commit")
    page.get_by_label("Search").fill(surname)
    for _ in range(200):  # the handler runs while Playwright waits, so wait in its terms
        if held:
            break
        page.wait_for_timeout(50)
    assert held, "the slow script was not requested"
    assert page.evaluate("window.contentLoaded") is False, "typed after the page was wired"
    held[0].fulfill(status=200, content_type="text/javascript", body="")

    expect(page).to_have_url(re.compile(r"q=" + re.escape(quote(surname))))
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.locator("#results").get_by_role("link", name=f"Åsa {surname}")).to_be_visible()
    watch.assert_clean()


# The elements wider than the screen, named so a failure says where to look.
TOO_WIDE = """width => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width && !e.closest('.table-scroll'))
    .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className}: `
        + Math.round(e.getBoundingClientRect().right))
"""


def test_the_candidate_list_fits_a_phone_screen(
    process_stack: ProcessStack, browser: Browser
) -> None:
    # The filters list every pool, stage and segment, and the widest option sizes its menu:
    # long names from a real tenant must not push the page off the screen.
    gateway = process_stack.gateway_url
    api_call(
        gateway,
        "POST",
        "/pools",
        {
            "name": unique("Senior backend engineers for the Stockholm platform team"),
            "stages": ["Identified", "Contacted and waiting for an answer", "Interviewing"],
        },
    )
    api_call(
        gateway,
        "POST",
        "/segments",
        {
            "name": unique("Silver medallists from the autumn graduate programme"),
            "rule": {"all": [{"field": "tags", "op": "equals", "value": "silver-medallist"}]},
        },
    )
    surname = unique("Wolfeschlegelsteinhausen").replace("-", "")
    api_call(
        gateway,
        "POST",
        "/candidates",
        {
            "first_name": "Hubert",
            "last_name": surname,
            "emails": [f"hubert.{surname.lower()}@very-long-company-domain.example.org"],
            "current_title": "Principal Distributed Systems Reliability Engineer",
        },
    )
    context = browser.new_context(viewport=PHONE)  # type: ignore[arg-type]
    try:
        page = context.new_page()
        watch = PageWatch()
        watch.attach(page)
        sign_in(page, gateway, "vic.viewer", start="/console/candidates")
        expect(page.get_by_role("heading", name="Candidates", exact=True)).to_be_visible()
        expect(page.locator("#placement")).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth")
        too_wide = page.evaluate(TOO_WIDE, PHONE["width"])
        assert overflow <= PHONE["width"], f"the page is {overflow} px wide on a phone: {too_wide}"
        assert_accessible(page)
        watch.assert_clean()
    finally:
        context.close()


def test_the_console_service_refuses_a_call_that_skips_the_gateway(
    process_stack: ProcessStack,
) -> None:
    console = f"http://127.0.0.1:{process_stack.config.console_port}"
    answer = httpx.get(
        f"{console}/console/candidates", headers={"x-console-session": "forged"}, timeout=10
    )
    assert answer.status_code == 401

"""The profile page answers with the candidate's own record and loads every other panel after
it, each from its own console route (issue 17): a panel's failed call is said inside that
panel while the rest renders, and a panel route asks the same permission as the page."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import Route

from crm_console.api.candidates import router
from crm_shared import Principal
from unit.console.test_candidates import Console, answer_profile
from unit.console.test_pages import console, gateway_headers, htmx_headers, with_lazy_parts

pytestmark = pytest.mark.unit

__all__ = ["console"]

# A signed-in person whose role grants nothing: no `candidates:read`.
NOBODY_ROLE = Principal(tenant_id="acme", user_id="nora", roles=frozenset())


def panel_paths() -> list[str]:
    """Every panel route of the profile, as the router holds them (a new panel is covered)."""
    paths = [
        route.path.replace("{candidate_id}", "c1")
        for route in router.routes
        if isinstance(route, Route) and "/panels/" in route.path
    ]
    assert len(paths) == 11
    return paths


def card(text: str, heading_id: str) -> str:
    """The part of the page from a panel's heading to the next heading of its level or above."""
    start = text.index(f'id="{heading_id}"')
    following = re.search(r"<h[12] ", text[start + 1 :])
    return text[start : start + 1 + following.start()] if following else text[start:]


async def test_a_panel_whose_call_fails_says_why_inside_it_and_the_rest_renders(
    console: Console,
) -> None:
    client, api = console
    answer_profile(
        api,
        **{
            "/api/v1/candidates/c1/duplicates": (
                503,
                {
                    "type": "about:blank",
                    "title": "Service Unavailable",
                    "status": 503,
                    "detail": "the duplicate finder is down",
                },
            )
        },
    )
    # A panel whose call gets no answer at all in the console's time.
    api.failures[("GET", "/api/v1/candidates/c1/segments")] = httpx.ReadTimeout("slow")

    alone = await client.get("/console/candidates/c1/panels/duplicates", headers=htmx_headers())
    # The panel's answer is the panel (a 200: htmx puts it in place like any other), with the
    # problem's detail in it.
    assert alone.status_code == 200, alone.text
    assert alone.text.lstrip().startswith('<section class="card" id="profile-duplicates"')
    assert "Not available: the duplicate finder is down" in alone.text

    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200, page.text
    text = page.text
    assert "Not available: the duplicate finder is down" in card(text, "duplicates-h")
    assert "Not available: the API did not answer in time" in card(text, "segments-h")
    # Every other panel rendered, and no placeholder is left loading.
    assert "Zoë" in text
    assert ">Backend engineers</a> · Screen" in card(text, "pools-h")
    assert "Met at PyCon" in card(text, "notes-h")
    assert 'data-testid="engagement-score">3.25<' in text
    assert "Moved from New to Screen in Backend engineers" in card(text, "timeline-h")
    assert "Staff Engineer" in card(text, "ats-h")
    assert "data-lazy-panel" not in text
    assert "Loading" not in text


async def test_a_panel_route_without_script_is_a_page_of_that_panel(console: Console) -> None:
    client, api = console
    answer_profile(api)
    page = await client.get("/console/candidates/c1/panels/notes", headers=gateway_headers())
    assert page.status_code == 200, page.text
    assert "<!doctype html>" in page.text
    assert 'href="/console/candidates/c1">← The candidate' in page.text
    assert "Met at PyCon" in page.text
    # The profile links each panel for a browser without script.
    profile = await client.get("/console/candidates/c1", headers=gateway_headers())
    assert '<noscript><p><a href="/console/candidates/c1/panels/notes">Show notes</a>' in (
        profile.text
    )


async def test_a_merged_away_records_panels_offer_no_forms(console: Console) -> None:
    client, api = console
    answer_profile(api)
    notes = await client.get(
        "/console/candidates/c1/panels/notes", params={"read_only": "true"}, headers=htmx_headers()
    )
    assert "Met at PyCon" in notes.text
    assert "hx-post" not in notes.text
    writable = await client.get("/console/candidates/c1/panels/notes", headers=htmx_headers())
    assert 'hx-post="/console/candidates/c1/notes"' in writable.text


async def test_every_panel_route_asks_the_permission_the_page_asks(console: Console) -> None:
    client, api = console
    answer_profile(api)
    for path in ["/console/candidates/c1", *panel_paths()]:
        # Whoever may open the profile may load each panel.
        allowed = await client.get(path, headers=htmx_headers())
        assert allowed.status_code == 200, (path, allowed.text)
        # A role without `candidates:read` is refused the page and every panel, before the
        # API is asked anything.
        api.calls.clear()
        refused = await client.get(path, headers=htmx_headers(NOBODY_ROLE))
        assert refused.status_code == 403, (path, refused.text)
        assert "candidates:read" in refused.text
        assert [call.url.path for call in api.calls] == [], path
        # No session forwarded by the gateway: nobody.
        anonymous = await client.get(path, headers={"hx-request": "true"})
        assert anonymous.status_code == 401, path

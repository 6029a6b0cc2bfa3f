"""The profile page answers with the candidate's own record and loads every other panel after
it, each from its own console route (issue 17): a panel's failed call is said inside that
panel while the rest renders, and a panel route asks the same permission as the page."""

from __future__ import annotations

import re

import httpx
import pytest
from starlette.routing import Route

from crm_console.adapters.gateway_api import Caller
from crm_console.api.candidates import router
from crm_console.application.session_memo import SessionMemo
from crm_shared import Principal
from unit.console.test_candidates import Console, answer_profile, candidate
from unit.console.test_pages import (
    RITA,
    Api,
    console,
    gateway_headers,
    htmx_headers,
    with_lazy_parts,
)

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
    writable = await client.get("/console/candidates/c1/panels/notes", headers=htmx_headers())
    assert 'hx-post="/console/candidates/c1/notes"' in writable.text
    # The record decides, not the address: no note form on a merged-away record, with or
    # without `read_only`, by script or without.
    answer_profile(api, **{"/api/v1/candidates/c1": candidate(status="merged", merged_into="c2")})
    for params in ({}, {"read_only": "false"}, {"read_only": "true"}):
        for headers in (htmx_headers(), gateway_headers()):
            notes = await client.get(
                "/console/candidates/c1/panels/notes", params=params, headers=headers
            )
            assert notes.status_code == 200, notes.text
            assert "Met at PyCon" in notes.text
            assert "/console/candidates/c1/notes" not in notes.text
            assert 'id="note-body"' not in notes.text


async def test_a_note_refused_on_a_merged_away_record_says_why_without_a_form(
    console: Console,
) -> None:
    client, api = console
    answer_profile(api)
    api.answer(
        "POST",
        "/api/v1/candidates/c1/notes",
        409,
        {
            "type": "https://errors.example/candidate-not-active",
            "title": "Conflict",
            "status": 409,
            "detail": "candidate c1 is merged; add the note to its survivor instead",
            "merged_into": "c2",
        },
    )
    answer = await client.post(
        "/console/candidates/c1/notes", data={"body": "Called"}, headers=htmx_headers()
    )
    assert answer.status_code == 409, answer.text
    # The notes panel in place (htmx swaps it in), its notes read again, the reason in it.
    assert answer.text.lstrip().startswith('<section class="card" id="notes"')
    assert "Met at PyCon" in answer.text
    assert "add the note to its survivor instead" in answer.text
    assert "Note added." not in answer.text
    assert 'id="note-body"' not in answer.text


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


def asked(api: Api) -> list[tuple[str, str, str]]:
    """Every API call the console made: method, path and query (its parameters sorted)."""
    return [
        (call.method, call.url.path, str(sorted(call.url.params.multi_items())))
        for call in api.calls
    ]


def other_session(principal: Principal = RITA, session: str = "another-session") -> dict[str, str]:
    """A fragment request of another signed-in browser (another session's secret)."""
    return {**htmx_headers(principal), "x-console-session": session}


async def test_a_full_profile_asks_the_api_each_thing_once(console: Console) -> None:
    """The page and every panel it loads after it (issue 17): 16 calls for a recruiter, none
    twice. The page's read of the candidate serves the pools and ATS panels, the session's
    team read names people in the consents, notes and sequences panels."""
    client, api = console
    answer_profile(api)
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200, page.text
    assert "data-lazy-panel" not in page.text
    calls = asked(api)
    repeated = sorted({call for call in calls if calls.count(call) > 1})
    assert repeated == [], repeated
    assert sorted(path for _, path, _ in calls) == sorted(
        [
            # The page.
            "/api/v1/candidates/c1",
            "/api/v1/custom-fields",
            "/api/v1/team",
            # Its panels, one call each; the ATS panel's push form its connections and jobs.
            "/api/v1/suppressions",
            "/api/v1/pools",
            "/api/v1/candidates/c1/segments",
            "/api/v1/analytics/candidates/c1/engagement",
            "/api/v1/candidates/c1/consents",
            "/api/v1/ats/applications",
            "/api/v1/ats/connections",
            "/api/v1/ats/jobs",
            "/api/v1/candidates/c1/duplicates",
            "/api/v1/candidates/c1/notes",
            "/api/v1/sequences/enrolments",
            "/api/v1/messages",
            "/api/v1/candidates/c1/timeline",
        ]
    )
    # What the panels took from the page's read is shown as the API said it.
    assert ">Backend engineers</a> · Screen" in card(page.text, "pools-h")
    assert 'title="rita">Rita Récruteuse</span>' in card(page.text, "notes-h")


async def test_a_panel_asked_by_another_session_or_tenant_reads_for_itself(
    console: Console,
) -> None:
    client, api = console
    answer_profile(api)
    page = await client.get("/console/candidates/c1", headers=gateway_headers())
    assert page.status_code == 200, page.text
    elsewhere = Principal(tenant_id="globex", user_id="rita", roles=frozenset({"recruiter"}))
    for headers in (other_session(), other_session(elsewhere, "session-secret")):
        api.calls.clear()
        for name in ("pools", "ats", "notes"):
            answer = await client.get(f"/console/candidates/c1/panels/{name}", headers=headers)
            assert answer.status_code == 200, answer.text
        paths = [path for _, path, _ in asked(api)]
        # Nothing the first session read reaches another session, or another tenant: each
        # panel that needs the record (pools, ATS, notes) reads it for itself.
        assert paths.count("/api/v1/candidates/c1") == 3, paths
        assert paths.count("/api/v1/team") == 1, paths


async def test_a_change_is_answered_with_the_candidate_read_again(console: Console) -> None:
    client, api = console
    answer_profile(api)
    await with_lazy_parts(client, "/console/candidates/c1")
    # Someone moved the person meanwhile; the addition's answer reads them again.
    api.answer(
        "GET",
        "/api/v1/candidates/c1",
        body=candidate(pools=[{"pool_id": "p1", "stage": "New"}]),
    )
    api.answer("POST", "/api/v1/pools/p1/members/bulk", body={"added": [], "already": ["c1"]})
    api.calls.clear()
    added = await client.post(
        "/console/candidates/c1/pools", data={"target_pool": "p1"}, headers=htmx_headers()
    )
    assert "/api/v1/candidates/c1" in [path for _, path, _ in asked(api)]
    assert ">Backend engineers</a> · New" in added.text


def test_the_memo_keeps_a_session_and_tenant_apart_for_a_short_time_and_a_bounded_number() -> None:
    now = [0.0]
    memo = SessionMemo(max_entries=2, clock=lambda: now[0])
    rita = memo.of(Caller("session-a", "csrf"), "acme")
    rita.put({"name": "kept"}, "team", ttl_seconds=30)
    assert rita.get("team") == {"name": "kept"}
    # Another session, or the same session's secret in another tenant: nothing.
    assert memo.of(Caller("session-b", "csrf"), "acme").get("team") is None
    assert memo.of(Caller("session-a", "csrf"), "globex").get("team") is None
    # The secret itself is not what the store keeps.
    assert "session-a" not in repr(rita.scope)
    # A copy each time: changing what was given leaves the entry as read.
    rita.get("team")["name"] = "changed"  # type: ignore[index]
    assert rita.get("team") == {"name": "kept"}
    # Gone once its time is up.
    now[0] = 30.0
    assert rita.get("team") is None
    # At most `max_entries`: the oldest written goes first.
    for n in range(3):
        rita.put(n, "candidate", f"c{n}", ttl_seconds=10)
    assert len(memo) == 2
    assert rita.get("candidate", "c0") is None
    assert rita.get("candidate", "c2") == 2

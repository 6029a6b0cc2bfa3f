"""The profile's forms without script (a plain POST answered with a page, never a fragment),
a refused note's own reason, focus and live regions after a panel action, and the API-key
lifetimes the API allows (the real browser: tests/e2e/test_console_candidates.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crm_console.domain.settings import api_key_form
from unit.console.test_candidates import ADMIN, Console, answer_profile, candidate
from unit.console.test_pages import gateway_headers, htmx_headers, with_lazy_parts

pytestmark = pytest.mark.unit

TEMPLATES = Path(__file__).parents[3] / "services/console/src/crm_console/templates"
STATIC = TEMPLATES.parent / "static"
# The profile's panels and the candidate pages their forms lead to.
PROFILE_TEMPLATES = [
    *sorted((TEMPLATES / "candidates").glob("*.html")),
    *sorted((TEMPLATES / "candidates/panels").glob("*.html")),
]
NOTES = "/api/v1/candidates/c1/notes"


def tags(path: Path, name: str) -> list[str]:
    return re.findall(rf"<{name}\b[^>]*>", path.read_text(), re.S)


# A member's roles answer with a table row, which a page cannot show alone: still hx-post
# only (without script the roles are changed nowhere; see docs/console.md).
NOT_YET = {"settings/member_row.html"}


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(TEMPLATES.rglob("*.html")) if str(p.relative_to(TEMPLATES)) not in NOT_YET],
    ids=lambda p: str(p.relative_to(TEMPLATES)),
)
def test_every_form_that_posts_says_so_without_script(path: Path) -> None:
    # A form with `hx-post` alone is a GET without script: nothing saved, the text in the URL.
    for form in tags(path, "form"):
        posted = re.search(r'\bhx-post="([^"]+)"', form)
        if posted:
            assert 'method="post"' in form, form
            assert f'action="{posted.group(1)}"' in form, form


@pytest.mark.parametrize("path", PROFILE_TEMPLATES, ids=lambda p: p.name)
def test_a_profile_panel_posts_with_forms_not_script_only_buttons(path: Path) -> None:
    # A button that posts by script alone does nothing without it: each is a form's button.
    if path.name.endswith("panel.html") or path.parent.name == "panels":
        assert not [b for b in tags(path, "button") if "hx-post" in b]


async def test_a_note_posted_without_script_is_saved_and_the_panel_page_shown(
    console: Console,
) -> None:
    client, api = console
    api.answer("POST", NOTES, 201, {"id": "n2", "body": "Call back"})
    api.answer(
        "GET",
        NOTES,
        body={
            "items": [
                {
                    "id": "n2",
                    "author_id": "rita",
                    "body": "Call back",
                    "created_at": "2026-12-03T08:00:00+00:00",
                }
            ]
        },
    )
    answer = await client.post(
        NOTES.replace("/api/v1", "/console"), data={"body": "Call back"}, headers=gateway_headers()
    )
    # Redirected to the notes panel's own page (a reload does not post it again).
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/candidates/c1/panels/notes"
    page = await client.get(answer.headers["location"], headers=gateway_headers())
    assert "<html" in page.text
    assert "Call back" in page.text
    assert 'method="post" action="/console/candidates/c1/notes"' in page.text


async def test_a_refused_note_without_script_is_a_page_with_the_fields_reason(
    console: Console,
) -> None:
    client, api = console
    api.answer(
        "POST",
        NOTES,
        422,
        {
            "type": "https://errors.example/validation-error",
            "title": "Request validation failed",
            "status": 422,
            "detail": "invalid request: body",
            "errors": [{"field": "body", "detail": "String should have at least 1 character"}],
        },
    )
    api.answer("GET", NOTES, body={"items": []})
    for headers, whole_page in ((gateway_headers(), True), (htmx_headers(), False)):
        answer = await client.post(
            "/console/candidates/c1/notes", data={"body": ""}, headers=headers
        )
        assert answer.status_code == 422
        assert ("<html" in answer.text) is whole_page
        # The field's own reason, not the form's "each marked field says why".
        assert 'id="note-error" role="alert">This is required.</p>' in answer.text
        assert "each marked field" not in answer.text


async def test_panel_actions_without_script_come_back_to_a_page(console: Console) -> None:
    client, api = console
    api.answer("POST", "/api/v1/sequences/s1/enrolments/c1/pause", 200, {"state": "paused"})
    api.answer("GET", "/api/v1/sequences/enrolments", 200, {"items": [], "next_cursor": None})
    paused = await client.post(
        "/console/candidates/c1/sequences/s1/pause", headers=gateway_headers()
    )
    assert paused.status_code == 303
    assert paused.headers["location"] == "/console/candidates/c1/panels/sequences"
    refused = (409, {"title": "Conflict", "status": 409, "detail": "the enrolment ended"})
    api.answer("POST", "/api/v1/sequences/s1/enrolments/c1/resume", *refused)
    again = await client.post(
        "/console/candidates/c1/sequences/s1/resume", headers=gateway_headers()
    )
    assert again.status_code == 409
    assert "<html" in again.text
    assert "the enrolment ended" in again.text
    api.answer("POST", "/api/v1/candidates/c1/consents", 201, {"id": "l2"})
    consent = await client.post(
        "/console/candidates/c1/consents",
        data={"purpose": "marketing", "action": "grant", "lawful_basis": "consent"},
        headers=gateway_headers(),
    )
    assert consent.status_code == 303
    assert consent.headers["location"] == "/console/candidates/c1?done=consent"


async def test_a_board_move_and_a_bulk_action_without_script_answer_pages(
    console: Console,
) -> None:
    client, api = console
    api.answer("POST", "/api/v1/pools/p1/members/c1/stage", 200, {"stage": "Screen"})
    moved = await client.post(
        "/console/pools/p1/members/c1/stage", data={"stage": "Screen"}, headers=gateway_headers()
    )
    assert moved.status_code == 303
    assert moved.headers["location"] == "/console/pools/p1"
    api.answer("GET", "/api/v1/pools", body=[])
    bulk = await client.post("/console/candidates/bulk", data={}, headers=gateway_headers())
    assert "<html" in bulk.text
    assert 'href="/console/candidates">← Back' in bulk.text


async def test_a_refused_erasure_without_script_is_the_erase_page(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/candidates/c1", body=candidate())
    answer = await client.post(
        "/console/candidates/c1/erase", data={"confirmation": "no"}, headers=gateway_headers(ADMIN)
    )
    assert "<html" in answer.text
    assert 'aria-invalid="true"' in answer.text


async def test_panels_say_what_was_done_in_a_status_region_and_mark_where_focus_goes(
    console: Console,
) -> None:
    client, api = console
    answer_profile(api)
    page = await client.get("/console/candidates/c1", headers=gateway_headers())
    # Each placeholder is a region with a name while it is busy.
    placeholders = re.findall(r"<(?:div|section)\b[^>]*aria-busy=\"true\"[^>]*>", page.text)
    assert placeholders
    for placeholder in placeholders:
        assert 'role="region"' in placeholder or placeholder.startswith("<section"), placeholder
        assert "aria-label" in placeholder, placeholder
    full = await with_lazy_parts(client, "/console/candidates/c1")
    # The panels a form or button replaces: the focus goes to their status line or heading.
    for heading in ("notes-h", "sequences-h", "pools-h", "consent-record-h"):
        assert f'id="{heading}" tabindex="-1"' in full.text
    assert full.text.count("data-action-panel") >= 4
    script = (STATIC / "console.js").read_text()
    assert '"[data-action-panel]"' in script
    assert "[data-focus-on-load]" in script
    # The live region is there before anything is said in it.
    assert 'role="status" data-testid="note-said"></span>' in full.text
    api.answer("POST", NOTES, 201, {"id": "n2", "body": "Call back"})
    added = await client.post(
        "/console/candidates/c1/notes", data={"body": "Call back"}, headers=htmx_headers()
    )
    assert 'role="status" data-testid="note-said">Note added.</span>' in added.text


def test_the_api_key_form_offers_the_lifetimes_the_api_allows() -> None:
    for days in ("1", "366"):
        form = api_key_form({"name": "W", "expires_in_days": days}, ["events:read"])
        assert form.valid, days
    for days in ("0", "367"):
        form = api_key_form({"name": "W", "expires_in_days": days}, ["events:read"])
        assert form.errors == {"expires_in_days": "1 to 366 days"}
    panel = (TEMPLATES / "settings/api_keys_panel.html").read_text()
    assert 'min="{{ days[0] }}" max="{{ days[1] }}"' in panel

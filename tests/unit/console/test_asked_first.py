"""Buttons that act, in a browser without script: each is a form that posts as htmx would, and
one that asks first with script (`hx-confirm`) asks first without, with a page whose form
posts the same fields again, confirmed (`api.deps.asked_first`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import crm_console
from unit.console.test_pages import Api, gateway_headers, htmx_headers
from unit.console.test_pages import console as console

Console = tuple[httpx.AsyncClient, Api]

CONFIRMED = '<input type="hidden" name="confirmed" value="1">'


@dataclass(frozen=True)
class AskingButton:
    """A button that asks first: where it posts, what it asks, the API call it makes once
    confirmed and the page the browser goes back to."""

    post: str
    question: str
    api_call: tuple[str, str]
    after: str
    reads: tuple[tuple[str, dict[str, object]], ...] = ()


ASKING = [
    AskingButton(
        "/console/segments/s1/delete",
        "Delete the segment “Développeurs à Zürich”?",
        ("DELETE", "/api/v1/segments/s1"),
        "/console/segments",
        reads=(("/api/v1/segments/s1", {"id": "s1", "name": "Développeurs à Zürich"}),),
    ),
    AskingButton(
        "/console/templates/t1/archive",
        "Archive this template? Nothing new may use it.",
        ("DELETE", "/api/v1/templates/t1"),
        "/console/templates",
    ),
    AskingButton(
        "/console/templates/blocks/pied-de-page/delete",
        "Delete the block pied-de-page? Templates can no longer include it.",
        ("DELETE", "/api/v1/blocks/pied-de-page"),
        "/console/templates",
    ),
    AskingButton(
        "/console/candidates/merges/m1/undo",
        "Undo this merge? Both records go back",
        ("POST", "/api/v1/candidates/merges/m1/undo"),
        "/console/candidates/merges/m1",
    ),
    AskingButton(
        "/console/sequences/s1/enrolments/c1/remove",
        "Remove this person from the sequence?",
        ("DELETE", "/api/v1/sequences/s1/enrolments/c1"),
        "/console/sequences/s1",
    ),
]


@pytest.mark.parametrize("button", ASKING, ids=lambda button: button.post)
async def test_without_script_a_button_asks_first_then_acts_once_confirmed(
    console: Console, button: AskingButton
) -> None:
    client, api = console
    for path, body in button.reads:
        api.answer("GET", path, body=body)
    asked = await client.post(button.post, data={"name": "Zoë"}, headers=gateway_headers())
    assert asked.status_code == 200
    assert button.question in asked.text
    assert f'<form method="post" action="{button.post}" class="actions">' in asked.text
    assert '<input type="hidden" name="name" value="Zoë">' in asked.text
    assert CONFIRMED in asked.text
    assert not [call for call in api.calls if call.method != "GET"]

    method, path = button.api_call
    api.answer(method, path, body={"id": "x", "state": "exited", "status": "undone"})
    confirmed = await client.post(
        button.post, data={"name": "Zoë", "confirmed": "1"}, headers=gateway_headers()
    )
    assert (confirmed.status_code, confirmed.headers["location"]) == (303, button.after)
    assert [(c.method, c.url.path) for c in api.calls if c.method != "GET"] == [button.api_call]


@pytest.mark.parametrize("button", ASKING, ids=lambda button: button.post)
async def test_with_script_the_browser_asked_already(
    console: Console, button: AskingButton
) -> None:
    client, api = console
    method, path = button.api_call
    api.answer(method, path, body={"id": "x", "state": "exited", "status": "undone"})
    answered = await client.post(button.post, headers=htmx_headers())
    assert CONFIRMED not in answered.text
    assert [(c.method, c.url.path) for c in api.calls if c.method != "GET"] == [button.api_call]


async def test_a_refusal_without_script_is_a_page_that_leads_back(console: Console) -> None:
    client, api = console
    api.answer(
        "DELETE",
        "/api/v1/segments/s1",
        409,
        {"title": "Conflict", "status": 409, "detail": "the segment “Zürich” uses it"},
    )
    refused = await client.post(
        "/console/segments/s1/delete", data={"confirmed": "1"}, headers=gateway_headers()
    )
    assert refused.status_code == 409
    assert "<!doctype html>" in refused.text
    assert "the segment “Zürich” uses it" in refused.text
    assert '<a href="/console/segments/s1">← Back</a>' in refused.text


@pytest.mark.parametrize(
    ("post", "api_call", "after"),
    [
        (
            "/console/sequences/s1/pause",
            ("POST", "/api/v1/sequences/s1/pause"),
            "/console/sequences/s1",
        ),
        (
            "/console/sequences/s1/enrolments/c1/pause",
            ("POST", "/api/v1/sequences/s1/enrolments/c1/pause"),
            "/console/sequences/s1",
        ),
        (
            "/console/notifications/n1/read",
            ("POST", "/api/v1/notifications/n1/read"),
            "/console/notifications",
        ),
    ],
)
async def test_without_script_a_button_that_asks_nothing_acts_and_goes_back(
    console: Console, post: str, api_call: tuple[str, str], after: str
) -> None:
    client, api = console
    api.answer(*api_call, body={"id": "n1", "state": "paused", "read_at": "2026-12-07T09:00:00Z"})
    answered = await client.post(post, headers=gateway_headers())
    assert (answered.status_code, answered.headers["location"]) == (303, after)
    assert [(c.method, c.url.path) for c in api.calls if c.method != "GET"] == [api_call]


def test_every_button_that_posts_is_in_a_form_of_its_own_post() -> None:
    """A button htmx posts from without a form around it, or one that only gets a part of the
    page, does nothing without script (a link or a form's button does)."""
    templates = Path(crm_console.__file__).parent / "templates"
    alone = []
    for template in sorted(templates.rglob("*.html")):
        for button in re.findall(r"<button[^>]*hx-(?:post|get)=[^>]*>", template.read_text()):
            if 'type="button"' in button:
                alone.append(f"{template.relative_to(templates)}: {button[:100]}")
    # The chosen list is filled by the search as one types, which needs script itself (the
    # page says where enrolling works without).
    assert [entry.split(":")[0] for entry in alone] == ["sequences/enrol_chosen.html"]


def test_a_copy_button_shows_only_where_script_runs() -> None:
    """Copying needs script: the page starts `no-script`, which hides Copy buttons, and the
    console's script takes it off first thing."""
    package = Path(crm_console.__file__).parent
    assert '<html lang="en" class="no-script">' in (package / "templates/base.html").read_text()
    script = (package / "static/console.js").read_text()
    assert 'document.documentElement.classList.remove("no-script")' in script
    css = (package / "static/console.css").read_text()
    assert ".no-script [data-copy], .no-script .loading { display: none; }" in css


async def test_an_address_without_a_page_answers_a_page_saying_so(console: Console) -> None:
    """A reload or bookmark of a button's address, or a mistyped one, is a console page with
    a way back, not the platform's JSON."""
    client, api = console
    came_from = {"referer": "https://crm.example/console/segments/s1"}
    reloaded = await client.get(
        "/console/segments/s1/delete", headers={**gateway_headers(), **came_from}
    )
    assert reloaded.status_code == 405
    assert reloaded.headers["content-type"].startswith("text/html")
    assert "it has no page of its own" in reloaded.text
    assert '<a href="/console/segments/s1">← Back</a>' in reloaded.text
    missing = await client.get("/console/nowhere", headers=gateway_headers())
    assert missing.status_code == 404
    assert "There is no such page in the console" in missing.text
    assert "Back to the home page" in missing.text
    # The API's refusal of a button's post links back to the page the button was on.
    api.answer(
        "DELETE",
        "/api/v1/templates/t1",
        409,
        {"title": "Conflict", "status": 409, "detail": "the sequence “Relance” uses it"},
    )
    refused = await client.post(
        "/console/templates/t1/archive",
        data={"confirmed": "1"},
        headers={**gateway_headers(), "referer": "https://crm.example/console/templates/t1"},
    )
    assert refused.status_code == 409
    assert "the sequence “Relance” uses it" in refused.text
    assert '<a href="/console/templates/t1">← Back</a>' in refused.text
    # The platform's own routes answer as every service's do.
    platform = await client.get("/nowhere")
    assert platform.headers["content-type"] == "application/problem+json"

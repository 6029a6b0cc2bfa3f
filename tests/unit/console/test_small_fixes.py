"""Small console fixes: the favicon, a composer a role may not use, plural units, htmx targets
for ids with dots (where signing out lands: test_signing_out.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.resources import files

import httpx
import pytest

from crm_console.domain.sequences import describe_step
from crm_shared import Principal
from unit.console.test_pages import Api, console, gateway_headers

pytestmark = pytest.mark.unit

__all__ = ["console"]

Console = tuple[httpx.AsyncClient, Api]
VIEWER = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))


async def test_every_page_declares_the_favicon_the_console_serves(console: Console) -> None:
    client, _ = console
    page = await client.get("/console/sign-in")
    [icon_url] = re.findall(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page.text)
    assert icon_url.startswith("/console/static/favicon.svg?v=")
    icon = await client.get(icon_url)
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")


async def test_a_viewer_gets_no_broadcast_composer(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/broadcasts", body={"items": [], "next_cursor": None})
    listing = await client.get("/console/broadcasts", headers=gateway_headers(VIEWER))
    assert "/console/broadcasts/new" not in listing.text
    refused = await client.get("/console/broadcasts/new", headers=gateway_headers(VIEWER))
    assert refused.status_code == 403
    assert "broadcasts:write" in refused.text
    assert 'aria-label="Sections"' in refused.text  # the usual page, with its navigation
    assert api.calls == [c for c in api.calls if c.url.path == "/api/v1/broadcasts"]


@pytest.mark.parametrize(
    ("step", "said"),
    [
        ({"type": "wait", "days": 0, "hours": 0, "minutes": 1}, "Wait 1 minute"),
        ({"type": "wait", "days": 1, "hours": 2, "minutes": 0}, "Wait 1 day, 2 hours"),
        ({"type": "wait", "days": 3, "hours": 1, "minutes": 5}, "Wait 3 days, 1 hour, 5 minutes"),
    ],
)
def test_a_wait_is_said_in_the_right_number(step: dict[str, object], said: str) -> None:
    assert describe_step(step, {}) == said


@pytest.mark.parametrize(
    ("path", "roles"),
    [
        ("/console/candidates/new", {"viewer"}),
        ("/console/events/new", {"viewer", "marketer", "recruiter"}),
        ("/console/segments/new", {"viewer"}),
        ("/console/sequences/new", {"viewer"}),
        ("/console/templates/new", {"viewer", "recruiter"}),
    ],
)
async def test_a_form_the_role_could_not_send_is_not_offered_by_url_either(
    console: Console, path: str, roles: set[str]
) -> None:
    client, _ = console
    for role in roles:
        person = Principal(tenant_id="acme", user_id=role, roles=frozenset({role}))
        page = await client.get(path, headers=gateway_headers(person))
        assert page.status_code == 403, (path, role)
        assert "your role may not do this here" in page.text


class _Elements(HTMLParser):
    """Each element's attributes and the elements it sits in (outermost first)."""

    VOID = frozenset({"input", "br", "img", "meta", "link", "hr", "source", "col", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, dict[str, str | None]]] = []
        self.found: list[
            tuple[str, dict[str, str | None], list[tuple[str, dict[str, str | None]]]]
        ] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = (tag, dict(attrs))
        self.found.append((tag, element[1], list(self.open)))
        if tag not in self.VOID:
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()[0] == tag:
                break


async def test_mark_read_targets_its_row_whatever_the_notification_id_holds(
    console: Console,
) -> None:
    # Notification ids are "<sequence>.<candidate>.<step>-<n>": "#n-s1.c1.1-0" is no valid
    # CSS selector (the browser threw and sent nothing), so the button names its row instead.
    client, api = console
    marked = Principal(tenant_id="acme", user_id="mark", roles=frozenset({"marketer"}))
    note = {
        "id": "s1.c1.1-0",
        "candidate_id": "c1",
        "sequence_id": "s1",
        "enrolment_id": "e1",
        "title": "Zoë opened the mail",
        "body": None,
        "created_at": "2026-12-03T08:00:00Z",
        "read_at": None,
    }
    api.answer("GET", "/api/v1/notifications", body={"items": [note], "next_cursor": None})
    page = await client.get("/console/notifications", headers=gateway_headers(marked))
    parsed = _Elements()
    parsed.feed(page.text)
    [(_, button, around)] = [
        (tag, attrs, around)
        for tag, attrs, around in parsed.found
        if attrs.get("hx-post") == "/console/notifications/s1.c1.1-0/read"
    ]
    assert button["hx-target"] == "closest li"
    assert button["hx-swap"] == "outerHTML"
    nearest_li = [attrs for tag, attrs in around if tag == "li"][-1]
    assert nearest_li["id"] == "n-s1.c1.1-0"  # the row the answer replaces


def test_no_template_selects_an_element_by_an_id_built_from_data() -> None:
    # An id from data ("#n-{{ n.id }}") breaks as a selector once it holds a dot, a colon or
    # the like; targets are fixed ids or relative ("closest li", "this").
    templates = files("crm_console") / "templates"
    selector = re.compile(r'(?:hx-target|hx-include|hx-select|hx-indicator|data-remove)="([^"]*)"')
    offending = []
    stack = [templates]
    while stack:
        entry = stack.pop()
        if entry.is_dir():
            stack.extend(entry.iterdir())
        elif entry.name.endswith(".html"):
            for value in selector.findall(entry.read_text(encoding="utf-8")):
                if "{{" in value or "{%" in value:
                    offending.append((entry.name, value))
    assert offending == []

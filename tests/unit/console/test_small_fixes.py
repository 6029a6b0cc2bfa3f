"""Small console fixes: the favicon, a composer a role may not use, plural units (where
signing out lands: test_signing_out.py)."""

from __future__ import annotations

import re

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

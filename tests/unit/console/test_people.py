"""Who did something is shown by name, the members read once per page: the lookup's rules and
the pages that name people (profile, notes, audit log), against a stand-in API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crm_console.domain.people import people_from
from crm_shared import Principal
from unit.console.test_campaigns import broadcast
from unit.console.test_candidates import ADMIN, answer_profile, candidate
from unit.console.test_pages import Api, console, gateway_headers, htmx_headers, with_lazy_parts

pytestmark = pytest.mark.unit
__all__ = ["console"]

Console = tuple[httpx.AsyncClient, Api]
MEMBERS: dict[str, Any] = {
    "items": [
        {"user_id": "usr_rita", "name": "Rita Ruiz"},
        {"user_id": "usr_bo", "name": "Bo Berg"},
        {"user_id": "usr_new", "name": ""},  # invited, no name yet
    ]
}
NOTES: dict[str, Any] = {
    "items": [
        {"id": f"n{i}", "author_id": author, "body": f"note {i}", "created_at": "2026-11-03"}
        for i, author in enumerate(["usr_rita", "usr_bo", "usr_rita", "usr_gone"])
    ],
    "next_cursor": None,
}


def test_a_member_is_known_by_name_and_an_unknown_id_stays_an_id() -> None:
    people = people_from(MEMBERS["items"], "usr_ada", "Ada Admin")
    assert people.name("usr_rita") == "Rita Ruiz"
    assert people.name("usr_bo") == "Bo Berg"
    assert people.name("usr_new") == "usr_new"
    assert people.name("usr_ada") == "Ada Admin"
    assert people.name("key_123") == "key_123"
    assert not people.knows("key_123")
    assert people.name(None) == ""


def test_a_viewer_whose_name_is_unknown_is_not_named_by_their_id() -> None:
    assert not people_from([], "usr_ada", "usr_ada").knows("usr_ada")


async def test_the_profile_names_note_authors_and_the_owner_from_one_member_read(
    console: Console,
) -> None:
    client, api = console
    answer_profile(api, **{"/api/v1/candidates/c1/notes": NOTES})
    api.answer("GET", "/api/v1/candidates/c1", body=candidate(owner_id="usr_bo"))
    api.answer("GET", "/api/v1/team", body=MEMBERS)
    page = await with_lazy_parts(client, "/console/candidates/c1", ADMIN)
    assert page.status_code == 200, page.text
    assert page.text.count('<span class="person" title="usr_rita">Rita Ruiz</span>') == 2
    assert '<dd data-testid="owner"><span class="person" title="usr_bo">Bo Berg</span>' in (
        page.text
    )
    # Someone no longer a member keeps their id.
    assert "usr_gone ·" in page.text
    # Once for the page and every panel that names people (consents, notes, sequences: the
    # session's read of a moment ago), however many rows name someone.
    assert [c.url.path for c in api.calls].count("/api/v1/team") == 1


async def test_a_recruiter_sees_colleagues_by_name_from_the_team_list(
    console: Console,
) -> None:
    client, api = console
    answer_profile(api, **{"/api/v1/candidates/c1/notes": NOTES})
    api.answer("GET", "/api/v1/team", body=MEMBERS)
    bo = Principal(tenant_id="acme", user_id="usr_bo", roles=frozenset({"recruiter"}))
    page = await with_lazy_parts(client, "/console/candidates/c1", bo)
    assert page.status_code == 200, page.text
    assert page.text.count('title="usr_rita">Rita Ruiz</span>') == 2
    assert "/api/v1/users" not in [c.url.path for c in api.calls]  # the admins' list


async def test_a_member_list_that_cannot_be_read_leaves_the_ids_and_the_page_renders(
    console: Console,
) -> None:
    client, api = console
    answer_profile(api, **{"/api/v1/candidates/c1/notes": NOTES})
    api.answer("GET", "/api/v1/team", 503, {"title": "Unavailable", "status": 503})
    page = await with_lazy_parts(client, "/console/candidates/c1", ADMIN)
    assert page.status_code == 200, page.text
    assert "usr_rita ·" in page.text
    # A failed read is not kept: each part asks again, and names people once it answers.
    assert [c.url.path for c in api.calls].count("/api/v1/team") == 4
    api.answer("GET", "/api/v1/team", body=MEMBERS)
    notes = await client.get("/console/candidates/c1/panels/notes", headers=htmx_headers(ADMIN))
    assert 'title="usr_rita">Rita Ruiz</span>' in notes.text


async def test_the_audit_log_names_who_acted(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/team", body=MEMBERS)
    api.answer(
        "GET",
        "/api/v1/audit",
        body={
            "items": [
                {
                    "id": f"a{i}",
                    "occurred_at": "2026-12-01T10:00:00+00:00",
                    "actor_kind": kind,
                    "actor_id": actor,
                    "action": "candidates.update",
                    "outcome": "allowed",
                    "method": "PATCH",
                    "path": "/api/v1/candidates/c1",
                    "status": 200,
                    "resource": {"candidate_id": "c1"},
                }
                for i, (kind, actor) in enumerate([("user", "usr_rita"), ("api_key", "key_9")])
            ],
            "next_cursor": None,
        },
    )
    page = await client.get("/console/settings/audit", headers=htmx_headers(ADMIN))
    assert page.status_code == 200, page.text
    rita = '<span class="person" title="usr_rita">Rita Ruiz</span>'
    assert f'user: <a href="/console/settings/audit?actor=usr_rita">{rita}' in page.text
    assert 'api key: <a href="/console/settings/audit?actor=key_9">key_9<' in page.text
    assert [c.url.path for c in api.calls].count("/api/v1/team") == 1


async def test_an_import_and_a_broadcast_name_who_started_them(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/team", body=MEMBERS)
    job: dict[str, Any] = {
        "id": "imp9",
        "status": "running",
        "source": "sourced",
        "tags": [],
        "mapping": {"a": "first_name"},
        "created_at": "2026-12-01T10:00:00Z",
        "created_by": "usr_rita",
        "counts": {"rows_read": 200, "rows_processed": 50},
        "error": None,
    }
    api.answer("GET", "/api/v1/imports/imp9", body=job)
    api.answer("GET", "/api/v1/imports", body={"items": [job], "next_cursor": None})
    person = '<span class="person" title="usr_rita">Rita Ruiz</span>'
    detail = await client.get("/console/imports/imp9", headers=gateway_headers(ADMIN))
    assert f"Started by {person}" in detail.text
    listing = await client.get("/console/imports", headers=gateway_headers(ADMIN))
    assert f"<td>{person}</td>" in listing.text

    api.answer(
        "GET",
        "/api/v1/broadcasts/b1",
        body=broadcast("sending") | {"created_by": "usr_rita"},
    )
    page = await client.get("/console/broadcasts/b1", headers=gateway_headers(ADMIN))
    assert page.status_code == 200, page.text
    assert f" by {person}</dd>" in page.text

"""Putting people who are in no pool into one: the candidate list's selection with the bulk
actions (the board's, shared), and "Add to pool" on a profile; the API answered by a stand-in
(the real API in a browser: tests/e2e/test_console_fixes.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from crm_console.domain.pools import BulkRequest, bulk_summary
from crm_shared import Principal
from unit.console.test_candidates import answer_profile, candidate
from unit.console.test_pages import Api, gateway_headers, htmx_headers, with_lazy_parts
from unit.console.test_pages import console as console

pytestmark = pytest.mark.unit

Console = tuple[httpx.AsyncClient, Api]
ADMIN = Principal(tenant_id="acme", user_id="ada", roles=frozenset({"admin"}))
POOLS = [
    {"id": "p1", "name": "Backend", "stages": ["New", "Screen"]},
    {"id": "p2", "name": "Design", "stages": ["Lead", "Talked"]},
]


def form_headers() -> dict[str, str]:
    """Minted per call: an internal token expires in 60 s."""
    return {**htmx_headers(), "content-type": "application/x-www-form-urlencoded"}


def list_api(api: Api) -> None:
    api.answer(
        "GET",
        "/api/v1/candidates",
        body={
            "items": [candidate("c1"), candidate("c2", first_name="Bo", last_name="Li")],
            "next_cursor": None,
        },
    )
    api.answer("GET", "/api/v1/pools", body=POOLS)
    api.answer("GET", "/api/v1/segments", body=[])
    api.answer(
        "GET",
        "/api/v1/sequences",
        body=[
            {"id": "s1", "name": "Nurture", "status": "active"},
            {"id": "s2", "name": "Retired", "status": "archived"},
        ],
    )


async def test_the_list_has_a_selection_with_the_bulk_actions(console: Console) -> None:
    client, api = console
    list_api(api)
    page = await client.get("/console/candidates", headers=gateway_headers(ADMIN))
    assert page.status_code == 200, page.text
    text = page.text
    # A checkbox per row (with the name beside it) and "select all on this page".
    for candidate_id, name in (("c1", "Zoë Ångström"), ("c2", "Bo Li")):
        assert (
            f'<input type="checkbox" id="pick-{candidate_id}" name="candidate_ids" '
            f'value="{candidate_id}" form="bulk-form">'
        ) in text
        assert f'name="name.{candidate_id}" value="{name}" form="bulk-form"' in text
    assert 'id="pick-all" data-select-all="candidate_ids"' in text
    # Enter in Tags adds the tags (the form's default button), not the first action's pool.
    form = text.split('<form id="bulk-form"', 1)[1]
    first_button = form[form.index("<button") :].split(">", 1)[0]
    assert 'name="action" value="tag"' in first_button
    # The bulk form posts to the list's route and offers every pool at each stage, tags and
    # the sequences one may enrol in.
    assert 'hx-post="/console/candidates/bulk"' in text
    assert '<option value="p1">Backend: New</option>' in text
    assert '<option value="p2::Talked">Design: Talked</option>' in text
    assert 'id="bulk-tags"' in text
    assert "Nurture" in text
    assert "Retired" not in text
    # Ticking a row or choosing in the bulk form does not search again (and lose the ticks):
    # the search listens to the filters' own fields only.
    assert "from:input" not in text
    assert "from:select" not in text
    assert "from:(#candidate-filters input)" in text
    # The pools are read once, for the filter and the bulk actions alike.
    assert len([c for c in api.calls if c.url.path == "/api/v1/pools"]) == 1


async def test_a_viewer_gets_the_list_without_a_selection(console: Console) -> None:
    client, api = console
    list_api(api)
    viewer = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
    page = await client.get("/console/candidates", headers=gateway_headers(viewer))
    assert page.status_code == 200
    assert 'type="checkbox"' not in page.text
    assert 'id="bulk-form"' not in page.text
    assert not [c for c in api.calls if c.url.path == "/api/v1/sequences"]


async def test_the_selection_is_added_to_a_pool_at_a_stage_and_who_failed_is_named(
    console: Console,
) -> None:
    client, api = console
    list_api(api)
    api.answer(
        "POST",
        "/api/v1/pools/p2/members/bulk",
        body={"added": ["c1"], "already_members": [], "not_active": ["c2"], "unknown": ["c3"]},
    )
    form = {
        "action": "add_to_pool",
        "target_pool": "p2::Talked",
        "candidate_ids": ["c1", "c2", "c3"],
        "name.c1": "Zoë Ångström",
        "name.c2": "Bo Li",
    }
    answer = await client.post(
        "/console/candidates/bulk", content=str(httpx.QueryParams(form)), headers=form_headers()
    )
    assert answer.status_code == 200, answer.text
    [call] = [c for c in api.calls if c.method == "POST"]
    assert call.url.path == "/api/v1/pools/p2/members/bulk"
    assert json.loads(call.content) == {"candidate_ids": ["c1", "c2", "c3"], "stage": "Talked"}
    assert "1 of 3 selected candidates added; the selection is cleared." in answer.text
    assert "1 candidate added to “Design” at Talked" in answer.text
    assert "1 candidate archived or merged, not added: Bo Li" in answer.text
    # Someone the page did not name keeps their id.
    assert "1 candidate unknown, not added: c3" in answer.text
    # Their boxes, and "select all", are unticked on the page.
    assert 'id="pick-c1" name="candidate_ids" value="c1" form="bulk-form" hx-swap-oob="true"' in (
        answer.text
    )
    assert 'id="pick-all" data-select-all="candidate_ids"' in answer.text


async def test_an_empty_selection_is_explained_before_the_api_is_asked(console: Console) -> None:
    client, api = console
    list_api(api)
    answer = await client.post(
        "/console/candidates/bulk",
        content=str(httpx.QueryParams({"action": "tag", "tags": "x"})),
        headers=form_headers(),
    )
    assert answer.status_code == 422
    assert "Select at least one candidate in the list" in answer.text
    assert not [c for c in api.calls if c.method == "POST"]


@pytest.mark.parametrize(
    ("action", "path", "body"),
    [
        ("tag", "/api/v1/candidates/tags", {"candidate_ids": ["c1"], "tags": ["q1"]}),
        ("enrol", "/api/v1/sequences/s1/enrolments", {"candidate_ids": ["c1"]}),
    ],
)
async def test_the_selection_is_tagged_or_enrolled_with_one_call(
    console: Console, action: str, path: str, body: dict[str, Any]
) -> None:
    client, api = console
    list_api(api)
    api.answer("POST", "/api/v1/candidates/tags", body={"tagged": ["c1"]})
    api.answer(
        "POST",
        "/api/v1/sequences/s1/enrolments",
        body={"enrolled": [{"id": "e1"}], "refused": []},
    )
    form = {"action": action, "tags": "q1", "sequence_id": "s1", "candidate_ids": "c1"}
    answer = await client.post(
        "/console/candidates/bulk", content=str(httpx.QueryParams(form)), headers=form_headers()
    )
    assert answer.status_code == 200, answer.text
    [call] = [c for c in api.calls if c.method == "POST"]
    assert (call.url.path, json.loads(call.content)) == (path, body)


def test_who_was_not_acted_on_is_named_and_the_stage_read_from_the_choice() -> None:
    request = BulkRequest.from_form(
        {"action": "add_to_pool", "target_pool": "p1::Screen", "name.c1": "Ana", "name.x": "X"},
        ["c1"],
    )
    assert (request.pool_id, request.stage, request.names) == ("p1", "Screen", {"c1": "Ana"})
    assert request.target_value == "p1::Screen"
    first = BulkRequest.from_form({"action": "add_to_pool", "target_pool": "p1"}, ["c1"])
    assert (first.pool_id, first.stage) == ("p1", "")
    assert bulk_summary(
        "enrol",
        {"enrolled": [], "refused": [{"candidate_id": "c1", "reason": "already_active"}]},
        "“S”",
        {"c1": "Ana"},
    ) == ["1 candidate not enrolled: enrolled already: Ana"]


async def test_the_profile_offers_add_to_pool_and_shows_what_became_of_it(
    console: Console,
) -> None:
    client, api = console
    answer_profile(api)
    api.answer("GET", "/api/v1/pools", body=POOLS)
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200, page.text
    assert 'hx-post="/console/candidates/c1/pools"' in page.text
    assert '<option value="p2::Talked">Design: Talked</option>' in page.text
    # The pool the person is in already (p1, at Screen) is not offered: a move is the board's.
    add_form = page.text.split('data-testid="add-to-pool"')[1].split("</form>")[0]
    assert 'value="p1' not in add_form
    assert '<optgroup label="Backend">' not in add_form
    # Added: the panel comes back with the placements read again and the outcome.
    api.answer("POST", "/api/v1/pools/p2/members/bulk", body={"added": ["c1"]})
    api.answer(
        "GET",
        "/api/v1/candidates/c1",
        body=candidate(pools=[{"pool_id": "p2", "stage": "Talked"}]),
    )
    panel = await client.post(
        "/console/candidates/c1/pools",
        data={"target_pool": "p2::Talked", "name.c1": "Zoë Ångström"},
        headers=htmx_headers(),
    )
    assert panel.status_code == 200, panel.text
    [call] = [c for c in api.calls if c.method == "POST"]
    assert call.url.path == "/api/v1/pools/p2/members/bulk"
    assert json.loads(call.content) == {"candidate_ids": ["c1"], "stage": "Talked"}
    assert "1 candidate added to “Design” at Talked" in panel.text
    assert '<a href="/console/pools/p2">Design</a> · Talked' in panel.text
    # Now in Design (and out of Backend, as the record read again says): Backend is offered.
    assert '<optgroup label="Design">' not in panel.text
    assert '<option value="p1">Backend: New</option>' in panel.text
    # A member already says so, naming the person.
    api.answer("POST", "/api/v1/pools/p2/members/bulk", body={"already_members": ["c1"]})
    again = await client.post(
        "/console/candidates/c1/pools",
        data={"target_pool": "p2", "name.c1": "Zoë Ångström"},
        headers=htmx_headers(),
    )
    assert "1 candidate in “Design” already: Zoë Ångström" in again.text


async def test_a_person_in_every_pool_is_offered_none(console: Console) -> None:
    client, api = console
    answer_profile(api)  # one pool, Backend engineers, the person in it at Screen
    page = await with_lazy_parts(client, "/console/candidates/c1")
    assert page.status_code == 200, page.text
    assert 'data-testid="add-to-pool"' not in page.text
    assert "In every talent pool already." in page.text


async def test_add_to_pool_without_a_pool_or_refused_says_why(console: Console) -> None:
    client, api = console
    answer_profile(api)
    api.answer("GET", "/api/v1/pools", body=POOLS)
    empty = await client.post("/console/candidates/c1/pools", data={}, headers=htmx_headers())
    assert empty.status_code == 422
    assert 'id="e-add-pool">Choose the pool to add them to</p>' in empty.text
    assert not [c for c in api.calls if c.method == "POST"]
    api.answer(
        "POST",
        "/api/v1/pools/p2/members/bulk",
        404,
        {"title": "Not Found", "status": 404, "detail": "no stage Nope in pool p2"},
    )
    refused = await client.post(
        "/console/candidates/c1/pools", data={"target_pool": "p2::Nope"}, headers=htmx_headers()
    )
    assert refused.status_code == 404
    assert "no stage Nope in pool p2" in refused.text


async def test_a_viewer_gets_no_add_to_pool(console: Console) -> None:
    client, api = console
    answer_profile(api)
    viewer = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
    page = await with_lazy_parts(client, "/console/candidates/c1", viewer)
    assert page.status_code == 200
    assert '/pools"' not in page.text.split('id="profile-pools"')[1].split("</div>")[0]
    assert 'data-testid="add-to-pool"' not in page.text

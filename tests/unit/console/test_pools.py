"""The talent pool pages in-process, the API answered by a stand-in: the list and a new pool,
the board by stage, moves, and actions on a selection (the real API:
tests/e2e/test_console_pools.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from crm_console.domain.pools import (
    BulkRequest,
    StageRow,
    board_columns,
    bulk_headline,
    bulk_summary,
    stage_rows,
    stages_from_text,
    stages_with,
)
from crm_shared import Principal
from unit.console.test_pages import Api, gateway_headers, htmx_headers
from unit.console.test_pages import console as console

pytestmark = pytest.mark.unit

Console = tuple[httpx.AsyncClient, Api]
POOL = {
    "id": "p1",
    "name": "Backend",
    "description": "Senior backend engineers",
    "stages": ["New", "Contacted", "Hired"],
    "member_counts": {"New": 2, "Contacted": 1},
    "version": 4,
}


def member(candidate_id: str, first: str, stage: str, title: str | None = None) -> dict[str, Any]:
    return {
        "pool_id": "p1",
        "candidate_id": candidate_id,
        "stage": stage,
        "candidate": {
            "id": candidate_id,
            "first_name": first,
            "last_name": "Ødegård",
            "current_title": title,
            "current_company": "Acme" if title else None,
        },
    }


MEMBERS: dict[str, Any] = {
    "items": [
        member("c1", "Zoë", "New"),
        member("c2", "Ana", "New", "Engineer"),
        member("c3", "Bo", "Contacted"),
    ],
    "next_cursor": None,
}
SEQUENCES = [
    {"id": "s1", "name": "Nurture", "status": "active"},
    {"id": "s2", "name": "Old", "status": "archived"},
]


def board_api(api: Api) -> None:
    api.answer("GET", "/api/v1/pools/p1", body=POOL)
    api.answer("GET", "/api/v1/pools/p1/members", body=MEMBERS)
    api.answer("GET", "/api/v1/pools", body=[POOL, {**POOL, "id": "p2", "name": "Design"}])
    api.answer("GET", "/api/v1/sequences", body=SEQUENCES)


def column_of(html: str, stage: str) -> str:
    [column] = re.findall(
        rf'<section class="board-column"[^>]*>\s*<h2[^>]*>{stage} .*?</section>', html, re.S
    )
    return str(column)


async def test_the_list_shows_every_pool_with_its_stages_and_the_new_pool_form(
    console: Console,
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools", body=[POOL])
    page = await client.get("/console/pools", headers=gateway_headers())
    assert page.status_code == 200
    assert 'href="/console/pools/p1"' in page.text
    assert "New 2 · Contacted 1 · Hired 0" in page.text
    assert 'id="pool-form"' in page.text
    # The browser keeps to the API's limits (the macro escapes quotes given in `attrs`).
    assert 'name="name" type="text" value="" required aria-describedby="" maxlength=200>' in (
        page.text
    )
    assert "&quot;" not in page.text.split('id="pool-form"', 1)[1]


async def test_a_viewer_sees_the_pools_without_the_form(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools", body=[POOL])
    viewer = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
    page = await client.get("/console/pools", headers=gateway_headers(viewer))
    assert page.status_code == 200
    assert "Backend" in page.text
    assert 'id="pool-form"' not in page.text


async def test_a_new_pool_is_created_with_its_stages_and_its_board_opened(
    console: Console,
) -> None:
    client, api = console
    api.answer("POST", "/api/v1/pools", 201, {**POOL, "id": "p9"})
    answer = await client.post(
        "/console/pools",
        data={"name": " Data ", "stages": "New\r\nPhone screen, Onsite\n\n", "description": ""},
        headers=htmx_headers(),
    )
    assert answer.status_code == 204
    assert answer.headers["hx-redirect"] == "/console/pools/p9"
    [call] = api.calls
    assert json.loads(call.content) == {
        "name": "Data",
        "stages": ["New", "Phone screen", "Onsite"],
        "description": None,
    }


async def test_a_refused_pool_shows_the_apis_reasons_at_the_fields(console: Console) -> None:
    client, api = console
    api.answer(
        "POST",
        "/api/v1/pools",
        422,
        {
            "title": "Unprocessable Content",
            "status": 422,
            "detail": "invalid pool stages",
            "errors": [{"field": "stages.1", "detail": "stage names must differ"}],
        },
    )
    form = await client.post(
        "/console/pools", data={"name": "Data", "stages": "New, new"}, headers=htmx_headers()
    )
    assert form.status_code == 422
    assert '<p class="field-error" id="e-stages">stage names must differ</p>' in form.text
    assert "New, new</textarea>" in form.text

    api.answer(
        "POST",
        "/api/v1/pools",
        409,
        {"title": "Conflict", "status": 409, "detail": "a pool named 'Data' exists"},
    )
    taken = await client.post(
        "/console/pools", data={"name": "Data", "stages": "New"}, headers=htmx_headers()
    )
    assert taken.status_code == 422
    assert 'id="e-name">a pool named &#39;Data&#39; exists</p>' in taken.text

    empty = await client.post(
        "/console/pools", data={"name": "", "stages": ""}, headers=htmx_headers()
    )
    assert "Give the pool a name" in empty.text
    assert "Name at least one stage" in empty.text


async def test_the_board_has_a_column_per_stage_and_a_card_per_member(console: Console) -> None:
    client, api = console
    board_api(api)
    page = await client.get("/console/pools/p1", headers=gateway_headers())
    assert page.status_code == 200, page.text
    new = column_of(page.text, "New")
    # Sorted by name, each with its stage selected and a checkbox of the bulk form.
    assert new.index("Ana Ødegård") < new.index("Zoë Ødegård")
    assert "Engineer · Acme" in new
    assert "<option selected>New</option>" in new
    assert 'name="candidate_ids" value="c1" form="bulk-form"' in new
    assert 'data-stage-count="Contacted">1<' in page.text
    assert "Nobody at this stage." in column_of(page.text, "Hired")
    # One call for the members, with the largest page.
    [members_call] = [c for c in api.calls if c.url.path == "/api/v1/pools/p1/members"]
    assert members_call.url.params["limit"] == "200"
    # Bulk choices: the other pools at each of their stages (the first is the pool alone),
    # and the sequences one may still enrol in.
    assert '<option value="p2">Design: New</option>' in page.text
    assert '<option value="p2::Contacted">Design: Contacted</option>' in page.text
    assert '<option value="p1">' not in page.text
    assert "Nurture" in page.text
    assert "Old" not in page.text


async def test_a_viewer_sees_the_board_without_moves_or_selection(console: Console) -> None:
    client, api = console
    board_api(api)
    viewer = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
    page = await client.get("/console/pools/p1", headers=gateway_headers(viewer))
    assert page.status_code == 200
    assert "Zoë Ødegård" in page.text
    assert 'type="checkbox"' not in page.text
    assert 'id="bulk-form"' not in page.text
    assert "pool-move" not in page.text


async def test_moving_a_card_returns_the_board_with_the_move_and_focus_on_it(
    console: Console,
) -> None:
    client, api = console
    board_api(api)
    api.answer("POST", "/api/v1/pools/p1/members/c1/stage", body={"stage": "Hired"})
    fragment = await client.post(
        "/console/pools/p1/members/c1/stage", data={"stage": "Hired"}, headers=htmx_headers()
    )
    assert fragment.status_code == 200
    assert '<div id="board">' in fragment.text
    assert "<html" not in fragment.text
    assert 'role="status">Moved to Hired.' in fragment.text
    assert re.search(r'id="move-c1" name="stage" autofocus', fragment.text)
    move = next(c for c in api.calls if c.method == "POST")
    assert json.loads(move.content) == {"stage": "Hired"}


async def test_a_move_answers_with_counts_that_add_up_to_the_members_shown(
    console: Console,
) -> None:
    """Another move landing while this answer is read: the pool's `member_counts` (read
    alongside, a stage at a time) still counts c1 at New while the members read has it at
    Hired. The whole pool is on the board, so its columns count their cards."""
    client, api = console
    board_api(api)
    moved = [member("c1", "Zoë", "Hired"), *MEMBERS["items"][1:]]
    api.answer("GET", "/api/v1/pools/p1/members", body={"items": moved, "next_cursor": None})
    api.answer("POST", "/api/v1/pools/p1/members/c1/stage", body={"stage": "Hired"})
    fragment = await client.post(
        "/console/pools/p1/members/c1/stage", data={"stage": "Hired"}, headers=htmx_headers()
    )
    assert fragment.status_code == 200, fragment.text
    counts = dict(re.findall(r'data-stage-count="([^"]+)">(\d+)<', fragment.text))
    assert counts == {"New": "1", "Contacted": "1", "Hired": "1"}


async def test_one_move_at_a_time_on_the_board(console: Console) -> None:
    """While a move is under way every Move button is disabled and another request from the
    board dropped: the board replaced last is the one read after the last move."""
    client, api = console
    board_api(api)
    page = await client.get("/console/pools/p1", headers=gateway_headers())
    forms = re.findall(r'<form class="pool-move"[^>]*>', page.text)
    assert len(forms) == 3
    for form in forms:
        assert 'hx-target="#board" hx-swap="outerHTML"' in form
        assert 'hx-sync="closest #board:drop"' in form
        assert 'hx-disabled-elt="#board .pool-move button"' in form


def test_a_page_of_a_larger_pool_counts_the_whole_pool() -> None:
    """Only part of the pool is on the board: the counts are the pool's, never fewer than the
    cards shown."""
    page = board_columns(POOL, [member("c1", "Zoë", "New"), member("c9", "Al", "Hired")])
    assert [(c.stage, c.count) for c in page] == [("New", 2), ("Contacted", 1), ("Hired", 1)]
    whole = board_columns(
        POOL, [member("c1", "Zoë", "New"), member("c9", "Al", "Hired")], every_member=True
    )
    assert [(c.stage, c.count) for c in whole] == [("New", 1), ("Contacted", 0), ("Hired", 1)]


async def test_a_refused_move_is_shown_at_the_card(console: Console) -> None:
    client, api = console
    board_api(api)
    api.answer(
        "POST",
        "/api/v1/pools/p1/members/c3/stage",
        409,
        {"title": "Conflict", "status": 409, "detail": "candidate c3 is archived"},
    )
    fragment = await client.post(
        "/console/pools/p1/members/c3/stage", data={"stage": "Hired"}, headers=htmx_headers()
    )
    assert fragment.status_code == 409
    assert 'id="e-move-c3">candidate c3 is archived</p>' in fragment.text
    assert 'aria-describedby="e-move-c3"' in fragment.text


@pytest.mark.parametrize(
    ("form", "path", "body", "said", "headline"),
    [
        (
            {"action": "add_to_pool", "target_pool": "p2"},
            "/api/v1/pools/p2/members/bulk",
            {"candidate_ids": ["c1", "c2"]},
            "1 candidate added to “Design”",
            "1 of 2 selected candidates added",
        ),
        (
            {"action": "tag", "tags": "shortlist, q1"},
            "/api/v1/candidates/tags",
            {"candidate_ids": ["c1", "c2"], "tags": ["shortlist", "q1"]},
            "2 candidates tagged shortlist, q1",
            "Both selected candidates tagged",
        ),
        (
            {"action": "enrol", "sequence_id": "s1"},
            "/api/v1/sequences/s1/enrolments",
            {"candidate_ids": ["c1", "c2"]},
            "1 candidate enrolled in “Nurture”",
            "1 of 2 selected candidates enrolled",
        ),
    ],
)
async def test_a_bulk_action_is_one_api_call_and_says_what_became_of_each(
    console: Console,
    form: dict[str, str],
    path: str,
    body: dict[str, Any],
    said: str,
    headline: str,
) -> None:
    client, api = console
    board_api(api)
    api.answer(
        "POST", "/api/v1/pools/p2/members/bulk", body={"added": ["c1"], "already_members": ["c2"]}
    )
    api.answer("POST", "/api/v1/candidates/tags", body={"tagged": ["c1", "c2"]})
    api.answer(
        "POST",
        "/api/v1/sequences/s1/enrolments",
        body={
            "enrolled": [{"id": "e1"}],
            "refused": [{"candidate_id": "c2", "reason": "already_active"}],
        },
    )
    fragment = await client.post(
        "/console/pools/p1/bulk",
        content=str(httpx.QueryParams({**form, "candidate_ids": ["c1", "c2", "c1"]})),
        headers={**htmx_headers(), "content-type": "application/x-www-form-urlencoded"},
    )
    assert fragment.status_code == 200, fragment.text
    assert said in fragment.text
    # How many it changed (not those it left as they were), and every box on the board
    # unticked (out of band).
    assert f"{headline}; the selection is cleared." in fragment.text
    for candidate_id in ("c1", "c2"):
        assert (
            f'<input type="checkbox" id="pick-{candidate_id}" name="candidate_ids" '
            f'value="{candidate_id}" form="bulk-form" hx-swap-oob="true">'
        ) in fragment.text
    [call] = [c for c in api.calls if c.method == "POST"]
    assert call.url.path == path
    assert json.loads(call.content) == body


async def test_a_bulk_action_without_a_selection_or_target_is_explained_at_the_field(
    console: Console,
) -> None:
    client, api = console
    board_api(api)
    fragment = await client.post(
        "/console/pools/p1/bulk", data={"action": "add_to_pool"}, headers=htmx_headers()
    )
    assert fragment.status_code == 422
    assert "Select at least one candidate on the board" in fragment.text
    assert 'id="e-target_pool">Choose the pool to add them to</p>' in fragment.text
    assert not [c for c in api.calls if c.method == "POST"]


async def test_the_apis_refusal_of_a_bulk_action_is_shown_in_the_form(console: Console) -> None:
    """A refused action keeps the selection (nothing unticked), so the person can try again."""
    client, api = console
    board_api(api)
    api.answer(
        "POST",
        "/api/v1/candidates/tags",
        403,
        {"title": "Forbidden", "status": 403, "detail": "needs candidates:write"},
    )
    fragment = await client.post(
        "/console/pools/p1/bulk",
        data={"action": "tag", "tags": "x", "candidate_ids": "c1"},
        headers=htmx_headers(),
    )
    assert fragment.status_code == 403
    assert "needs candidates:write" in fragment.text
    assert 'value="x"' in fragment.text
    assert "hx-swap-oob" not in fragment.text


def test_stages_are_read_one_per_line_or_comma_separated() -> None:
    assert stages_from_text(" New \n\nPhone  screen,Onsite,") == ["New", "Phone screen", "Onsite"]
    assert stages_from_text("  ") == []


def test_board_columns_follow_the_pools_stages_and_keep_a_renamed_stage() -> None:
    columns = board_columns(POOL, [*MEMBERS["items"], member("c4", "Cy", "Screening")])
    assert [(c.stage, c.count, [card.name for card in c.cards]) for c in columns] == [
        ("New", 2, ["Ana Ødegård", "Zoë Ødegård"]),
        ("Contacted", 1, ["Bo Ødegård"]),
        ("Hired", 0, []),
        ("Screening", 1, ["Cy Ødegård"]),
    ]
    erased = board_columns(POOL, [{"candidate_id": "c5", "stage": "New", "candidate": None}])
    assert erased[0].cards[0].name == "(erased candidate)"


def test_a_bulk_request_names_what_is_missing() -> None:
    assert BulkRequest.from_form({"action": "tag", "tags": "a"}, ["c1"]).errors() == {}
    assert BulkRequest.from_form({"action": "enrol"}, ["c1"]).errors() == {
        "sequence_id": "Choose the sequence to enrol them in"
    }
    assert BulkRequest.from_form({"action": "zap"}, [f"c{i}" for i in range(201)]).errors() == {
        "action": "Choose what to do with the selection",
        "selection": "Select at most 200 candidates at a time",
    }


def test_a_bulk_summary_accounts_for_every_candidate() -> None:
    assert bulk_summary(
        "add_to_pool",
        {"added": ["a"], "already_members": [], "not_active": ["b", "c"], "unknown": ["d"]},
        "“X”",
    ) == [
        "1 candidate added to “X”",
        "2 candidates archived or merged, not added",
        "1 candidate unknown, not added",
    ]
    assert bulk_summary("tag", {}, "t") == ["Nothing changed"]
    assert bulk_summary(
        "enrol",
        {"enrolled": [], "refused": [{"reason": "reentry_too_soon"}, {"reason": "odd"}]},
        "“S”",
    ) == [
        "1 candidate not enrolled: enrolled too recently to enrol again",
        "1 candidate not enrolled: odd",
    ]
    assert bulk_summary("enrol", {"enrolled": [], "refused": []}, "“S”") == ["Nobody was enrolled"]
    nobody = {"enrolled": [], "refused": [{"candidate_id": "c1", "reason": "already_active"}]}
    assert bulk_headline("enrol", nobody, 5) == "0 of 5 selected candidates enrolled; " + (
        "the selection is cleared."
    )
    assert bulk_headline("add_to_pool", {"added": ["c1"]}, 1) == (
        "1 of 1 selected candidate added; the selection is cleared."
    )


def test_the_editor_lists_stages_with_counts_and_only_empty_ones_may_go() -> None:
    assert stage_rows(POOL) == [
        StageRow("New", 2),
        StageRow("Contacted", 1),
        StageRow("Hired", 0),
    ]
    assert [row.deletable for row in stage_rows(POOL)] == [False, False, True]


def test_a_new_stage_goes_last_and_a_name_in_use_is_caught_before_the_api() -> None:
    assert stages_with(POOL, "  Phone   screen ") == (
        ["New", "Contacted", "Hired", "Phone screen"],
        None,
    )
    assert stages_with(POOL, "hired")[1] == "The pool has a stage “hired” already"
    assert stages_with(POOL, "  ")[1] == "Type the new stage's name"


async def test_the_board_links_its_editor_for_who_may_change_pools(console: Console) -> None:
    client, api = console
    board_api(api)
    page = await client.get("/console/pools/p1", headers=gateway_headers())
    assert 'href="/console/pools/p1/edit"' in page.text
    viewer = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))
    page = await client.get("/console/pools/p1", headers=gateway_headers(viewer))
    assert 'href="/console/pools/p1/edit"' not in page.text


async def test_the_editor_shows_the_name_and_each_stage_with_its_actions(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools/p1", body=POOL)
    page = await client.get("/console/pools/p1/edit", headers=gateway_headers())
    assert page.status_code == 200
    assert 'id="f-name"' in page.text
    assert 'value="Backend"' in page.text
    assert 'value="Senior backend engineers"' in page.text
    assert page.text.count('name="version" value="4"') == 3
    # Delete only on the empty stage.
    assert page.text.count('hx-post="/console/pools/p1/stages/delete"') == 1
    assert 'Delete<span class="visually-hidden"> Hired</span>' in page.text
    assert 'hx-post="/console/pools/p1/stages"' in page.text


async def test_renaming_the_pool_sends_only_its_name_and_description(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools/p1", body={**POOL, "name": "Platform"})
    api.answer("PATCH", "/api/v1/pools/p1", body={**POOL, "name": "Platform"})
    answer = await client.post(
        "/console/pools/p1/edit",
        data={"name": " Platform ", "description": ""},
        headers=htmx_headers(),
    )
    assert answer.status_code == 200
    assert "<html" not in answer.text
    assert "Renamed to “Platform”." in answer.text
    patch = next(call for call in api.calls if call.method == "PATCH")
    assert json.loads(patch.content) == {"name": "Platform", "description": None}


async def test_a_pool_name_in_use_is_shown_at_the_name(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools/p1", body=POOL)
    api.answer(
        "PATCH",
        "/api/v1/pools/p1",
        409,
        {"title": "Conflict", "status": 409, "detail": "a pool named 'Design' exists"},
    )
    answer = await client.post(
        "/console/pools/p1/edit", data={"name": "Design"}, headers=htmx_headers()
    )
    assert answer.status_code == 409
    assert 'id="e-name">a pool named &#39;Design&#39; exists<' in answer.text
    assert 'value="Design"' in answer.text
    assert 'role="alert"' in answer.text


async def test_a_stage_is_added_at_the_end_with_every_current_one_kept(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools/p1", body=POOL)
    api.answer("PATCH", "/api/v1/pools/p1", body=POOL)
    answer = await client.post(
        "/console/pools/p1/stages", data={"new_stage": " Offer "}, headers=htmx_headers()
    )
    assert answer.status_code == 200
    assert "Stage “Offer” added." in answer.text
    patch = next(call for call in api.calls if call.method == "PATCH")
    assert json.loads(patch.content) == {"stages": ["New", "Contacted", "Hired", "Offer"]}

    api.calls.clear()
    taken = await client.post(
        "/console/pools/p1/stages", data={"new_stage": "new"}, headers=htmx_headers()
    )
    assert taken.status_code == 422
    assert 'id="e-new_stage">The pool has a stage “new” already<' in taken.text
    assert all(call.method == "GET" for call in api.calls)


async def test_the_apis_refusal_of_a_new_stage_is_shown_at_its_field(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools/p1", body=POOL)
    api.answer(
        "PATCH",
        "/api/v1/pools/p1",
        422,
        {
            "title": "Request validation failed",
            "status": 422,
            "errors": [{"field": "body.stages.3", "detail": "at most 100 characters"}],
        },
    )
    answer = await client.post(
        "/console/pools/p1/stages", data={"new_stage": "x" * 101}, headers=htmx_headers()
    )
    assert answer.status_code == 422
    assert 'id="e-new_stage">at most 100 characters<' in answer.text


async def test_a_stage_is_renamed_from_the_version_shown(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools/p1", body=POOL)
    api.answer("PATCH", "/api/v1/pools/p1/stages/Phone screen", body=POOL)
    answer = await client.post(
        "/console/pools/p1/stages/rename",
        data={"stage": "Phone screen", "name": " Call ", "version": "4"},
        headers=htmx_headers(),
    )
    assert answer.status_code == 200
    assert "Stage “Phone screen” renamed to “Call”." in answer.text
    patch = next(call for call in api.calls if call.method == "PATCH")
    assert patch.url.raw_path == b"/api/v1/pools/p1/stages/Phone%20screen"
    assert patch.headers["if-match"] == '"4"'
    assert json.loads(patch.content) == {"name": "Call"}


@pytest.mark.parametrize(
    ("status", "detail", "shown"),
    [
        (409, "the pool has a stage 'Hired' already", "the pool has a stage &#39;Hired&#39;"),
        (412, "the pool changed", "Someone changed the pool meanwhile"),
    ],
)
async def test_a_refused_stage_rename_is_shown_in_its_row(
    console: Console, status: int, detail: str, shown: str
) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools/p1", body=POOL)
    api.answer(
        "PATCH",
        "/api/v1/pools/p1/stages/New",
        status,
        {"title": "Refused", "status": status, "detail": detail},
    )
    answer = await client.post(
        "/console/pools/p1/stages/rename",
        data={"stage": "New", "name": "Hired", "version": "4"},
        headers=htmx_headers(),
    )
    assert answer.status_code == status
    row_error = re.search(r'<p class="field-error" id="e-stage-1">([^<]*)<', answer.text)
    assert row_error is not None
    assert shown in row_error.group(1)
    assert 'aria-describedby="e-stage-1"' in answer.text


async def test_an_empty_stage_is_deleted_and_a_refusal_shows_its_reason(console: Console) -> None:
    client, api = console
    api.answer("GET", "/api/v1/pools/p1", body=POOL)
    api.answer("DELETE", "/api/v1/pools/p1/stages/Hired", body=POOL)
    answer = await client.post(
        "/console/pools/p1/stages/delete", data={"stage": "Hired"}, headers=htmx_headers()
    )
    assert answer.status_code == 200
    assert "Stage “Hired” deleted." in answer.text
    assert any(call.method == "DELETE" for call in api.calls)

    api.answer(
        "DELETE",
        "/api/v1/pools/p1/stages/Hired",
        409,
        {
            "title": "Conflict",
            "status": 409,
            "detail": "stage 'Hired' is used by segment 'Hired 2026'; change those rules first",
        },
    )
    refused = await client.post(
        "/console/pools/p1/stages/delete", data={"stage": "Hired"}, headers=htmx_headers()
    )
    assert refused.status_code == 409
    assert 'id="e-stage-3">stage &#39;Hired&#39; is used by segment' in refused.text

"""Actions on a selection of candidates through the gateway: add to a pool, tag."""

from __future__ import annotations

import pytest

from helpers import unique
from integration.flow.conftest import ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration


async def _candidate(stack: Stack, token: str, name: str, **fields: object) -> str:
    created = await stack.gateway.post(
        "/api/v1/candidates",
        json={"first_name": name, "last_name": "Bulk", "emails": [f"{unique(name)}@x.org"]}
        | fields,
        headers=stack.as_(token),
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_a_selection_is_added_to_a_pool_and_each_id_is_accounted_for(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    pool = (
        await stack.gateway.post(
            "/api/v1/pools",
            json={"name": unique("Bulk pool"), "stages": ["New", "Contacted"]},
            headers=auth,
        )
    ).json()
    ana, bo, gone = [await _candidate(stack, ACME_TOKEN, n) for n in ("Ana", "Bo", "Gone")]
    first = await stack.gateway.post(
        f"/api/v1/pools/{pool['id']}/members", json={"candidate_id": ana}, headers=auth
    )
    assert first.status_code == 201
    assert (
        await stack.gateway.delete(f"/api/v1/candidates/{gone}", headers=auth)
    ).status_code == 204
    foreign = await _candidate(stack, GLOBEX_TOKEN, "Foreign")

    answer = await stack.gateway.post(
        f"/api/v1/pools/{pool['id']}/members/bulk",
        json={"candidate_ids": [ana, bo, bo, gone, foreign], "stage": "contacted"},
        headers=auth,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "added": [bo],
        "already_members": [ana],
        "unknown": [foreign],
        "not_active": [gone],
        "member_counts": {"New": 1, "Contacted": 1},
    }
    member = await stack.gateway.get(f"/api/v1/pools/{pool['id']}/members/{bo}", headers=auth)
    assert member.json()["stage"] == "Contacted"

    unknown_stage = await stack.gateway.post(
        f"/api/v1/pools/{pool['id']}/members/bulk",
        json={"candidate_ids": [bo], "stage": "Hired"},
        headers=auth,
    )
    assert unknown_stage.status_code == 422
    too_many = await stack.gateway.post(
        f"/api/v1/pools/{pool['id']}/members/bulk",
        json={"candidate_ids": [f"c{i}" for i in range(201)]},
        headers=auth,
    )
    assert too_many.status_code == 422


async def test_a_selection_is_tagged_once_whatever_the_case(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    tag = unique("Berlin")
    ana = await _candidate(stack, ACME_TOKEN, "Ana", tags=[tag.lower()])
    bo = await _candidate(stack, ACME_TOKEN, "Bo", tags=["keep"])
    answer = await stack.gateway.post(
        "/api/v1/candidates/tags",
        json={"candidate_ids": [ana, bo, "nobody"], "tags": [tag]},
        headers=auth,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "tagged": [bo],
        "already_tagged": [ana],
        "unknown": ["nobody"],
        "not_active": [],
    }
    bo_now = (await stack.gateway.get(f"/api/v1/candidates/{bo}", headers=auth)).json()
    assert bo_now["tags"] == ["keep", tag]
    viewer = await stack.gateway.post(
        "/api/v1/candidates/tags",
        json={"candidate_ids": [ana], "tags": ["x"]},
        headers=stack.as_(GLOBEX_TOKEN),
    )
    assert viewer.json()["unknown"] == [ana]

"""Tenant settings reach where a recruiter looks: the skill vocabulary applies to segment rules
and skill searches (and a vocabulary change keeps the segments naming the old spelling), and a
segment rule may name only custom fields the tenant has. (The vocabulary is tenant-wide: each
test puts Acme's back.)"""

from __future__ import annotations

from typing import Any

import pytest

from helpers import eventually, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("acme_vocabulary_restored")]

JAVASCRIPT = {"canonical": "JavaScript", "synonyms": ["JS"]}


def person(tag: str, **fields: Any) -> dict[str, Any]:
    return {"first_name": "Set", "last_name": tag, "emails": [f"{tag}@example.org"], **fields}


async def create(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    response = await stack.gateway.post(
        "/api/v1/candidates", json=body, headers=stack.as_(ACME_TOKEN)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def put_vocabulary(stack: Stack, *skills: dict[str, Any]) -> dict[str, Any]:
    saved = await stack.gateway.put(
        "/api/v1/skills/vocabulary",
        json={"skills": list(skills)},
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert saved.status_code == 200, saved.text
    body: dict[str, Any] = saved.json()
    return body


async def respelled(stack: Stack) -> None:
    async def done() -> bool:
        response = await stack.gateway.get(
            "/api/v1/skills/vocabulary/progress", headers=stack.as_(ACME_TOKEN)
        )
        return bool(response.status_code == 200 and response.json()["status"] == "completed")

    await eventually(done, message="the stored skills were not re-spelled")


async def ready_members(stack: Stack, segment_id: str) -> list[str]:
    auth = stack.as_(ACME_TOKEN)

    async def ready() -> bool:
        found = await stack.gateway.get(f"/api/v1/segments/{segment_id}", headers=auth)
        return bool(found.json()["status"] == "ready")

    await eventually(ready, message="the segment's evaluation did not finish")
    members = await stack.gateway.get(f"/api/v1/segments/{segment_id}/members", headers=auth)
    return [member["id"] for member in members.json()["items"]]


async def test_a_synonym_finds_the_canonical_skill_in_segments_and_searches(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    await put_vocabulary(stack, JAVASCRIPT)
    tag = unique("js")
    candidate = await create(stack, person(tag, skills=["JS"], tags=[tag]))
    assert candidate["skills"] == ["javascript"]

    rule = {
        "all": [
            {"field": "skills", "op": "equals", "value": "JS"},
            {"field": "skills", "op": "in", "value": ["Java Script", "js", "Go"]},
            {"field": "skills", "op": "not_equals", "value": "Node"},
            {"field": "tags", "op": "equals", "value": tag},
        ]
    }
    preview = await stack.gateway.post(
        "/api/v1/segments/preview", json={"rule": rule}, headers=auth
    )
    assert preview.status_code == 200, preview.text
    assert [c["id"] for c in preview.json()["sample"]] == [candidate["id"]]
    created = await stack.gateway.post(
        "/api/v1/segments", json={"name": unique("js people"), "rule": rule}, headers=auth
    )
    assert created.status_code == 201, created.text
    # Stored and shown in the spelling candidates' skills are stored in.
    assert created.json()["rule"]["all"][:3] == [
        {"field": "skills", "op": "equals", "value": "javascript"},
        {"field": "skills", "op": "in", "value": ["javascript", "go"]},
        {"field": "skills", "op": "not_equals", "value": "node"},
    ]
    assert await ready_members(stack, created.json()["id"]) == [candidate["id"]]

    for spelling in ("JS", "javascript", "Java-Script"):
        found = await stack.gateway.get(
            "/api/v1/candidates", params={"skill": spelling, "tag": tag}, headers=auth
        )
        assert found.status_code == 200, found.text
        assert [c["id"] for c in found.json()["items"]] == [candidate["id"]], spelling


async def test_a_vocabulary_change_re_spells_the_segment_rules_naming_old_spellings(
    stack: Stack,
) -> None:
    auth = stack.as_(ACME_TOKEN)
    await put_vocabulary(stack, JAVASCRIPT)
    await respelled(stack)
    tag = unique("spark")
    candidate = await create(stack, person(tag, skills=["Spark", "SQL"], tags=[tag]))
    assert candidate["skills"] == ["spark", "sql"]
    name = unique("Data people")
    created = await stack.gateway.post(
        "/api/v1/segments",
        json={
            "name": name,
            "rule": {
                "all": [
                    {"field": "skills", "op": "in", "value": ["spark", "dbt"]},
                    {"field": "tags", "op": "equals", "value": tag},
                ]
            },
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    segment_id = created.json()["id"]
    assert await ready_members(stack, segment_id) == [candidate["id"]]

    saved = await put_vocabulary(
        stack, JAVASCRIPT, {"canonical": "Apache Spark", "synonyms": ["spark"]}
    )
    assert saved["segments_respelled"] == [name]
    segment = await stack.gateway.get(f"/api/v1/segments/{segment_id}", headers=auth)
    assert segment.json()["rule"]["all"][0]["value"] == ["apache spark", "dbt"]
    await respelled(stack)
    moved = await stack.gateway.get(f"/api/v1/candidates/{candidate['id']}", headers=auth)
    assert moved.json()["skills"] == ["apache spark", "sql"]
    # The re-spelled candidate is still a member: the segment did not shrink.
    assert await ready_members(stack, segment_id) == [candidate["id"]]
    # A vocabulary that re-spells no rule names none.
    again = await put_vocabulary(
        stack, JAVASCRIPT, {"canonical": "Apache Spark", "synonyms": ["spark"]}
    )
    assert again["segments_respelled"] == []


async def test_a_segment_rule_on_an_undefined_custom_field_is_refused(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    defined = await stack.gateway.post(
        "/api/v1/custom-fields",
        json={"key": "notice_period", "label": "Notice period", "type": "string"},
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert defined.status_code == 201, defined.text
    typo = {
        "any": [
            {"field": "tags", "op": "exists", "value": True},
            {"field": "custom_fields.notice_perod", "op": "equals", "value": "3 months"},
        ]
    }
    for path, body in (
        ("/api/v1/segments", {"name": unique("notice"), "rule": typo}),
        ("/api/v1/segments/preview", {"rule": typo}),
    ):
        refused = await stack.gateway.post(path, json=body, headers=auth)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        [error] = refused.json()["errors"]
        assert error["field"] == "rule.any.1.field"
        assert "'notice_perod'" in error["detail"]
        assert "notice_period" in error["detail"].replace("'notice_perod'", "")

    fixed = {"all": [{"field": "custom_fields.notice_period", "op": "equals", "value": "3"}]}
    created = await stack.gateway.post(
        "/api/v1/segments", json={"name": unique("notice"), "rule": fixed}, headers=auth
    )
    assert created.status_code == 201, created.text

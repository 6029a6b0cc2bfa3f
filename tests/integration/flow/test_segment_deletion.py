"""Deleting a segment through the gateway, on the real broker and database: refused while
another segment or a live sequence uses it, and once nothing does, gone at once with every
member exiting on the bus."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_shared import SEGMENT_EXITED
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_TOKEN, Stack
from integration.flow.sequencing import create_sequence

pytestmark = pytest.mark.integration


async def new_segment(stack: Stack, name: str, rule: dict[str, Any]) -> dict[str, Any]:
    created = await stack.gateway.post(
        "/api/v1/segments", headers=stack.as_(ACME_TOKEN), json={"name": name, "rule": rule}
    )
    assert created.status_code == 201, created.text
    segment: dict[str, Any] = created.json()
    return segment


async def test_a_segment_in_use_is_refused_and_an_unused_one_dissolves(
    stack: Stack, kafka_bootstrap_servers: str, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    headers = stack.as_(ACME_TOKEN)
    tag = unique("fair")
    members = []
    for first_name in ("Zoë", "Åsa"):
        created = await stack.gateway.post(
            "/api/v1/candidates",
            headers=headers,
            json={
                "first_name": first_name,
                "last_name": "Ñúñez",
                "emails": [f"{unique('c')}@example.org"],
                "tags": [tag],
            },
        )
        assert created.status_code == 201, created.text
        members.append(created.json()["id"])
    fair = await new_segment(
        stack, "Met at the fair", {"all": [{"field": "tags", "op": "equals", "value": tag}]}
    )
    url = f"/api/v1/segments/{fair['id']}"

    async def all_members() -> bool:
        listed = await stack.gateway.get(f"{url}/members", headers=headers)
        return {m["id"] for m in listed.json()["items"]} == set(members)

    await eventually(all_members, message="the segment did not fill")

    nested_name = unique("Fair, nested")
    nested = await new_segment(stack, nested_name, {"any": [{"segment": fair["id"]}]})
    refused = await stack.gateway.delete(url, headers=headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["used_by"]["segments"] == [nested_name]
    assert refused.json()["detail"].startswith(f"the segment {fair['name']!r} is used by")
    # Segments have no archive: the way out offered is to change their rules.
    assert refused.json()["detail"].endswith("change the rules of those segments first")
    assert (
        await stack.gateway.delete(f"/api/v1/segments/{nested['id']}", headers=headers)
    ).status_code == 204

    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "segment_entered", "segment_id": fair["id"]},
        steps=[{"type": "wait", "days": 30}],
        enrol_current_members=False,
    )

    # The candidates service learns of the sequence from `sequence.saved` (within a second).
    references = mongo[stack.candidates_database]["sequence_references"]

    async def known() -> bool:
        return await references.find_one({"_id": sequence["id"]}) is not None

    await eventually(known, message="sequence.saved did not reach the candidates service")
    refused = await stack.gateway.delete(url, headers=headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["used_by"]["sequences"] == [sequence["name"]]
    assert sequence["name"] in refused.json()["detail"]
    archived = await stack.gateway.delete(f"/api/v1/sequences/{sequence['id']}", headers=headers)
    assert archived.status_code == 204, archived.text

    async def deleted() -> bool:
        response = await stack.gateway.delete(url, headers=headers)
        assert response.status_code in (204, 409), response.text
        return response.status_code == 204

    await eventually(deleted, message="the segment of an archived sequence stayed undeletable")
    assert (await stack.gateway.get(url, headers=headers)).status_code == 404
    listed = await stack.gateway.get("/api/v1/segments", headers=headers)
    assert fair["id"] not in [s["id"] for s in listed.json()]
    exits = await read_events(
        kafka_bootstrap_servers,
        SEGMENT_EXITED.name,
        where=lambda e: e["data"]["segment_id"] == fair["id"],
        count=2,
    )
    assert {e["data"]["candidate_id"] for e in exits} == set(members)

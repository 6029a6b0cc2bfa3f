"""Deleting a candidate outside GDPR erasure archives them, through the gateway on the real
broker and database: out of lists, segments and marketing mail, everything kept, restorable."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import eventually, unique
from integration.flow.conftest import ACME_TOKEN, Stack
from integration.flow.sequencing import create_candidate, create_template

pytestmark = pytest.mark.integration


async def test_an_archived_candidate_leaves_lists_segments_and_mail_until_restored(
    stack: Stack,
) -> None:
    headers = stack.as_(ACME_TOKEN)
    tag = unique("archive")
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, email = await create_candidate(stack, ACME_TOKEN, template_id, tags=[tag])
    segment = await stack.gateway.post(
        "/api/v1/segments",
        headers=headers,
        json={
            "name": unique("segment"),
            "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]},
        },
    )
    assert segment.status_code == 201, segment.text
    members_url = f"/api/v1/segments/{segment.json()['id']}/members"

    async def members() -> list[str]:
        listed = await stack.gateway.get(members_url, headers=headers)
        return [m["id"] for m in listed.json()["items"]]

    async def is_member() -> bool:
        return await members() == [candidate_id]

    await eventually(is_member, message="the candidate did not enter the segment")

    url = f"/api/v1/candidates/{candidate_id}"
    archived = await stack.gateway.delete(url, headers=headers)
    assert archived.status_code == 204, archived.text
    again = await stack.gateway.delete(url, headers=headers)
    assert again.status_code == 204, again.text
    kept = await stack.gateway.get(url, headers=headers)
    assert (kept.json()["status"], kept.json()["emails"]) == ("archived", [email])
    listed = await stack.gateway.get("/api/v1/candidates", params={"tag": tag}, headers=headers)
    assert listed.json()["items"] == []
    assert await members() == []

    # Campaigns learns it from candidate.updated: a broadcast to them skips them as archived.
    async def archived_for_campaigns() -> bool:
        progress = await broadcast_to(stack, candidate_id)
        return bool(progress["skipped_reasons"] == {"archived": 1})

    await eventually(archived_for_campaigns, timeout=40, message="marketing mail not held back")

    restored = await stack.gateway.post(f"{url}/restore", headers=headers)
    assert (restored.status_code, restored.json()["status"]) == (200, "active"), restored.text
    await eventually(is_member, message="the restored candidate did not re-enter the segment")
    listed = await stack.gateway.get("/api/v1/candidates", params={"tag": tag}, headers=headers)
    assert [c["id"] for c in listed.json()["items"]] == [candidate_id]


async def broadcast_to(stack: Stack, candidate_id: str) -> dict[str, Any]:
    """Sends a one-person broadcast and returns its progress once it completed."""
    headers = stack.as_(ACME_TOKEN)
    template_id = await create_template(stack, ACME_TOKEN)
    created = await stack.gateway.post(
        "/api/v1/broadcasts",
        headers=headers,
        json={
            "name": unique("broadcast"),
            "template_id": template_id,
            "audience": {"type": "list", "candidate_ids": [candidate_id]},
        },
    )
    broadcast_id = created.json()["id"]
    sent = await stack.gateway.post(f"/api/v1/broadcasts/{broadcast_id}/send", headers=headers)
    assert sent.status_code == 202, sent.text
    latest: dict[str, Any] = {}

    async def completed() -> bool:
        nonlocal latest
        latest = (
            await stack.gateway.get(f"/api/v1/broadcasts/{broadcast_id}", headers=headers)
        ).json()
        return bool(latest["status"] == "completed")

    await eventually(completed, message="the broadcast did not complete")
    progress: dict[str, Any] = latest["progress"]
    return progress

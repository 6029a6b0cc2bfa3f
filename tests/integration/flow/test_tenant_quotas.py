"""One tenant cannot stall another: upload quotas and the import queue's turns by tenant,
through the gateway on the real broker and database."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from crm_campaigns.repositories.collections import BROADCASTS, MESSAGES
from crm_shared import utc_now
from helpers import eventually, unique
from integration.flow.conftest import (
    ACME_TOKEN,
    GLOBEX_TOKEN,
    SMALL_LIMITS,
    SMALL_TOKEN,
    Stack,
)

pytestmark = pytest.mark.integration

MAPPING = {"First": "first_name", "Last": "last_name", "E-mail": "emails"}


def csv_file(tag: str, rows: int, *, first: str = "Pat") -> bytes:
    lines = ["First,Last,E-mail"] + [f"{first},{tag},{tag}-{n}@x.org" for n in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


async def new_import(stack: Stack, token: str) -> str:
    response = await stack.gateway.post(
        "/api/v1/imports", json={"mapping": MAPPING}, headers=stack.as_(token)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def upload(stack: Stack, token: str, import_id: str, data: bytes) -> Any:
    return await stack.gateway.put(
        f"/api/v1/imports/{import_id}/file",
        content=data,
        headers={**stack.as_(token), "Content-Type": "text/csv"},
    )


async def state(stack: Stack, token: str, import_id: str) -> dict[str, Any]:
    response = await stack.gateway.get(f"/api/v1/imports/{import_id}", headers=stack.as_(token))
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


async def finished(stack: Stack, token: str, import_id: str) -> dict[str, Any]:
    async def done() -> bool:
        return (await state(stack, token, import_id))["status"] in ("completed", "failed")

    await eventually(done, timeout=90)
    return await state(stack, token, import_id)


async def test_a_file_over_the_upload_quota_is_a_413_naming_the_limit(stack: Stack) -> None:
    assert SMALL_LIMITS.max_upload_bytes == 4096
    big = csv_file(unique("big"), 15, first="N" * 300)  # 15 rows, but over 4 KiB
    assert len(big) > 4096
    import_id = await new_import(stack, SMALL_TOKEN)
    refused = await upload(stack, SMALL_TOKEN, import_id, big)
    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("upload-too-large")
    assert problem["limit"] == {"name": "max_upload_bytes", "value": 4096}
    assert "4,096 bytes" in problem["detail"]
    job = await state(stack, SMALL_TOKEN, import_id)
    assert job["status"] == "failed"
    assert "upload quota" in job["error"]
    # The same file is within another tenant's (default) quota.
    other = await new_import(stack, ACME_TOKEN)
    assert (await upload(stack, ACME_TOKEN, other, big)).status_code == 202
    assert (await finished(stack, ACME_TOKEN, other))["counts"]["failed"] == 15  # names > 200


async def test_a_file_over_the_row_quota_is_a_413_and_nothing_is_imported(stack: Stack) -> None:
    tag = unique("rows")
    import_id = await new_import(stack, SMALL_TOKEN)
    refused = await upload(stack, SMALL_TOKEN, import_id, csv_file(tag, 21))
    assert refused.status_code == 413
    assert refused.json()["type"].endswith("too-many-rows")
    assert refused.json()["limit"] == {"name": "max_import_rows", "value": 20}
    assert (await state(stack, SMALL_TOKEN, import_id))["status"] == "failed"
    listed = await stack.gateway.get(
        "/api/v1/candidates", params={"tag": tag}, headers=stack.as_(SMALL_TOKEN)
    )
    assert listed.json()["items"] == []
    exactly = await new_import(stack, SMALL_TOKEN)
    assert (await upload(stack, SMALL_TOKEN, exactly, csv_file(tag, 20))).status_code == 202
    assert (await finished(stack, SMALL_TOKEN, exactly))["counts"]["created"] == 20


async def test_concurrent_imports_over_the_quota_are_a_429_until_one_finishes(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small chunks keep the first import in progress long enough to be counted.
    monkeypatch.setattr("crm_candidates.application.imports.IMPORT_CHUNK_ROWS", 1)
    first = await new_import(stack, SMALL_TOKEN)
    assert (await upload(stack, SMALL_TOKEN, first, csv_file(unique("c1"), 20))).status_code == 202
    second = await new_import(stack, SMALL_TOKEN)
    refused = await upload(stack, SMALL_TOKEN, second, csv_file(unique("c2"), 3))
    if (await state(stack, SMALL_TOKEN, first))["status"] != "completed":
        assert refused.status_code == 429, refused.text
        assert refused.json()["type"].endswith("too-many-imports")
        assert refused.json()["limit"] == {"name": "max_concurrent_imports", "value": 1}
        assert refused.headers["retry-after"] == "60"
        # Refused before it started: the import still waits for its file.
        assert (await state(stack, SMALL_TOKEN, second))["status"] == "awaiting_file"
    await finished(stack, SMALL_TOKEN, first)
    accepted = await upload(stack, SMALL_TOKEN, second, csv_file(unique("c2"), 3))
    assert accepted.status_code == 202


async def test_uploads_racing_for_the_last_import_place_never_exceed_the_quota(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("crm_candidates.application.imports.IMPORT_CHUNK_ROWS", 1)
    imports = [await new_import(stack, SMALL_TOKEN) for _ in range(4)]

    answers = await asyncio.gather(
        *(
            upload(stack, SMALL_TOKEN, import_id, csv_file(unique(f"race{number}"), 5))
            for number, import_id in enumerate(imports)
        )
    )

    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {202, 429}, [answer.text for answer in answers]
    assert statuses.count(202) <= 1  # the quota is 1
    for import_id, status in zip(imports, statuses, strict=True):
        if status == 202:
            await finished(stack, SMALL_TOKEN, import_id)
        else:
            assert (await state(stack, SMALL_TOKEN, import_id))["status"] == "awaiting_file"


async def test_a_small_import_is_not_held_back_by_another_tenants_big_one(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tenants take turns chunk by chunk: the 10-row import finishes long before the big one."""
    monkeypatch.setattr("crm_candidates.application.imports.IMPORT_CHUNK_ROWS", 10)
    big = await new_import(stack, ACME_TOKEN)
    assert (await upload(stack, ACME_TOKEN, big, csv_file(unique("big"), 300))).status_code == 202

    async def big_started() -> bool:
        return bool((await state(stack, ACME_TOKEN, big))["counts"]["rows_processed"] > 0)

    await eventually(big_started)
    small = await new_import(stack, GLOBEX_TOKEN)
    assert (await upload(stack, GLOBEX_TOKEN, small, csv_file(unique("s"), 10))).status_code == 202
    done = await finished(stack, GLOBEX_TOKEN, small)
    assert done["status"] == "completed"
    assert done["counts"]["created"] == 10
    big_now = await state(stack, ACME_TOKEN, big)
    assert big_now["status"] == "running"
    assert big_now["counts"]["rows_processed"] < 300
    assert (await finished(stack, ACME_TOKEN, big))["counts"]["created"] == 300


async def test_a_broadcast_over_the_concurrent_broadcast_quota_is_a_429(
    stack: Stack, mongodb_uri: str
) -> None:
    assert SMALL_LIMITS.max_concurrent_broadcasts == 1
    headers = stack.as_(SMALL_TOKEN)
    made = await stack.gateway.post(
        "/api/v1/templates",
        headers=headers,
        json={"name": unique("t"), "subject": "Hi", "html": "<p>Hi</p>", "text": "Hi"},
    )
    assert made.status_code == 201, made.text
    body = {
        "name": "News",
        "template_id": made.json()["id"],
        "audience": {"type": "list", "candidate_ids": [unique("nobody")]},
    }
    draft = await stack.gateway.post("/api/v1/broadcasts", headers=headers, json=body)
    assert draft.status_code == 201, draft.text
    # Another of the tenant's broadcasts is sending, a message of it under way (its progress is
    # beside the point here; one sending with nothing due now would hold no place).
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        database = mongo[stack.settings["campaigns"].database_name]
        broadcasts = database[BROADCASTS]
        busy = {"_id": unique("busy"), "tenant_id": stack.small, "status": "sending"}
        await broadcasts.insert_one(busy)
        await database[MESSAGES].insert_one(
            {
                "_id": unique("busy-message"),
                "tenant_id": stack.small,
                "broadcast_id": busy["_id"],
                "status": "sending",
                "next_attempt_at": utc_now(),
                # Claimed by a worker that holds it for an hour: nobody else touches it.
                "lease_until": utc_now() + timedelta(hours=1),
            }
        )
        draft_url = f"/api/v1/broadcasts/{draft.json()['id']}"
        send = f"{draft_url}/send"
        refused = await stack.gateway.post(send, headers=headers)
        assert refused.status_code == 429, refused.text
        assert refused.json()["type"].endswith("too-many-broadcasts")
        assert refused.json()["limit"] == {"name": "max_concurrent_broadcasts", "value": 1}
        assert (await stack.gateway.get(draft_url, headers=headers)).json()["status"] == "draft"
        await broadcasts.delete_one({"_id": busy["_id"]})
        await database[MESSAGES].delete_many({"broadcast_id": busy["_id"]})
        assert (await stack.gateway.post(send, headers=headers)).status_code == 202
    finally:
        await mongo.close()

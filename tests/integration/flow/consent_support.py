"""What the consent and GDPR flow tests share: people, signed links, direct database reads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from crm_shared import LinkClaim, SignedLinks
from helpers import eventually, unique
from integration.flow.conftest import Stack


def new_person(tag: str) -> dict[str, Any]:
    """A candidate body whose names and address appear nowhere else."""
    marker = unique(tag).replace("_", "")
    return {
        "first_name": f"Fn{marker}",
        "last_name": f"Ln{marker}",
        "emails": [f"{marker}@example.org"],
    }


def links(stack: Stack) -> SignedLinks:
    """The link signer every service of the stack shares."""
    secret = stack.settings["candidates"].link_signing_secret.get_secret_value()
    return SignedLinks(secret)


def link_token(
    stack: Stack,
    purpose: str,
    tenant_id: str,
    candidate_id: str,
    *,
    message_id: str = "msg-1",
    expires_at: datetime | None = None,
) -> str:
    """A preference-centre or unsubscribe token shaped the way campaigns issues them."""
    return links(stack).token(
        LinkClaim(
            purpose=purpose,
            tenant_id=tenant_id,
            subject=candidate_id,
            expires_at=expires_at,
            data={"message_id": message_id},
        )
    )


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


def error_fields(problem: dict[str, Any]) -> set[str]:
    return {error["field"] for error in problem["errors"]}


Mongo = AsyncMongoClient[dict[str, Any]]


def database(stack: Stack, mongo: Mongo, service: str) -> AsyncDatabase[dict[str, Any]]:
    """A service's database, read directly (tests look at what really was stored)."""
    return mongo[stack.settings[service].database_name]


async def create_candidate(stack: Stack, token: str, body: dict[str, Any]) -> str:
    created = await stack.gateway.post("/api/v1/candidates", json=body, headers=stack.as_(token))
    assert created.status_code == 201, created.text
    candidate_id: str = created.json()["id"]
    return candidate_id


async def wait_for_recipient_consent(
    stack: Stack, mongo: Mongo, tenant_id: str, candidate_id: str, expected: bool
) -> None:
    """Waits until campaigns' recipient projection shows the marketing state."""
    recipients = database(stack, mongo, "campaigns")["recipients"]

    async def projected() -> bool:
        found = await recipients.find_one({"tenant_id": tenant_id, "candidate_id": candidate_id})
        return found is not None and found["marketing_consent"] is expected

    # 30 s, then 60 s, were once too little under CI's load: campaigns projects candidates one
    # event at a time, and a backfill's burst of `candidate.created` shares its database.
    await eventually(
        projected, timeout=150, message=f"campaigns did not see marketing_consent={expected}"
    )

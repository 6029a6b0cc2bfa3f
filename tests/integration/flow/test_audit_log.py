"""The audit log in front of the real services: a recruiter's write and a service's refusal of
a recruiter are in the tenant's audit log, without the candidate's personal data; a failed
sign-in is recorded; another tenant's admin sees none of it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from helpers import eventually, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_ADMIN_TOKEN, Stack
from integration.flow.consent_support import Mongo

pytestmark = pytest.mark.integration


async def audited(stack: Stack, token: str, request_id: str) -> dict[str, Any] | None:
    """The entry of a request in the audit log `token`'s admin sees (newest first)."""
    response = await stack.gateway.get(
        "/api/v1/audit", params={"limit": 200}, headers=stack.as_(token)
    )
    assert response.status_code == 200, response.text
    for item in response.json()["items"]:
        if item["request_id"] == request_id:
            found: dict[str, Any] = item
            return found
    return None


async def entry_of(stack: Stack, request_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def listed() -> bool:
        entry = await audited(stack, ACME_ADMIN_TOKEN, request_id)
        if entry is not None:
            found.append(entry)
        return entry is not None

    await eventually(listed, timeout=15, message=f"request {request_id} not in the audit log")
    return found[0]


async def test_writes_and_denials_reach_the_tenants_audit_log_without_personal_data(
    stack: Stack, mongo: Mongo
) -> None:
    email = f"{unique('audited')}@example.com"
    created = await stack.gateway.post(
        "/api/v1/candidates",
        json={"first_name": "Grace", "last_name": "Hopper", "emails": [email]},
        headers=stack.as_(ACME_TOKEN),
    )
    assert created.status_code == 201, created.text
    candidate_id = created.json()["id"]
    noted = await stack.gateway.patch(
        f"/api/v1/candidates/{candidate_id}",
        json={"last_name": "Hopper-Murray"},
        headers=stack.as_(ACME_TOKEN),
    )
    # The retention policy is the admin's: the candidates service refuses a recruiter.
    refused = await stack.gateway.put(
        "/api/v1/settings/retention",
        json={"consent_validity_days": 730},
        headers=stack.as_(ACME_TOKEN),
    )
    assert refused.status_code == 403, refused.text

    write = await entry_of(stack, created.headers["X-Request-Id"])
    assert (write["action"], write["status"], write["outcome"]) == (
        "POST /candidates",
        201,
        "succeeded",
    )
    assert (write["actor_kind"], write["actor_id"], write["tenant_id"]) == (
        "user",
        "rita",
        stack.acme,
    )
    assert write["trace_id"] == created.headers["X-Trace-Id"]
    assert write["resource"] == {"created_id": candidate_id}
    patch = await entry_of(stack, noted.headers["X-Request-Id"])
    assert patch["action"] == "PATCH /candidates/{candidate_id}"
    assert patch["resource"] == {"candidate_id": candidate_id}
    assert patch["status"] == noted.status_code
    denial = await entry_of(stack, refused.headers["X-Request-Id"])
    assert (denial["action"], denial["status"], denial["outcome"]) == (
        "PUT /settings/retention",
        403,
        "refused",
    )

    # Ids only: the candidate's name and address are nowhere in the audit log.
    entries = (
        await mongo[f"{stack.settings['gateway'].database_name}"]["audit_log"]
        .find({"tenant_id": stack.acme})
        .to_list()
    )
    text = json.dumps(entries, default=str)
    assert email not in text
    assert "Hopper" not in text

    # Another tenant's admin sees none of it.
    for request_id in (created, noted, refused):
        assert await audited(stack, GLOBEX_ADMIN_TOKEN, request_id.headers["X-Request-Id"]) is None


async def test_a_failed_sign_in_is_recorded(stack: Stack, mongo: Mongo) -> None:
    response = await stack.gateway.delete(
        "/api/v1/candidates/whatever", headers={"Authorization": "Bearer forged"}
    )

    assert response.status_code == 401
    log = mongo[stack.settings["gateway"].database_name]["audit_log"]
    found: list[dict[str, Any]] = []

    async def stored() -> bool:
        entry = await log.find_one({"request_id": response.headers["X-Request-Id"]})
        if entry is not None:
            found.append(entry)
        return entry is not None

    await eventually(stored, timeout=15, message="the failed sign-in was not recorded")
    assert found[0]["action"] == "DELETE /candidates/(unresolved)"
    assert (found[0]["actor_kind"], found[0]["outcome"], found[0]["reason"]) == (
        "anonymous",
        "refused",
        "unknown_token",
    )


@pytest.mark.usefixtures("acme_vocabulary_restored")
async def test_settings_changes_and_creations_say_what_changed_and_what_was_made(
    stack: Stack,
) -> None:
    admin = stack.as_(ACME_ADMIN_TOKEN)
    cap: dict[str, Any] = {
        "frequency_cap": {"max_messages": 2, "period_days": 7},
        "quiet_hours": None,
        "on_limit": "defer",
        "default_time_zone": "UTC",
        "soft_bounce_limit": 3,
    }
    first = await stack.gateway.put("/api/v1/settings/contact-policy", json=cap, headers=admin)
    assert first.status_code == 200, first.text
    cap["frequency_cap"]["max_messages"] = 3
    policy = await stack.gateway.put("/api/v1/settings/contact-policy", json=cap, headers=admin)
    # The flow stack is shared by the package's modules: a cap left on would hold their mail.
    released = await stack.gateway.put(
        "/api/v1/settings/contact-policy", json={**cap, "frequency_cap": None}, headers=admin
    )
    assert released.status_code == 200, released.text
    assert policy.status_code == 200, policy.text
    skill = unique("Skill")
    vocabulary = await stack.gateway.put(
        "/api/v1/skills/vocabulary",
        json={"skills": [{"canonical": skill, "synonyms": [skill.lower() + "-x"]}]},
        headers=admin,
    )
    assert vocabulary.status_code == 200, vocabulary.text
    connected = await stack.gateway.post(
        "/api/v1/ats/connections",
        json={"provider": "greenhouse", "name": unique("greenhouse")},
        headers=admin,
    )
    assert connected.status_code == 201, connected.text
    connection_id = connected.json()["id"]
    rotated = await stack.gateway.post(
        f"/api/v1/ats/connections/{connection_id}/rotate-secret",
        json={"grace_hours": 1},
        headers=admin,
    )
    assert rotated.status_code == 200, rotated.text

    changed = await entry_of(stack, policy.headers["X-Request-Id"])
    assert changed["changes"] == [{"field": "frequency_cap.max_messages", "before": 2, "after": 3}]
    respelled = await entry_of(stack, vocabulary.headers["X-Request-Id"])
    [saved] = vocabulary.json()["skills"]  # the canonical spelling as stored
    assert {
        "field": f"skills.{saved['canonical']}",
        "before": None,
        "after": saved["synonyms"],
    } in (respelled["changes"])
    created = await entry_of(stack, connected.headers["X-Request-Id"])
    assert created["resource"] == {"created_id": connection_id}
    secret = await entry_of(stack, rotated.headers["X-Request-Id"])
    assert secret["changes"] == [{"field": "webhook_secret", "changed": True}]
    assert rotated.json()["webhook_secret"] not in json.dumps(secret)

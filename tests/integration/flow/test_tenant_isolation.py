"""Tenant isolation, walked (issue 16): every operation of the gateway's combined OpenAPI
document whose path takes an id is called by another tenant's admin with acme's real ids, and
must answer the 404 problem a missing resource gets, leaving acme's resources as they were.

The caller is globex's admin, so no 403 can hide a leak; each call carries a body valid enough
that a route checking its body before the tenant's ownership would answer 422, which fails the
test as setup rather than passing it.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from crm_shared import MESSAGE_OPENED, OPENAPI_KEY, OPERATOR, PUBLIC, MessageOpened
from helpers import eventually, publish_event, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_ADMIN_TOKEN, Stack
from integration.flow.sequencing import create_candidate, create_template, enrol
from integration.flow.test_permissions import HTTP_METHODS, _complete_document

pytestmark = pytest.mark.integration

# Paths with ids that belong to no tenant's principal: the public pages (their ids are signed
# tokens or public event ids) and the platform operator's tenant routes.
NOT_TENANT_ROUTES = ("/public/v1/", "/t/", "/api/v1/platform/")
# Operations whose ids this test cannot fill, each with the reason. Empty: every id is filled.
UNFILLED: dict[tuple[str, str], str] = {}
# Calls in flight at once: the stack shares the test's event loop.
CONCURRENCY = 8
CSV = "First,Last,E-mail\nLeak,Probe,leak-probe@example.org\n"


@dataclass(frozen=True)
class AcmeIds:
    """One of each of acme's resources whose id a path parameter names."""

    values: dict[str, str]
    template_id: str
    candidate_id: str


def _created(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def _acme_resources(stack: Stack, kafka_bootstrap_servers: str) -> AcmeIds:
    """Creates one of each resource as acme and returns the ids by path parameter name."""
    gateway, staff, admin = stack.gateway, stack.as_(ACME_TOKEN), stack.as_(ACME_ADMIN_TOKEN)
    tag = unique("isolation")
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, _ = await create_candidate(stack, ACME_TOKEN, template_id, tags=[tag])
    survivor_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    merged_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)

    pool = _created(
        await gateway.post(
            "/api/v1/pools",
            headers=staff,
            json={"name": unique("pool"), "stages": ["Sourced", "Contacted", "Interviewing"]},
        )
    )
    _created(
        await gateway.post(
            f"/api/v1/pools/{pool['id']}/members",
            headers=staff,
            json={"candidate_id": candidate_id, "stage": "Contacted"},
        )
    )
    segment = _created(
        await gateway.post(
            "/api/v1/segments",
            headers=staff,
            json={"name": tag, "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
        )
    )
    block_key = unique("footer").lower().replace("-", "_")
    _created(
        await gateway.post(
            "/api/v1/blocks",
            headers=staff,
            json={"key": block_key, "name": "Footer", "html": "<p>Acme</p>", "text": "Acme"},
        )
    )
    # A sequence that both mails and notifies, so the candidate's enrolment leaves a message
    # and a notification to probe.
    sequence = _created(
        await gateway.post(
            "/api/v1/sequences",
            headers=staff,
            json={
                "name": unique("sequence"),
                "trigger": {"type": "manual"},
                "steps": [
                    {"type": "notify_owner", "title": f"{tag} enrolled"},
                    {"type": "send", "template_id": template_id},
                ],
            },
        )
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    broadcast = _created(
        await gateway.post(
            "/api/v1/broadcasts",
            headers=staff,
            json={
                "name": unique("broadcast"),
                "template_id": template_id,
                "audience": {"type": "list", "candidate_ids": [candidate_id]},
            },
        )
    )
    event = _created(
        await gateway.post(
            "/api/v1/events",
            headers=staff,
            json={
                "name": unique("Open house"),
                "kind": "open_house",
                "starts_at": "2027-03-25T18:00:00+01:00",
                "capacity": 50,
            },
        )
    )
    registration = _created(
        await gateway.post(
            f"/public/v1/events/{event['id']}/registrations",
            json={"first_name": "Zoë", "last_name": "Probe", "email": f"{tag}@example.org"},
        )
    )
    stored_list = _created(
        await gateway.post(
            "/api/v1/lists",
            headers=staff,
            json={"name": unique("list"), "candidate_ids": [candidate_id]},
        )
    )
    job = _created(
        await gateway.post(
            "/api/v1/imports",
            headers=staff,
            json={"mapping": {"First": "first_name", "Last": "last_name", "E-mail": "emails"}},
        )
    )
    field_key = unique("field").lower().replace("-", "_")
    _created(
        await gateway.post(
            "/api/v1/custom-fields",
            headers=admin,
            json={"key": field_key, "label": "Probe", "type": "string"},
        )
    )
    suppression = _created(
        await gateway.post(
            "/api/v1/suppressions", headers=admin, json={"email": f"{tag}-s@example.org"}
        )
    )
    connection = _created(
        await gateway.post(
            "/api/v1/ats/connections",
            headers=admin,
            json={"provider": "greenhouse", "name": unique("greenhouse")},
        )
    )
    api_key = _created(
        await gateway.post(
            "/api/v1/api-keys", headers=admin, json={"name": tag, "scopes": ["candidates:read"]}
        )
    )
    user = _created(
        await gateway.post(
            "/api/v1/users",
            headers=admin,
            json={"email": f"{tag}-u@example.org", "roles": ["viewer"]},
        )
    )
    merge = _created(
        await gateway.post(
            "/api/v1/candidates/merges",
            headers=staff,
            json={"survivor_id": survivor_id, "merged_id": merged_id},
        )
    )
    message_id, notification_id = await _message_and_notification(stack, candidate_id)
    await _opened(stack, kafka_bootstrap_servers, message_id, candidate_id)
    return AcmeIds(
        values={
            "candidate_id": candidate_id,
            "pool_id": pool["id"],
            "stage": "Contacted",
            "segment_id": segment["id"],
            "key": block_key,  # replaced by the custom field's key on /custom-fields paths
            "template_id": template_id,
            "sequence_id": sequence["id"],
            "broadcast_id": broadcast["id"],
            "event_id": event["id"],
            "registration_id": registration["id"],
            "list_id": stored_list["id"],
            "import_id": job["id"],
            "custom_field_key": field_key,
            "suppression_id": suppression["id"],
            "connection_id": connection["id"],
            "key_id": api_key["key_id"],
            "user_id": user["user_id"],
            "merge_id": merge["id"],
            "message_id": message_id,
            "notification_id": notification_id,
            # A weekly report is named by its week, the same for every tenant; its lookup is
            # scoped to the caller's tenant (test_weekly_report.py reads acme's own).
            "week": "2026-W47",
        },
        template_id=template_id,
        candidate_id=candidate_id,
    )


async def _message_and_notification(stack: Stack, candidate_id: str) -> tuple[str, str]:
    """Waits for the sequence's mail and notification to the candidate and returns their ids."""
    found: dict[str, str] = {}
    staff = stack.as_(ACME_TOKEN)

    async def both() -> bool:
        messages = (await stack.gateway.get("/api/v1/messages?limit=200", headers=staff)).json()
        for message in messages["items"]:
            if message.get("candidate_id") == candidate_id:
                found["message"] = message["id"]
        notes = (await stack.gateway.get("/api/v1/notifications", headers=staff)).json()
        for notification in notes["items"]:
            if notification.get("candidate_id") == candidate_id:
                found["notification"] = notification["id"]
        return {"message", "notification"} <= set(found)

    await eventually(both, timeout=30, message="the sequence left no message or notification")
    return found["message"], found["notification"]


async def _opened(
    stack: Stack, kafka_bootstrap_servers: str, message_id: str, candidate_id: str
) -> None:
    """Reports the sequence's mail opened, so the candidate has an engagement score in acme."""
    opened = MessageOpened(message_id=message_id, candidate_id=candidate_id)
    await publish_event(
        kafka_bootstrap_servers,
        MESSAGE_OPENED,
        tenant_id=stack.acme,
        subject=candidate_id,
        data=opened,
    )
    path = f"/api/v1/analytics/candidates/{candidate_id}/engagement"

    async def scored() -> bool:
        found = await stack.gateway.get(path, headers=stack.as_(ACME_ADMIN_TOKEN))
        return bool(found.json()["score"] > 0)

    await eventually(scored, timeout=30, message="the open did not count in acme's score")


async def _etags(stack: Stack, operations: list[tuple[str, str]], ids: AcmeIds) -> dict[str, str]:
    """Acme's current ETag of each resource a write names (the path up to its first id), so a
    route that checked If-Match before the tenant would pass the check and show the leak."""
    resources = {
        _fill(path[: path.index("}") + 1], ids) for method, path in operations if method != "GET"
    }
    found: dict[str, str] = {}
    for resource in sorted(resources):
        answer = await stack.gateway.get(resource, headers=stack.as_(ACME_ADMIN_TOKEN))
        if "etag" in answer.headers:
            found[resource] = answer.headers["etag"]
    return found


def _body(method: str, path: str, ids: AcmeIds) -> dict[str, Any]:
    """The request keywords for one probe: a body valid enough not to fail validation."""
    candidate = ids.candidate_id
    template = {"name": "Leak", "subject": "Leak", "html": "<p>Leak</p>", "text": "Leak"}
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/ats/connections/{connection_id}/rotate-secret"): {},
        ("PUT", "/api/v1/ats/connections/{connection_id}/api-key"): {"api_key": "leak"},
        ("PUT", "/api/v1/ats/connections/{connection_id}/webhook-secrets"): {"secrets": ["leak"]},
        ("POST", "/api/v1/ats/connections/{connection_id}/pushes"): {"candidate_id": "leak"},
        ("PUT", "/api/v1/blocks/{key}"): {"name": "Leak", "html": "<p>Leak</p>", "text": "Leak"},
        ("PUT", "/api/v1/broadcasts/{broadcast_id}"): {
            "name": "Leak",
            "template_id": ids.template_id,
            "audience": {"type": "list", "candidate_ids": [candidate]},
        },
        ("PATCH", "/api/v1/candidates/{candidate_id}"): {"first_name": "Leak"},
        ("POST", "/api/v1/candidates/{candidate_id}/consents"): {
            "purpose": "marketing",
            "action": "withdraw",
        },
        ("POST", "/api/v1/candidates/{candidate_id}/notes"): {"body": "Leak"},
        ("PATCH", "/api/v1/custom-fields/{key}"): {"label": "Leak"},
        ("PATCH", "/api/v1/events/{event_id}"): {"name": "Leak"},
        ("POST", "/api/v1/events/{event_id}/cancel"): {"reason": "Leak"},
        ("POST", "/api/v1/events/{event_id}/check-ins"): {
            "check_ins": [{"code": "LEAKPRBE", "checked_in_at": "2030-01-01T10:00:00+00:00"}]
        },
        ("POST", "/api/v1/events/{event_id}/walk-ins"): {
            "first_name": "Leak",
            "last_name": "Probe",
            "email": "leak-probe@example.org",
        },
        ("PATCH", "/api/v1/lists/{list_id}"): {"name": "Leak"},
        ("POST", "/api/v1/lists/{list_id}/members"): {"candidate_ids": [candidate]},
        ("DELETE", "/api/v1/lists/{list_id}/members"): {"candidate_ids": [candidate]},
        ("PATCH", "/api/v1/pools/{pool_id}"): {"name": "Leak"},
        ("POST", "/api/v1/pools/{pool_id}/members"): {"candidate_id": candidate},
        ("POST", "/api/v1/pools/{pool_id}/members/bulk"): {"candidate_ids": [candidate]},
        ("POST", "/api/v1/pools/{pool_id}/members/{candidate_id}/stage"): {"stage": "Sourced"},
        ("PATCH", "/api/v1/pools/{pool_id}/stages/{stage}"): {"name": "Leak"},
        ("PATCH", "/api/v1/segments/{segment_id}"): {"name": "Leak"},
        ("PATCH", "/api/v1/sequences/{sequence_id}"): {"name": "Leak"},
        ("POST", "/api/v1/sequences/{sequence_id}/enrolments"): {"candidate_ids": [candidate]},
        ("PUT", "/api/v1/templates/{template_id}"): template,
        ("POST", "/api/v1/templates/{template_id}/preview"): {"candidate_id": candidate},
        ("PATCH", "/api/v1/users/{user_id}"): {"roles": ["admin"]},
    }
    if (method, path) == ("PUT", "/api/v1/imports/{import_id}/file"):
        return {"content": CSV.encode(), "headers": {"content-type": "text/csv"}}
    if (method, path) in bodies:
        return {"json": bodies[(method, path)]}
    return {}


def _fill(path: str, ids: AcmeIds) -> str:
    values = ids.values
    if path.startswith("/api/v1/custom-fields/"):
        values = values | {"key": values["custom_field_key"]}
    return re.sub(r"\{([^}]+)\}", lambda name: values[name.group(1)], path)


async def test_another_tenants_admin_gets_404_from_every_route_with_an_id(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    document = await _complete_document(stack)
    ids = await _acme_resources(stack, kafka_bootstrap_servers)
    with_ids = {
        (method.upper(), path): item[method][OPENAPI_KEY]
        for path, item in sorted(document["paths"].items())
        for method in HTTP_METHODS
        if method in item and "{" in path
    }
    # The only operations left out are the public and the operator's, and all of those are.
    excluded = {op for op in with_ids if op[1].startswith(NOT_TENANT_ROUTES)}
    assert {with_ids[op] for op in excluded} == {PUBLIC, OPERATOR}
    operations = [op for op in with_ids if op not in excluded]
    assert all(with_ids[op] not in (PUBLIC, OPERATOR) for op in operations)
    assert len(operations) > 80  # the whole API, not a document that lost a service
    unfilled = {
        (method, path)
        for method, path in operations
        if set(re.findall(r"\{([^}]+)\}", path)) - set(ids.values)
    }
    assert unfilled == set(UNFILLED), "operations with a path parameter this test cannot fill"
    walked = [operation for operation in operations if operation not in UNFILLED]
    etags = await _etags(stack, walked, ids)
    assert len(etags) >= 6, etags  # the versioned resources' writes are tried with If-Match
    limit = asyncio.Semaphore(CONCURRENCY)
    globex = stack.as_(GLOBEX_ADMIN_TOKEN)

    async def probe(method: str, path: str) -> httpx.Response:
        keywords = _body(method, path, ids)
        headers = globex | keywords.pop("headers", {})
        resource = _fill(path[: path.index("}") + 1], ids)
        if method != "GET" and resource in etags:
            headers["If-Match"] = etags[resource]
        async with limit:
            return await stack.gateway.request(
                method, _fill(path, ids), headers=headers, **keywords
            )

    answers = await asyncio.gather(*(probe(m, p) for m, p in walked))

    leaks = [
        f"{method} {path}: {answer.status_code} {answer.text[:200]}"
        for (method, path), answer in zip(walked, answers, strict=True)
        if answer.status_code != 404
        or not answer.headers.get("content-type", "").startswith("application/problem+json")
    ]
    assert leaks == [], "\n".join(leaks)

    await _acme_still_has_everything(stack, ids)


async def _acme_still_has_everything(stack: Stack, ids: AcmeIds) -> None:
    """Spot checks: acme's resources read as they did before globex's walk."""
    gateway, staff, admin = stack.gateway, stack.as_(ACME_TOKEN), stack.as_(ACME_ADMIN_TOKEN)
    values = ids.values
    candidate = await gateway.get(f"/api/v1/candidates/{ids.candidate_id}", headers=staff)
    assert candidate.status_code == 200, candidate.text
    assert candidate.json()["first_name"] == "Grace"
    assert candidate.json()["pools"] == [{"pool_id": values["pool_id"], "stage": "Contacted"}]
    notes = await gateway.get(f"/api/v1/candidates/{ids.candidate_id}/notes", headers=staff)
    assert notes.json()["items"] == []
    registrations = await gateway.get(
        f"/api/v1/events/{values['event_id']}/registrations", headers=staff
    )
    assert [r["id"] for r in registrations.json()["items"]] == [values["registration_id"]]
    event = await gateway.get(f"/api/v1/events/{values['event_id']}", headers=staff)
    assert event.json()["status"] != "cancelled"
    members = await gateway.get(f"/api/v1/lists/{values['list_id']}/members", headers=staff)
    assert [m["candidate_id"] for m in members.json()["items"]] == [ids.candidate_id]
    template = await gateway.get(f"/api/v1/templates/{ids.template_id}", headers=staff)
    assert template.json()["name"] != "Leak"
    enrolments = await gateway.get(
        f"/api/v1/sequences/{values['sequence_id']}/enrolments", headers=staff
    )
    assert [e["candidate_id"] for e in enrolments.json()["items"]] == [ids.candidate_id]
    user = await gateway.get(f"/api/v1/users/{values['user_id']}", headers=admin)
    assert user.json()["roles"] == ["viewer"]
    for path in (
        f"/api/v1/broadcasts/{values['broadcast_id']}",
        f"/api/v1/segments/{values['segment_id']}",
        f"/api/v1/sequences/{values['sequence_id']}",
        f"/api/v1/ats/connections/{values['connection_id']}",
        f"/api/v1/suppressions/{values['suppression_id']}",
        f"/api/v1/custom-fields/{values['custom_field_key']}",
        f"/api/v1/blocks/{values['key']}",
        f"/api/v1/candidates/merges/{values['merge_id']}",
    ):
        found = await gateway.get(path, headers=admin)
        assert found.status_code == 200, f"{path}: {found.text}"
        assert found.json().get("name") != "Leak", path

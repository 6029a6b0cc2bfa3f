"""The permission matrix, walked: every operation of the gateway's combined OpenAPI document,
called as each role, is refused with a 403 exactly where crm_shared.permissions says.

Each call has made-up path ids and an empty body: a permitted call may answer anything but a
403 (a 404 for the unknown id, a 422 for the missing body, a 200 for a listing); a forbidden one
must be the 403 naming the operation's permission, before the body is even validated.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest

from crm_shared import OPENAPI_KEY, OPERATOR, PERMISSIONS, PUBLIC, ROLE_PERMISSIONS, ROLES, Role
from helpers import eventually
from integration.flow.conftest import ACME_ROLE_TOKENS, Stack

pytestmark = pytest.mark.integration

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# One operation of each service: the gateway leaves a service it could not reach out of its
# document, and the walk must cover them all.
EVERY_SERVICE = (
    "/api/v1/candidates",
    "/api/v1/templates",
    "/api/v1/events",
    "/api/v1/ats/connections",
    "/api/v1/analytics/summary",
)
FAKE_ID = "authz-probe-id"
# Calls in flight at once: the stack shares the test's event loop.
CONCURRENCY = 8
# The only non-GET operations that are reads: previews with a body, and marking one's own
# notification read.
READS_BY_POST = frozenset(
    {
        ("POST", "/api/v1/templates/{template_id}/preview"),
        ("POST", "/api/v1/segments/preview"),
        # An unsaved draft rendered for the editor's preview: nothing is stored.
        ("POST", "/api/v1/templates/preview"),
        ("POST", "/api/v1/notifications/{notification_id}/read"),
    }
)


async def _complete_document(stack: Stack) -> dict[str, Any]:
    document: dict[str, Any] = {}

    async def complete() -> bool:
        document.update((await stack.gateway.get("/openapi.json")).json())
        return all(path in document["paths"] for path in EVERY_SERVICE)

    await eventually(complete, timeout=60, interval=1, message="the document lacks a service")
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (method.upper(), path, item[method].get(OPENAPI_KEY, "MISSING"))
        for path, item in sorted(document["paths"].items())
        for method in HTTP_METHODS
        if method in item
    ]


async def test_every_operation_is_refused_exactly_where_the_matrix_says(stack: Stack) -> None:
    operations = _operations(await _complete_document(stack))
    undeclared = [f"{m} {p}" for m, p, permission in operations if permission == "MISSING"]
    assert undeclared == [], "operations without x-permission"
    public = [(m, p) for m, p, permission in operations if permission == PUBLIC]
    # Browser sign-in (`/auth/`) checks its own credential: the flow's state, the session cookie.
    assert all(p.startswith(("/public/v1/", "/t/", "/auth/")) for _, p in public), public
    operator = [p for _, p, permission in operations if permission == OPERATOR]
    assert operator, "the platform operator's operations are in the document"
    assert all(p.startswith("/api/v1/platform/") for p in operator), operator
    guarded = [
        (m, p, permission)
        for m, p, permission in operations
        if permission not in (PUBLIC, OPERATOR)
    ]
    assert all(permission in PERMISSIONS for _, _, permission in guarded)
    assert len(guarded) > 100  # the whole API, not a document that lost a service
    limit = asyncio.Semaphore(CONCURRENCY)

    async def call(role: Role, method: str, path: str) -> httpx.Response:
        async with limit:
            return await stack.gateway.request(
                method,
                re.sub(r"\{[^}]+\}", FAKE_ID, path),
                headers=stack.as_(ACME_ROLE_TOKENS[role]),
            )

    cases = [(role, *operation) for role in ROLES for operation in guarded]
    answers = await asyncio.gather(*(call(role, method, path) for role, method, path, _ in cases))

    wrong = []
    for (role, method, path, permission), answer in zip(cases, answers, strict=True):
        allowed = permission in ROLE_PERMISSIONS[role]
        if allowed and answer.status_code == 403:
            wrong.append(f"{role} {method} {path} ({permission}): refused: {answer.text}")
        elif not allowed and (
            answer.status_code != 403
            or answer.json().get("type") != "urn:recruitcrm:problem:forbidden"
            or answer.json().get("permission") != permission
        ):
            wrong.append(
                f"{role} {method} {path} ({permission}): {answer.status_code}, not the 403 "
                f"naming the permission: {answer.text[:200]}"
            )
    assert wrong == [], "\n".join(wrong)

    # Issue 16's probe, independent of what each operation declares: with a viewer's token no
    # write goes through, with a coordinator's only the events'.
    let_through = {
        (role, method, path)
        for (role, method, path, _), answer in zip(cases, answers, strict=True)
        if method != "GET" and (method, path) not in READS_BY_POST and answer.status_code != 403
    }
    assert {(m, p) for role, m, p in let_through if role == "viewer"} == set()
    coordinator = {p for role, _, p in let_through if role == "coordinator"}
    assert all(p.startswith("/api/v1/events") for p in coordinator), coordinator
    assert coordinator, "a coordinator must still be able to run events"

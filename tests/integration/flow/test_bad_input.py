"""Bad input at every public surface of the skeleton is a clear problem+json error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crm_devstack.greenhouse import GreenhouseWebhooks, new_candidate_application
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GHOST_TOKEN, Stack

pytestmark = pytest.mark.integration


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


async def test_a_caller_of_an_unknown_tenant_is_refused(stack: Stack) -> None:
    response = await stack.gateway.get("/api/v1/candidates", headers=stack.as_(GHOST_TOKEN))
    assert assert_problem(response, 403)["type"] == "urn:recruitcrm:problem:unknown-tenant"


@pytest.mark.parametrize(
    ("template", "bad_part"),
    [
        ({"subject": "Hi {{ candidate.salary }}"}, "subject"),
        ({"html": "<p>{{ secrets.token }}</p>"}, "html"),
        ({"text": "{{ candidate.__class__.__mro__ }}"}, "text"),
        ({"text": "{{ candidate['first_name'] }}"}, "text"),
        ({"html": "<p>{% if %}</p>"}, "html"),
    ],
)
async def test_a_template_with_unknown_merge_fields_or_bad_syntax_is_refused(
    stack: Stack, template: dict[str, str], bad_part: str
) -> None:
    body = {"name": "t", "subject": "Hello", "html": "<p>Hi</p>", "text": "Hi", **template}
    response = await stack.gateway.post(
        "/api/v1/templates", json=body, headers=stack.as_(ACME_TOKEN)
    )
    problem = assert_problem(response, 422)
    assert {error["field"] for error in problem["errors"]} == {bad_part}


async def test_a_sequence_sending_an_unknown_template_is_refused(stack: Stack) -> None:
    response = await stack.gateway.post(
        "/api/v1/sequences",
        json={
            "name": "s",
            "trigger": {"segment_id": "x"},
            "steps": [{"type": "send", "template_id": "no-such-template"}],
        },
        headers=stack.as_(ACME_TOKEN),
    )
    assert [e["field"] for e in assert_problem(response, 422)["errors"]] == ["steps.0.template_id"]


async def test_an_event_with_bad_fields_is_refused(stack: Stack) -> None:
    response = await stack.gateway.post(
        "/api/v1/events",
        json={"name": "", "kind": "party", "starts_at": "soon", "capacity": 0},
        headers=stack.as_(ACME_TOKEN),
    )
    fields = {e["field"] for e in assert_problem(response, 422)["errors"]}
    assert fields == {"name", "kind", "starts_at", "capacity"}


async def test_registrations_that_are_invalid_oversized_or_for_no_event_are_refused(
    stack: Stack,
) -> None:
    event = await stack.gateway.post(
        "/api/v1/events",
        json={
            "name": "Meetup",
            "kind": "meetup",
            "starts_at": "2026-12-01T18:00:00Z",
            "capacity": 10,
        },
        headers=stack.as_(ACME_TOKEN),
    )
    path = f"/public/v1/events/{event.json()['id']}/registrations"
    invalid = await stack.gateway.post(
        path, json={"first_name": "A", "last_name": "B", "email": "not-an-email"}
    )
    assert [e["field"] for e in assert_problem(invalid, 422)["errors"]] == ["email"]
    oversized = await stack.gateway.post(
        path, json={"first_name": "A" * 20_000, "last_name": "B", "email": "a@example.org"}
    )
    assert_problem(oversized, 413)
    nowhere = await stack.gateway.post(
        "/public/v1/events/no-such-event/registrations",
        json={"first_name": "A", "last_name": "B", "email": "a@example.org"},
    )
    assert_problem(nowhere, 404)


async def test_forged_tracking_tokens_are_not_found(stack: Stack) -> None:
    for path in ("/t/o/not-a-token", "/t/c/e30.AAAA", "/t/c/"):
        response = await stack.gateway.get(path, follow_redirects=False)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"


async def test_webhooks_that_are_unsigned_malformed_or_for_no_connection_are_refused(
    stack: Stack,
) -> None:
    connection = (
        await stack.gateway.post(
            "/api/v1/ats/connections",
            json={"provider": "greenhouse", "name": "GH"},
            headers=stack.as_(ACME_ADMIN_TOKEN),
        )
    ).json()
    path = connection["webhook_url"].removeprefix(stack.gateway_url)
    greenhouse = GreenhouseWebhooks(url=path, secret=connection["webhook_secret"])
    body = new_candidate_application(
        application_id=1,
        candidate_id=2,
        email="x@example.org",
        first_name="X",
        last_name="Y",
        job_name="Job",
    )
    forged = await GreenhouseWebhooks(url=path, secret="another-secret").deliver(
        stack.gateway, body
    )
    assert_problem(forged, 401)
    unsigned = await stack.gateway.post(path, content=body, headers={"Greenhouse-Event-ID": "d-1"})
    assert_problem(unsigned, 401)
    malformed = await greenhouse.deliver(stack.gateway, b'{"action": "new_candidate_application"}')
    assert_problem(malformed, 422)
    no_delivery_id = await stack.gateway.post(
        path, content=body, headers={"Signature": greenhouse.signature(body)}
    )
    assert_problem(no_delivery_id, 400)
    elsewhere = GreenhouseWebhooks(
        url=path.replace(connection["id"], "no-such-connection"),
        secret=connection["webhook_secret"],
    )
    assert_problem(await elsewhere.deliver(stack.gateway, body), 404)


async def test_only_admins_connect_an_ats(stack: Stack) -> None:
    response = await stack.gateway.post(
        "/api/v1/ats/connections",
        json={"provider": "greenhouse", "name": "GH"},
        headers=stack.as_(ACME_TOKEN),
    )
    assert_problem(response, 403)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # Each was a 500: the value reached MongoDB, whose BSON strings are UTF-8.
        (
            "/api/v1/segments",
            b'{"name": "surrogate", "rule": {"all": '
            b'[{"field": "tags", "op": "equals", "value": "x\\ud800"}]}}',
        ),
        (
            "/api/v1/segments/preview",
            b'{"rule": {"all": [{"field": "tags", "op": "equals", "value": "\\udfff"}]}}',
        ),
        (
            "/api/v1/candidates",
            b'{"first_name": "Ada", "last_name": "Lovelace", "emails": ["surrogate@example.org"], '
            b'"custom_fields": {"k\\ud83d": "v"}}',
        ),
    ],
    ids=["segment-rule", "segment-preview", "custom-field-key"],
)
async def test_an_unpaired_surrogate_in_a_json_body_is_a_422_not_a_500(
    stack: Stack, path: str, body: bytes
) -> None:
    # Valid JSON, but not Unicode text (a lone UTF-16 surrogate): pydantic lets it through
    # where a field has no constraints.
    response = await stack.gateway.post(
        path,
        content=body,
        headers=stack.as_(ACME_ADMIN_TOKEN) | {"content-type": "application/json"},
    )
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "body"

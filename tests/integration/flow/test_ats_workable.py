"""A Workable account connected through the gateway, on the real broker and database: the
simulated account's signed webhooks (sent to the subscriptions it was given, as Workable sends
them) accepted and stored as applications, redeliveries deduplicated, a bad signature refused,
and a connection without its account's address refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from crm_devstack.ats.workable import (
    CANDIDATE_CREATED,
    CANDIDATE_MOVED,
    WorkableSimulator,
    sign,
)
from crm_devstack.infra import free_ports
from helpers import serving, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def workable() -> AsyncIterator[tuple[WorkableSimulator, str]]:
    simulator = WorkableSimulator(rate_limit=1_000)
    simulator.seed(200)
    [port] = free_ports(1)
    async with serving(simulator.app(), port) as url:
        yield simulator, f"{url}/spi/v3"


async def connect(stack: Stack, simulator: WorkableSimulator, base_url: str) -> dict[str, Any]:
    created = await stack.gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={
            "provider": "workable",
            "name": unique("workable"),
            "api_base_url": base_url,
            "api_key": simulator.token,
        },
    )
    assert created.status_code == 201, created.text
    connection: dict[str, Any] = created.json()
    # Workable wants a distinct target per subscription: one per event, told apart by a query
    # string the CRM ignores.
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {simulator.token}"}) as client:
        for event in (CANDIDATE_CREATED, CANDIDATE_MOVED):
            subscribed = await client.post(
                f"{base_url}/subscriptions",
                json={
                    "target": f"{connection['webhook_url']}?event={event}",
                    "event": event,
                    "args": {"job_shortcode": "", "stage_slug": ""},
                },
            )
            assert subscribed.status_code == 201, subscribed.text
    return connection


async def application(
    stack: Stack, connection: dict[str, Any], ats_application_id: str
) -> dict[str, Any]:
    listed = await stack.gateway.get(
        "/api/v1/ats/applications",
        params={"connection_id": connection["id"]},
        headers=stack.as_(ACME_TOKEN),
    )
    [found] = [a for a in listed.json() if a["ats_application_id"] == ats_application_id]
    return dict(found)


async def test_an_api_address_outside_the_known_ats_hosts_is_refused(stack: Stack) -> None:
    refused = await stack.gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={
            "provider": "workable",
            "name": "Workable",
            "api_key": "token",
            "api_base_url": "http://169.254.169.254/latest/meta-data",
        },
    )
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["api_base_url"]


async def test_a_workable_connection_needs_its_accounts_address_and_token(stack: Stack) -> None:
    refused = await stack.gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"provider": "workable", "name": "Workable", "api_key": "token"},
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == ["api_base_url"]
    assert "api_base_url" in refused.json()["detail"]
    neither = await stack.gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"provider": "workable", "name": "Workable"},
    )
    assert neither.status_code == 422, neither.text
    assert [e["field"] for e in neither.json()["errors"]] == ["api_base_url", "api_key"]


async def test_signed_workable_webhooks_become_applications_once(
    stack: Stack, workable: tuple[WorkableSimulator, str]
) -> None:
    simulator, base_url = workable
    connection = await connect(stack, simulator, base_url)
    shortcode = next(iter(simulator.jobs))

    # Only this test's subscriptions hear this candidate's events.
    applied = await simulator.apply(
        firstname="Zoë",
        lastname="Ångström",
        email=f"{unique('zoe')}@example.org",
        shortcode=shortcode,
    )
    [created] = simulator.last_deliveries
    # Workable replays a delivery answered with anything but 200.
    assert created.status_code == 200, created.text
    stored = await application(stack, connection, applied.id)
    assert stored["stage"] == "Applied"
    assert stored["status"] == "active"
    assert stored["job_name"] == simulator.jobs[shortcode].title
    assert stored["email"] == applied.email.lower()

    await simulator.move(applied.id, "interview")
    await simulator.disqualify(applied.id, "Failed final interview")
    assert [r.status_code for r in simulator.last_deliveries] == [200]
    rejected = await application(stack, connection, applied.id)
    assert (rejected["status"], rejected["stage"]) == ("rejected", "Interview")

    # Workable retries a delivery with the candidate as it is then: the same state, the same
    # delivery, whatever the envelope's firing time.
    headers, body = simulator.webhook(CANDIDATE_MOVED, applied.id)
    again = await stack.gateway.post(
        f"{connection['webhook_url'].removeprefix(stack.gateway_url)}?event={CANDIDATE_MOVED}",
        content=body,
        headers=headers,
    )
    assert (again.status_code, again.json()["status"]) == (200, "duplicate"), again.text

    forged = await stack.gateway.post(
        connection["webhook_url"].removeprefix(stack.gateway_url),
        content=body,
        headers=headers | {"X-Workable-Signature": sign("not-the-token", body)},
    )
    assert forged.status_code == 401, forged.text
    assert forged.headers["content-type"].startswith("application/problem+json")

    await simulator.hire(applied.id)
    hired = await application(stack, connection, applied.id)
    assert (hired["status"], hired["stage"]) == ("hired", "Hired")

"""Lever webhooks through the gateway, on the real broker and database: the simulated Lever
account sends its signed webhooks to a Lever connection's public URL; they are accepted, a
redelivery is recognised, and a body signed under another secret is refused."""

from __future__ import annotations

import json

import httpx
import pytest

from crm_devstack.ats.lever import LeverSimulator, LeverWebhooks, webhook_body
from helpers import unique
from integration.flow.conftest import Stack
from integration.flow.test_ats_connections import connect

pytestmark = pytest.mark.integration


async def lever_account(stack: Stack) -> tuple[LeverSimulator, LeverWebhooks]:
    connection = await connect(stack, "lever")
    assert connection["webhook_url"].endswith(f"/public/v1/ats/lever/{connection['id']}/webhooks")
    webhooks = LeverWebhooks(url=connection["webhook_url"], secret=connection["webhook_secret"])
    simulator = LeverSimulator(unique("key"), webhooks=webhooks)
    simulator.seed(50, years=2)
    return simulator, webhooks


def active_opportunity(simulator: LeverSimulator) -> str:
    return next(i for i, o in simulator.opportunities.items() if o["archived"] is None)


async def test_signed_lever_webhooks_are_accepted_once(stack: Stack) -> None:
    simulator, webhooks = await lever_account(stack)
    opportunity_id = active_opportunity(simulator)

    # Each change is posted by the simulator, which fails the test unless it is accepted.
    stage_change = await simulator.advance(opportunity_id, "offer")
    assert stage_change is not None
    await simulator.hire(opportunity_id)
    posting = next(p for p in simulator.postings if p["state"] == "published")
    await simulator.apply(
        name="Zoë Ångström", email=f"{unique('z')}@example.org", posting_id=posting["id"]
    )

    async with httpx.AsyncClient() as client:
        redelivered = await webhooks.deliver(client, stage_change)
    assert redelivered.status_code == 200, redelivered.text
    assert redelivered.json()["status"] == "duplicate"
    document = json.loads(stage_change)
    assert redelivered.json()["delivery_id"] == (
        f"{document['token']}:{document['triggeredAt']}:candidateStageChange:{opportunity_id}"
    )


async def test_a_webhook_signed_under_another_secret_is_refused(stack: Stack) -> None:
    simulator, webhooks = await lever_account(stack)
    opportunity_id = active_opportunity(simulator)
    ids = {"opportunityId": opportunity_id, "candidateId": opportunity_id, "contactId": "c"}
    forged = webhook_body("not the secret", "candidateHired", ids, 1_764_525_600_000)

    async with httpx.AsyncClient() as client:
        refused = await webhooks.deliver(client, forged)
        unsigned = await webhooks.deliver(
            client, json.dumps({"event": "candidateHired", "data": ids}).encode()
        )

    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert unsigned.status_code == 401, unsigned.text


async def test_an_unused_lever_event_is_acknowledged(stack: Stack) -> None:
    _, webhooks = await lever_account(stack)
    body = webhook_body(
        webhooks.secret, "interviewCreated", {"opportunityId": "o", "interviewId": "i"}, 1
    )
    async with httpx.AsyncClient() as client:
        acknowledged = await webhooks.deliver(client, body)
    assert acknowledged.status_code == 202, acknowledged.text

"""Lever webhooks through the gateway, on the real broker and database: the simulated Lever
account sends its signed webhooks to a Lever connection's public URL; they are accepted, a
redelivery is recognised, and a body signed under another secret is refused. The signature
tokens Lever issues (one per event type) are given to the connection by an admin, and replacing
them keeps the old ones for their grace period."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from crm_devstack.ats.lever import WEBHOOK_EVENTS, LeverSimulator, LeverWebhooks, webhook_body
from helpers import unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack
from integration.flow.test_ats_connections import connect

pytestmark = pytest.mark.integration


async def lever_account(stack: Stack) -> tuple[LeverSimulator, LeverWebhooks]:
    connection = await connect(stack, "lever")
    assert connection["webhook_url"].endswith(f"/public/v1/ats/lever/{connection['id']}/webhooks")
    webhooks = LeverWebhooks.signed_with(connection["webhook_url"], connection["webhook_secret"])
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
    body = webhooks.body("interviewCreated", {"opportunityId": "o", "interviewId": "i"}, 1)
    async with httpx.AsyncClient() as client:
        acknowledged = await webhooks.deliver(client, body)
    assert acknowledged.status_code == 202, acknowledged.text


async def give_tokens(
    stack: Stack,
    connection_id: str,
    tokens: list[str],
    *,
    caller: str = ACME_ADMIN_TOKEN,
    **more: Any,
) -> httpx.Response:
    return await stack.gateway.put(
        f"/api/v1/ats/connections/{connection_id}/webhook-secrets",
        headers=stack.as_(caller),
        json={"secrets": tokens, **more},
    )


async def test_the_signature_tokens_lever_issues_verify_its_webhooks(stack: Stack) -> None:
    simulator, own = await lever_account(stack)
    connection_id = own.url.split("/")[-2]
    # Lever issues a signature token per event type; the connection does not know them yet.
    issued = simulator.configure_webhooks(own.url)
    opportunity_id = active_opportunity(simulator)
    ids = {"opportunityId": opportunity_id, "candidateId": opportunity_id, "contactId": "c"}
    assert simulator.webhooks is not None
    lever = simulator.webhooks
    async with httpx.AsyncClient() as client:
        unknown = await lever.deliver(client, lever.body("candidateStageChange", ids, 1))
    assert unknown.status_code == 401, unknown.text

    as_recruiter = await give_tokens(stack, connection_id, list(issued.values()), caller=ACME_TOKEN)
    assert as_recruiter.status_code == 403, as_recruiter.text
    given = await give_tokens(stack, connection_id, list(issued.values()))
    assert given.status_code == 200, given.text
    assert given.json()["ats_issued_secrets"] == len(WEBHOOK_EVENTS)
    assert given.json()["ats_secrets_set_at"] is not None
    shown = await stack.gateway.get(
        f"/api/v1/ats/connections/{connection_id}", headers=stack.as_(ACME_TOKEN)
    )
    for answer in (given, shown):
        assert not any(token in answer.text for token in issued.values())

    # Each change is signed with its event's own token, and posted by the simulator, which
    # fails the test unless it is accepted.
    await simulator.advance(opportunity_id, "offer")
    await simulator.hire(opportunity_id)
    posting = next(p for p in simulator.postings if p["state"] == "published")
    await simulator.apply(
        name="Zoë Ångström", email=f"{unique('z')}@example.org", posting_id=posting["id"]
    )
    # The connection's own secret no longer verifies: Lever cannot sign with it.
    async with httpx.AsyncClient() as client:
        with_own = await own.deliver(client, own.body("candidateStageChange", ids, 2))
    assert with_own.status_code == 401, with_own.text


async def test_replaced_tokens_stay_valid_for_their_grace_period(stack: Stack) -> None:
    simulator, own = await lever_account(stack)
    connection_id = own.url.split("/")[-2]
    opportunity_id = active_opportunity(simulator)
    ids = {"opportunityId": opportunity_id, "candidateId": opportunity_id, "contactId": "c"}
    first, second, third = (LeverWebhooks.issued(own.url) for _ in range(3))

    async def deliver(webhooks: LeverWebhooks, triggered_at: int) -> int:
        """The answer's status: 200 for a verified delivery (`not_read`: the connection has no
        API key to read the opportunity back with), 401 for a refused signature."""
        body = webhooks.body("candidateStageChange", ids, triggered_at)
        async with httpx.AsyncClient() as client:
            return (await webhooks.deliver(client, body)).status_code

    assert (await give_tokens(stack, connection_id, list(first.tokens.values()))).status_code == 200
    replaced = await give_tokens(stack, connection_id, list(second.tokens.values()))
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["previous_ats_secrets_until"] is not None
    assert await deliver(first, 10) == 200  # during the grace
    assert await deliver(second, 11) == 200

    at_once = await give_tokens(stack, connection_id, list(third.tokens.values()), grace_hours=0)
    assert at_once.status_code == 200, at_once.text
    assert at_once.json()["previous_ats_secrets_until"] is None
    assert await deliver(second, 12) == 401
    assert await deliver(first, 13) == 401
    assert await deliver(third, 14) == 200

    # An empty list returns to the connection's own secret.
    cleared = await give_tokens(stack, connection_id, [], grace_hours=0)
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["ats_issued_secrets"] == 0
    assert await deliver(own, 15) == 200
    assert await deliver(third, 16) == 401


async def test_only_an_ats_that_issues_its_secrets_takes_them(stack: Stack) -> None:
    greenhouse = await connect(stack, "greenhouse")
    refused = await give_tokens(stack, greenhouse["id"], ["a token"])
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "secrets"

    lever = await connect(stack, "lever")
    too_many = await give_tokens(stack, lever["id"], [f"token-{n}" for n in range(11)])
    assert too_many.status_code == 422, too_many.text
    blank = await give_tokens(stack, lever["id"], ["  "])
    assert blank.status_code == 422, blank.text
    unknown = await give_tokens(stack, unique("connection"), ["a token"])
    assert unknown.status_code == 404, unknown.text


async def test_a_bulk_action_is_not_held_to_the_public_per_ip_limit(stack: Stack) -> None:
    """Archiving 150 candidates at once in Lever sends 150 webhooks from one address: more than
    the gateway's public limit of 120 a minute per address, which the webhooks are not held to;
    the address's other public requests still are."""
    _, webhooks = await lever_account(stack)
    async with httpx.AsyncClient() as client:
        statuses = [
            (
                await webhooks.deliver(
                    client,
                    webhooks.body(
                        "candidateArchiveChange",
                        {"opportunityId": f"bulk-{n}", "candidateId": f"bulk-{n}"},
                        1_764_525_600_000,
                    ),
                )
            ).status_code
            for n in range(150)
        ]
    assert 429 not in statuses
    assert set(statuses) == {200}  # verified and recorded (`not_read`: no API key)

    public = [
        (await stack.gateway.get(f"/public/v1/events/{unique('event')}")).status_code
        for _ in range(100)
    ]
    assert 429 in public

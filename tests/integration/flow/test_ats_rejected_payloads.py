"""Payloads a simulated Greenhouse account sends that the CRM cannot map, through the gateway on
the real broker and database: a signed webhook it does not understand (answered 422) and an
application a backfill skips are both kept, with their reason, for the connection's admins."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from crm_ats_sync.domain.models import Provider
from crm_devstack.ats.greenhouse import GreenhouseSimulator
from crm_devstack.greenhouse import GreenhouseWebhooks
from crm_devstack.infra import free_port
from helpers import serving, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack
from integration.flow.test_ats_simulated_accounts import Account, connect, run_to_the_end

pytestmark = pytest.mark.integration

# An application status Harvest does not document: the CRM cannot map the record.
UNKNOWN_STATUS = "transferred"


@pytest.fixture
async def account() -> AsyncIterator[Account]:
    simulator = GreenhouseSimulator(unique("harvest"), unique("secret"))
    simulator.seed(8, years=1)
    async with serving(simulator.app, free_port()) as url:
        yield Account(Provider.GREENHOUSE, simulator, f"{url}/v3", simulator.api_key)


def add_unmappable_application(simulator: GreenhouseSimulator) -> int:
    """An application like the account's others but in `UNKNOWN_STATUS`; its id."""
    application = copy.deepcopy(next(iter(simulator.applications.values())))
    application_id = max(simulator.applications) + 1000
    application |= {"id": application_id, "status": UNKNOWN_STATUS}
    simulator.applications[application_id] = application
    return application_id


async def rejected(stack: Stack, connection_id: str, **params: Any) -> Any:
    answer = await stack.gateway.get(
        f"/api/v1/ats/connections/{connection_id}/rejected-payloads",
        params=params,
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert answer.status_code == 200, answer.text
    return answer


async def test_an_unmappable_webhook_and_backfill_item_are_kept_with_their_reason(
    stack: Stack, account: Account
) -> None:
    unmappable = add_unmappable_application(account.simulator)
    connection = await connect(stack, account)
    run = await run_to_the_end(stack, connection["id"], "backfill")
    # The rest of the history is stored; the one record is skipped and named.
    assert (run["counts"]["applications_created"], run["counts"]["errors"]) == (
        len(account.simulator.applications) - 1,
        1,
    )
    assert run["errors"][-1]["ats_id"] == str(unmappable)

    webhooks = GreenhouseWebhooks(
        url=connection["webhook_url"].removeprefix(stack.gateway_url),
        secret=connection["webhook_secret"],
    )
    body = json.dumps({"action": "reject_candidate", "payload": {"application": {"id": 1}}})
    refused = await webhooks.deliver(stack.gateway, body.encode())
    assert refused.status_code == 422, refused.text
    # Greenhouse retries what was not answered 2xx: the same body is kept once.
    again = await webhooks.deliver(stack.gateway, body.encode())
    assert again.status_code == 422, again.text

    newest, backfilled = (await rejected(stack, connection["id"])).json()
    assert (newest["source"], newest["body"], newest["truncated"]) == ("webhook", body, False)
    assert "reject_candidate payload is malformed" in newest["reason"]
    assert (backfilled["source"], backfilled["ats_id"]) == ("backfill", str(unmappable))
    assert UNKNOWN_STATUS in backfilled["reason"]
    kept = json.loads(backfilled["body"])
    assert (kept["application"]["id"], kept["application"]["status"]) == (
        unmappable,
        UNKNOWN_STATUS,
    )
    assert kept["candidate"]["id"] == kept["application"]["candidate_id"]

    # Page by page through the `Link` header, newest first.
    first = await rejected(stack, connection["id"], limit=1)
    assert [p["id"] for p in first.json()] == [newest["id"]]
    following = first.links["next"]["url"]
    second = await rejected(stack, connection["id"], **dict(_query(following)))
    assert [p["id"] for p in second.json()] == [backfilled["id"]]
    assert "next" not in second.links

    # The bodies hold personal data: admins only.
    staff = await stack.gateway.get(
        f"/api/v1/ats/connections/{connection['id']}/rejected-payloads",
        headers=stack.as_(ACME_TOKEN),
    )
    assert staff.status_code == 403, staff.text
    unknown = await stack.gateway.get(
        f"/api/v1/ats/connections/{unique('connection')}/rejected-payloads",
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert unknown.status_code == 404, unknown.text


def _query(reference: str) -> list[tuple[str, str]]:
    """The parameters of a `Link` reference relative to the request (`?limit=1&cursor=...`)."""
    return parse_qsl(urlsplit(reference).query)

"""Sign-up abuse: a replay from one address sends at most 3 confirmations a day, and one IP
address is throttled at the gateway. (A module of its own: it exhausts its gateway's budget.)"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from conftest import SmtpSink

from crm_shared import InternalTokens, Principal, email_sha256
from helpers import eventually
from integration.conftest import INTERNAL_TOKEN_SECRET
from integration.flow.conftest import Stack
from integration.flow.consent_support import Mongo, assert_problem, database, new_person

pytestmark = pytest.mark.integration

REPLAYS = 500
CONCURRENCY = 20


async def test_500_sign_ups_of_one_address_send_three_confirmations(
    stack: Stack, smtp_sink: SmtpSink, mongo: Mongo
) -> None:
    person = new_person("replay")
    address = person["emails"][0]
    body = {
        "tenant": "resolved-by-the-gateway",
        "email": address,
        "first_name": person["first_name"],
    }
    # Straight to the candidates service, as the gateway forwards a sign-up, so the per-IP
    # limit of the gateway does not hide the per-address one.
    tokens = InternalTokens(INTERNAL_TOKEN_SECRET)
    community = Principal(tenant_id=stack.acme, user_id="public:community")

    async def sign_up(client: httpx.AsyncClient, token: str) -> int:
        headers = {"Authorization": f"Bearer {token}"}
        for attempt in range(3):
            try:
                response = await client.post(
                    "/public/community/signups", json=body, headers=headers
                )
                return response.status_code
            except httpx.TransportError:
                # A pooled connection the loaded server closed; the client retries like a browser.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async with httpx.AsyncClient(base_url=stack.candidates_url, timeout=60) as candidates:
        statuses: Counter[int] = Counter([await sign_up(candidates, tokens.mint(community))])
        for start in range(1, REPLAYS, CONCURRENCY):
            # Internal tokens live a minute: each batch gets a fresh one, as from the gateway.
            token = tokens.mint(community)
            batch = range(start, min(start + CONCURRENCY, REPLAYS))
            statuses.update(await asyncio.gather(*(sign_up(candidates, token) for _ in batch)))
    assert statuses == Counter({202: REPLAYS})

    candidates_db = database(stack, mongo, "candidates")
    signups = (
        await candidates_db["community_signups"]
        .find({"email_sha256": email_sha256(address)})
        .to_list()
    )
    outcomes = Counter(s["outcome"] for s in signups)
    assert outcomes == Counter({"confirmation_sent": 3, "rate_limited": REPLAYS - 3})
    [candidate] = await candidates_db["candidates"].find({"emails": address}).to_list()
    staged = await candidates_db["outbox"].count_documents(
        {"key": candidate["_id"], "topic": "consent.confirmation_requested"}
    )
    assert staged == 3

    mails = database(stack, mongo, "campaigns")["consent_mails"]

    async def all_three_handled() -> bool:
        return await mails.count_documents({"candidate_id": candidate["_id"]}) == 3

    await eventually(all_three_handled, timeout=60, message="campaigns did not mail all three")
    # Every request that was staged has been mailed; nothing else can produce a mail.
    assert len(smtp_sink.messages_to(address)) == 3


async def test_one_ip_address_is_throttled_at_the_gateway(stack: Stack) -> None:
    person = new_person("flood")
    body = {
        "tenant": f"{stack.acme}-community",
        "email": person["emails"][0],
        "first_name": person["first_name"],
    }
    responses = await asyncio.gather(
        *(stack.gateway.post("/public/v1/community/signups", json=body) for _ in range(60))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses[429] > 0, statuses
    assert set(statuses) <= {202, 429}
    throttled = next(r for r in responses if r.status_code == 429)
    assert_problem(throttled, 429)
    assert int(throttled.headers["retry-after"]) >= 1

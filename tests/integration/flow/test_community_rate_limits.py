"""Sign-up abuse: a replay from one address sends at most 3 confirmations a day, one IP
address is throttled at the gateway, and a tenant takes a bounded number of sign-ups an hour.
(A module of its own: it exhausts its gateway's budget.)"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from conftest import SmtpSink

from crm_shared import Principal, email_sha256, utc_now
from helpers import eventually
from integration.flow.conftest import Stack
from integration.flow.consent_support import Mongo, assert_problem, database, new_person
from internal_keys import internal_token

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
        statuses: Counter[int] = Counter(
            [await sign_up(candidates, internal_token(community, "candidates"))]
        )
        for start in range(1, REPLAYS, CONCURRENCY):
            # Internal tokens live a minute: each batch gets a fresh one, as from the gateway.
            token = internal_token(community, "candidates")
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
    # Three sign-ups wait for their confirmation; none created a candidate.
    assert await candidates_db["candidates"].find_one({"emails": address}) is None
    pending = await candidates_db["pending_signups"].find({"email": address}).to_list()
    assert len(pending) == 3
    pending_ids = [p["_id"] for p in pending]
    staged = await candidates_db["outbox"].count_documents(
        {"key": {"$in": pending_ids}, "topic": "consent.confirmation_requested"}
    )
    assert staged == 3

    mails = database(stack, mongo, "campaigns")["consent_mails"]

    async def all_three_handled() -> bool:
        return await mails.count_documents({"candidate_id": {"$in": pending_ids}}) == 3

    await eventually(all_three_handled, timeout=60, message="campaigns did not mail all three")
    # Every request that was staged has been mailed; nothing else can produce a mail.
    assert len(smtp_sink.messages_to(address)) == 3


async def test_a_tenant_takes_a_bounded_number_of_sign_ups_an_hour(
    stack: Stack, mongo: Mongo
) -> None:
    limit = stack.settings["candidates"].signups_per_hour_per_tenant
    pending_signups = database(stack, mongo, "candidates")["pending_signups"]
    now = utc_now()
    # The hour's sign-ups so far (from many addresses), as the service stores them.
    filler = [
        {
            "_id": f"filler-{n}",
            "tenant_id": stack.globex,
            "email": f"filler{n}@example.org",
            "email_sha256": f"filler-{n}",
            "first_name": "F",
            "requested_at": now - timedelta(minutes=30),
            "expires_at": now + timedelta(hours=47),
            "request_id": f"r-{n}",
        }
        for n in range(limit)
    ]
    await pending_signups.insert_many(filler)
    person = new_person("overflow")
    body = {
        "tenant": f"{stack.globex}-community",
        "email": person["emails"][0],
        "first_name": person["first_name"],
    }
    try:
        refused = await stack.gateway.post("/public/v1/community/signups", json=body)
        assert assert_problem(refused, 429)["detail"] == (
            "this talent community takes no more sign-ups this hour"
        )
        assert int(refused.headers["retry-after"]) >= 1
        assert await pending_signups.find_one({"email": person["emails"][0]}) is None
        # Another tenant's community is not affected.
        other = await stack.gateway.post(
            "/public/v1/community/signups", json=body | {"tenant": f"{stack.acme}-community"}
        )
        assert other.status_code == 202, other.text
    finally:
        await pending_signups.delete_many({"_id": {"$in": [f["_id"] for f in filler]}})
    accepted = await stack.gateway.post("/public/v1/community/signups", json=body)
    assert accepted.status_code == 202, accepted.text


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

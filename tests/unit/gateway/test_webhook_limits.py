"""The ATS webhook endpoints' own rate limit: a bulk action's burst of deliveries is held to a
limit per connection, not to the public per-IP one, which still holds for every other public
endpoint; one address cannot escape by spraying made-up connection ids."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest

from crm_shared.rate_limit import RateLimiter
from unit.gateway.fakes import FakeServices, gateway_with

pytestmark = pytest.mark.unit

BODY = b'{"action": "candidate_stage_change", "payload": {}}'


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202, json={"status": "accepted", "delivery_id": "d"})


def stopped_clock() -> float:
    return 0.0


def with_stopped_clock(limiter: RateLimiter) -> RateLimiter:
    """The same limit on a clock that does not move: no bucket refills while a test runs, however
    slowly a loaded machine sends its requests."""
    return RateLimiter(limiter.rate, limiter.capacity, clock=stopped_clock)


def client_of(services: FakeServices, **settings: Any) -> httpx.AsyncClient:
    app = gateway_with(services, **settings)
    container = app.state.container
    app.state.container = dataclasses.replace(
        container,
        public_limiter=with_stopped_clock(container.public_limiter),
        ats_webhook_limiter=with_stopped_clock(container.ats_webhook_limiter),
        ats_webhook_address_limiter=with_stopped_clock(container.ats_webhook_address_limiter),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


def webhook(connection_id: str) -> str:
    return f"/public/v1/ats/greenhouse/{connection_id}/webhooks"


async def test_a_burst_of_webhooks_is_not_held_to_the_public_per_ip_limit() -> None:
    services = FakeServices(respond=accepted)
    async with client_of(services) as client:  # the defaults: 120 a minute per address
        deliveries = [
            (await client.post(webhook("conn-1"), content=BODY)).status_code for _ in range(150)
        ]
        # The same address on another public endpoint: its whole per-IP burst (a quarter of
        # 120) is still there, then 429.
        others = [(await client.get("/public/v1/events/evt-1")).status_code for _ in range(40)]

    assert deliveries == [202] * 150
    assert others[:30] == [202] * 30
    assert set(others[30:]) == {429}
    assert len([r for r in services.received if r.url.path.startswith("/public/ats/")]) == 150


async def test_a_connection_past_its_limit_gets_429_with_retry_after() -> None:
    services = FakeServices(respond=accepted)
    async with client_of(services, ats_webhooks_per_minute_per_connection=8) as client:
        first = [(await client.post(webhook("conn-1"), content=BODY)) for _ in range(3)]
        other = await client.post(webhook("conn-2"), content=BODY)

    assert [r.status_code for r in first] == [202, 202, 429]  # a burst of a quarter of 8
    refused = first[2]
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["detail"] == "too many webhooks for this connection"
    # Another connection has its own budget.
    assert other.status_code == 202
    assert len(services.received) == 3


async def test_one_address_spraying_connection_ids_meets_its_ceiling() -> None:
    services = FakeServices(respond=accepted)
    async with client_of(services, ats_webhooks_per_minute_per_ip=40) as client:
        statuses = [
            (await client.post(webhook(f"made-up-{n}"), content=BODY)).status_code
            for n in range(20)
        ]

    assert statuses == [202] * 10 + [429] * 10  # a burst of a quarter of 40
    assert len(services.received) == 10

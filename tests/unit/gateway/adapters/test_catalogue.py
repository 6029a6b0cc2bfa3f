"""The gateway's catalogue of service documents: a service that cannot be reached is asked
once, not once per waiting request."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from crm_gateway.adapters.catalogue import FAILURE_HOLD_SECONDS, ServiceCatalogue

pytestmark = pytest.mark.unit


async def test_requests_queued_behind_a_failed_fetch_do_not_each_fetch_again() -> None:
    attempts = 0

    async def unreachable(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0.05)
        raise httpx.ConnectTimeout("no route", request=request)

    now = [100.0]
    catalogue = ServiceCatalogue(
        {"candidates": "http://candidates.internal"}, {}, refresh_seconds=30, clock=lambda: now[0]
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as client:
        documents = await asyncio.gather(
            *(catalogue.document(client, "candidates", max_age=30) for _ in range(20))
        )
        assert documents == [None] * 20
        assert attempts == 1
        now[0] += FAILURE_HOLD_SECONDS + 0.1
        assert await catalogue.document(client, "candidates", max_age=30) is None
        assert attempts == 2

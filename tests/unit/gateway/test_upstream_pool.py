"""The gateway's upstream pool: bounded, every slot given back, a full pool times out."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from crm_gateway.adapters.upstream import BoundedTransport, upstream_client


def _echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=request.url.path.encode())


async def test_at_most_the_slots_are_in_flight_and_each_is_given_back() -> None:
    in_flight = 0
    most = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return _echo(request)

    transport = BoundedTransport(httpx.MockTransport(slow), slots=3)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        responses = await asyncio.gather(*(client.get(f"/{n}") for n in range(20)))
        assert [r.text for r in responses] == [f"/{n}" for n in range(20)]
        assert most == 3
        # Every slot came back: three more fit at once.
        again = await asyncio.gather(*(client.get("/again") for _ in range(3)))
        assert all(r.status_code == 200 for r in again)


async def test_a_request_waits_no_longer_than_its_pool_timeout() -> None:
    transport = BoundedTransport(httpx.MockTransport(_echo), slots=1)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        request = client.build_request("GET", "/held")
        held = await client.send(request, stream=True)  # its slot is taken until closed
        with pytest.raises(httpx.PoolTimeout):
            await client.get("/waiting", timeout=httpx.Timeout(5.0, pool=0.05))
        await held.aclose()
        assert (await client.get("/after", timeout=httpx.Timeout(5.0, pool=0.05))).text == "/after"


async def test_a_failed_request_gives_its_slot_back() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    transport = BoundedTransport(httpx.MockTransport(refuse), slots=1)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
        for _ in range(3):
            with pytest.raises(httpx.ConnectError):
                await client.get("/", timeout=httpx.Timeout(5.0, pool=0.05))


def test_the_client_follows_no_redirects() -> None:
    client = upstream_client(max_connections=4, keep_alive_seconds=5, timeout_seconds=3)
    assert client.follow_redirects is False
    assert client.timeout.read == 3

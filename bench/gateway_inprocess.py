"""The gateway's own CPU per forwarded read, in one process: `PYTHONPATH=tests uv run --frozen
python -m bench.gateway_inprocess [path]`.

The app as the unit tests build it (development tokens, rate limits counted in memory, no
database) with its upstream client sending to a mock transport: no network, no other process,
so what is measured is the gateway's routing, dependencies, middleware and httpx's client, as
CPU time of this thread (which a busy machine stretches less than latencies). Best and median
of seven rounds of 1,000 reads. A measuring tool for docs/performance.md, not part of
`make bench`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import statistics
import sys
import time

import httpx

from crm_gateway.adapters.upstream import upstream_client
from unit.gateway.fakes import RECRUITER, FakeServices, raw_request, settings
from unit.gateway.memory_identity import create_gateway


async def main(target: bytes) -> None:
    logging.disable(logging.CRITICAL)
    services = FakeServices()
    app = create_gateway(
        settings(tenant_requests_per_minute=10**9, api_key_requests_per_minute=10**9)
    )
    client = upstream_client(max_connections=32, keep_alive_seconds=5, timeout_seconds=5)
    # The gateway's own client (its class, cookies, timeouts), only its transport replaced.
    client._transport = httpx.MockTransport(services.handle)
    app.state.container = dataclasses.replace(app.state.container, upstream=client)
    for _ in range(200):
        answer = await raw_request(app, "GET", target, headers=RECRUITER)
        assert answer.status == 200, answer.body
    rounds = []
    for _ in range(7):
        started = time.thread_time()
        for _ in range(1000):
            await raw_request(app, "GET", target, headers=RECRUITER)
        rounds.append((time.thread_time() - started) / 1000 * 1e6)
    print(
        f"{target.decode()}: gateway CPU per forwarded read, best {min(rounds):.0f} µs, "
        f"median {statistics.median(rounds):.0f} µs"
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1].encode() if len(sys.argv) > 1 else b"/api/v1/candidates/c1"))

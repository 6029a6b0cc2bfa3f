"""The core journey against every service running as its own process, and its traces in Zipkin."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from conftest import SmtpSink
from journey import JourneyActors, run_core_journey
from opentelemetry.instrumentation.utils import suppress_instrumentation

from crm_devstack.stack import DEV_TOKENS
from e2e.conftest import ProcessStack
from helpers import eventually

pytestmark = pytest.mark.e2e


def token_for(tenant: str, role: str) -> dict[str, str]:
    [token] = [
        t for t, who in DEV_TOKENS.items() if who["tenant_id"] == tenant and role in who["roles"]
    ]
    return {"Authorization": f"Bearer {token}"}


async def trace_services(zipkin_url: str, trace_id: str) -> tuple[set[str], list[dict[str, Any]]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{zipkin_url}/api/v2/trace/{trace_id}")
    spans: list[dict[str, Any]] = response.json() if response.status_code == 200 else []
    return {span["localEndpoint"]["serviceName"] for span in spans}, spans


async def test_the_core_journey_across_processes_is_traced_end_to_end(
    process_stack: ProcessStack, smtp_sink: SmtpSink
) -> None:
    actors = JourneyActors(
        recruiter=token_for("acme", "recruiter"),
        marketer=token_for("acme", "marketer"),
        coordinator=token_for("acme", "coordinator"),
        admin=token_for("acme", "admin"),
        other_tenant=token_for("globex", "recruiter"),
        gateway_url=process_stack.gateway_url,
    )
    # As an outside client: were httpx instrumented in this process (any in-process service
    # built earlier in the session instruments it), the requests would carry this process's
    # trace context, and the services' spans would not form the trace the test looks up.
    with suppress_instrumentation():
        async with httpx.AsyncClient(base_url=process_stack.gateway_url, timeout=30) as gateway:
            result = await run_core_journey(gateway, actors, smtp_sink)

    # Creating the candidate is one trace from the gateway through every Kafka hop it caused:
    # candidates -> candidate.created / segment.entered -> campaigns (enrol, send, message.sent)
    # -> analytics, events and ats-sync projections.
    expected = {"gateway", "candidates", "campaigns", "analytics", "events", "ats-sync"}
    found: set[str] = set()
    spans: list[dict[str, Any]] = []

    async def whole_trace_exported() -> bool:
        nonlocal found, spans
        found, spans = await trace_services(
            process_stack.zipkin_url, result.trace_ids["create_candidate"]
        )
        return found >= expected

    await eventually(
        whole_trace_exported,
        timeout=30,
        interval=0.5,
        message=f"the candidate's trace did not reach every service ({found})",
    )
    names = {span.get("name", "") for span in spans}
    assert any("segment.entered" in name for name in names), names
    assert any("message.sent" in name for name in names), names
    assert "smtp.send" in names, names
    assert all(span["traceId"] == result.trace_ids["create_candidate"] for span in spans)

    for step, services in (
        ("register", {"gateway", "events", "analytics", "candidates"}),
        ("webhook", {"gateway", "ats-sync", "analytics", "campaigns"}),
    ):

        async def step_traced(step: str = step, services: set[str] = services) -> bool:
            seen, _ = await trace_services(process_stack.zipkin_url, result.trace_ids[step])
            return seen >= services

        await eventually(
            step_traced,
            timeout=30,
            interval=0.5,
            message=f"the {step} trace did not reach {services}",
        )


async def answered_on_one_connection(port: int, idle_seconds: float) -> list[bytes]:
    """Status lines of two GET /healthz sent over one connection, idle in between."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    statuses: list[bytes] = []
    try:
        for pause in (idle_seconds, 0.0):
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            statuses.append(head.split(b"\r\n", 1)[0])
            [length] = [
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ]
            await reader.readexactly(length)
            await asyncio.sleep(pause)
    finally:
        writer.close()
    return statuses


async def test_a_connection_idle_longer_than_a_clients_keep_alive_is_still_served(
    process_stack: ProcessStack,
) -> None:
    # httpx keeps an idle connection 5 s, the gateway's upstream pool 30 s. A server closing
    # after 5 s (uvicorn's default) races a client reusing the connection, and the request
    # fails with a reset: the services must keep it open for longer than any client does.
    config = process_stack.config
    answered = await asyncio.gather(
        answered_on_one_connection(config.gateway_port, idle_seconds=6.5),
        answered_on_one_connection(config.candidates_port, idle_seconds=6.5),
    )
    assert list(answered) == [[b"HTTP/1.1 200 OK"] * 2] * 2

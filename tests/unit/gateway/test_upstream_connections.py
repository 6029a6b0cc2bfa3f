"""The gateway's pooled connections to a service that has just failed with a 500.

uvicorn closes a connection after an unhandled error even though the 500 went out complete
(the error is re-raised after the answer, for the server to log). A request the gateway sends
on that connection meanwhile is lost: it got a 502 (`httpx.ReadError`) once, right after a 500.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.types import Receive, Scope, Send

from crm_devstack.infra import free_ports
from crm_shared import ServiceSettings, build_platform, create_service_app
from helpers import serving
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY
from unit.gateway.fakes import RECRUITER, settings

pytestmark = pytest.mark.unit


def failing_service(post_started: asyncio.Event) -> Any:
    """A candidates service whose `GET /candidates/{id}` fails unexpectedly and whose uvicorn
    closes the connection only once a `POST /candidates` is under way, as a slow error log
    under load lets it happen."""
    router = APIRouter()

    @router.get("/candidates/{candidate_id}")
    async def fail(candidate_id: str) -> dict[str, str]:
        raise RuntimeError("a bug in the service")

    @router.post("/candidates", status_code=201)
    async def create() -> dict[str, str]:
        post_started.set()
        await asyncio.sleep(0.2)  # still working when the failed request's connection closes
        return {"id": "c1"}

    platform = build_platform(
        ServiceSettings(
            service_name="candidates",
            internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
            log_json=False,
        ),
        uses_mongo=False,
        uses_kafka=False,
    )
    app: FastAPI = create_service_app(
        platform, title="candidates", description="fake", routers=[router]
    )

    async def close_late(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except RuntimeError:
            # uvicorn closes the connection when the error reaches it; let that be late.
            await asyncio.wait_for(post_started.wait(), timeout=5)
            raise

    return close_late


async def test_a_request_right_after_a_500_reaches_the_service() -> None:
    post_started = asyncio.Event()
    [port] = free_ports(1)
    async with serving(failing_service(post_started), port) as service_url:
        gateway = gateway_app(service_url)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway), base_url="http://gateway.test"
        ) as client:
            failed = await client.get("/api/v1/candidates/c0", headers=RECRUITER)
            assert failed.status_code == 500
            created = await client.post("/api/v1/candidates", json={}, headers=RECRUITER)
            assert created.status_code == 201, created.text
        await gateway.state.container.upstream.aclose()


def gateway_app(candidates_url: str) -> FastAPI:
    from unit.gateway.memory_identity import create_gateway

    return create_gateway(settings(candidates_url=candidates_url))

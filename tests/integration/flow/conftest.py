"""Fixtures of the first-flow tests: the gateway, candidates and analytics served in-process
over real HTTP, on the session's real Kafka broker and SecantusDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app as create_analytics
from crm_candidates.config import CandidatesSettings
from crm_candidates.main import create_app as create_candidates
from crm_devstack.infra import free_ports
from crm_gateway.config import DevIdentity, GatewaySettings
from crm_gateway.main import create_app as create_gateway
from helpers import serving, unique
from integration.conftest import INTERNAL_TOKEN_SECRET

ACME_TOKEN = "token-acme-recruiter"
GLOBEX_TOKEN = "token-globex-recruiter"


@dataclass
class Stack:
    gateway: httpx.AsyncClient
    candidates_url: str
    analytics_url: str
    candidates_database: str
    analytics_settings: AnalyticsSettings

    def as_(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
async def stack(
    kafka_bootstrap_servers: str, mongodb_uri: str, span_exporter: InMemorySpanExporter
) -> AsyncIterator[Stack]:
    run = unique("flow")
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka_bootstrap_servers,
        "mongodb_uri": mongodb_uri,
        "internal_token_secret": INTERNAL_TOKEN_SECRET,
        "outbox_poll_interval_seconds": 0.2,
        "log_json": False,
    }
    candidates = CandidatesSettings(mongodb_database=f"{run}_candidates", **common)
    analytics = AnalyticsSettings(mongodb_database=f"{run}_analytics", **common)
    gateway_port, candidates_port, analytics_port = free_ports(3)
    gateway = GatewaySettings(
        **common,
        candidates_url=f"http://127.0.0.1:{candidates_port}",
        analytics_url=f"http://127.0.0.1:{analytics_port}",
        dev_tokens={
            ACME_TOKEN: DevIdentity(tenant_id=f"{run}-acme", user_id="rita", roles=["recruiter"]),
            GLOBEX_TOKEN: DevIdentity(
                tenant_id=f"{run}-globex", user_id="gus", roles=["recruiter"]
            ),
        },
    )
    async with (
        serving(create_candidates(candidates), candidates_port) as candidates_url,
        serving(create_analytics(analytics), analytics_port) as analytics_url,
        serving(create_gateway(gateway), gateway_port) as gateway_url,
        httpx.AsyncClient(base_url=gateway_url, timeout=30) as client,
    ):
        yield Stack(client, candidates_url, analytics_url, candidates.database_name, analytics)

"""Fixtures of the flow tests: all six services served in-process over real HTTP, on the
session's real Kafka broker, SecantusDB and SMTP sink. Each test module gets fresh tenants."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from conftest import SmtpSink
from fastapi import FastAPI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pymongo import AsyncMongoClient

from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app as create_analytics
from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.main import create_app as create_ats_sync
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.main import create_app as create_campaigns
from crm_candidates.config import CandidatesSettings
from crm_candidates.main import create_app as create_candidates
from crm_devstack.infra import free_ports
from crm_events.config import EventsSettings
from crm_events.main import create_app as create_events
from crm_gateway.config import DevIdentity, GatewaySettings, Tenant
from crm_gateway.main import create_app as create_gateway
from crm_shared import LimitOverrides, Quotas
from helpers import serving, unique
from integration.conftest import INTERNAL_TOKEN_SECRET

ACME_TOKEN = "token-acme-recruiter"
ACME_ADMIN_TOKEN = "token-acme-admin"
GLOBEX_TOKEN = "token-globex-recruiter"
GLOBEX_ADMIN_TOKEN = "token-globex-admin"
GHOST_TOKEN = "token-of-an-unknown-tenant"
# A tenant with small quotas (tests/integration/flow/test_tenant_quotas.py).
SMALL_TOKEN = "token-small-recruiter"
SMALL_LIMITS = LimitOverrides(
    max_upload_bytes=4096,
    max_import_rows=20,
    max_concurrent_imports=1,
    max_concurrent_broadcasts=1,
)


@dataclass
class Stack:
    gateway: httpx.AsyncClient
    gateway_url: str
    urls: dict[str, str]
    settings: dict[str, Any]
    acme: str
    globex: str
    small: str = ""

    @property
    def candidates_url(self) -> str:
        return self.urls["candidates"]

    @property
    def analytics_url(self) -> str:
        return self.urls["analytics"]

    @property
    def candidates_database(self) -> str:
        return str(self.settings["candidates"].database_name)

    @property
    def analytics_settings(self) -> AnalyticsSettings:
        settings: AnalyticsSettings = self.settings["analytics"]
        return settings

    def as_(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def flow_consumer_groups() -> str:
    """The consumer-group prefix every module's stack shares.

    A new group starts at the earliest offset, as a new service must. Were each module's stack
    given fresh groups, it would first replay every event the session had produced so far, and
    the last modules would wait minutes behind that backlog. Sharing the groups, a stack resumes
    where the previous module's stack committed; modules run one after another, so two stacks
    never split a group's partitions between them.
    """
    return unique("flow-groups")


@pytest.fixture(scope="module")
async def stack(
    kafka_bootstrap_servers: str,
    mongodb_uri: str,
    smtp_sink: SmtpSink,
    span_exporter: InMemorySpanExporter,
    flow_consumer_groups: str,
) -> AsyncIterator[Stack]:
    run = unique("flow")
    acme, globex, small = f"{run}-acme", f"{run}-globex", f"{run}-small"
    quotas = Quotas(tenants={small: SMALL_LIMITS})
    ports = dict(
        zip(
            ("gateway", "candidates", "campaigns", "events", "ats-sync", "analytics"),
            free_ports(6),
            strict=True,
        )
    )
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka_bootstrap_servers,
        "mongodb_uri": mongodb_uri,
        "internal_token_secret": INTERNAL_TOKEN_SECRET,
        "link_signing_secret": "integration-tests-link-signing-secret-0123456789",
        "outbox_poll_interval_seconds": 0.2,
        "kafka_group_prefix": flow_consumer_groups,
        "log_json": False,
    }
    settings: dict[str, Any] = {
        "candidates": CandidatesSettings(
            mongodb_database=f"{run}_candidates",
            public_base_url=urls["gateway"],
            consent_expiry_poll_interval_seconds=0.2,
            quotas=quotas,
            **common,
        ),
        "campaigns": CampaignsSettings(
            mongodb_database=f"{run}_campaigns",
            smtp_host=smtp_sink.host,
            smtp_port=smtp_sink.port,
            public_base_url=urls["gateway"],
            tracking_secret="integration-tests-tracking-secret-0123456789",
            sequence_poll_interval_seconds=0.2,
            delivery_poll_interval_seconds=0.2,
            tenant_time_zones={acme: "Europe/Berlin"},
            # The tests open mail the moment it arrives, which the timing rule would take for
            # a scanner (user agents and addresses still flag machines).
            machine_fetch_window_seconds=0,
            quotas=quotas,
            **common,
        ),
        "events": EventsSettings(mongodb_database=f"{run}_events", **common),
        "ats-sync": AtsSyncSettings(
            mongodb_database=f"{run}_ats_sync", public_base_url=urls["gateway"], **common
        ),
        "analytics": AnalyticsSettings(mongodb_database=f"{run}_analytics", **common),
        "gateway": GatewaySettings(
            mongodb_database=f"{run}_gateway",
            **common,
            candidates_url=urls["candidates"],
            campaigns_url=urls["campaigns"],
            events_url=urls["events"],
            ats_sync_url=urls["ats-sync"],
            analytics_url=urls["analytics"],
            # Every test signs people up from 127.0.0.1; the sign-up limits have tests of their
            # own (tests/unit/gateway/test_public_abuse.py).
            signups_per_minute_per_ip=6000,
            signups_per_minute_per_community=6000,
            tenants={
                acme: Tenant(name="Acme", community_key=f"{acme}-community"),
                globex: Tenant(name="Globex", community_key=f"{globex}-community"),
                small: Tenant(name="Small", community_key=f"{small}-community"),
            },
            dev_tokens={
                ACME_TOKEN: DevIdentity(tenant_id=acme, user_id="rita", roles=["recruiter"]),
                ACME_ADMIN_TOKEN: DevIdentity(tenant_id=acme, user_id="ada", roles=["admin"]),
                GLOBEX_TOKEN: DevIdentity(tenant_id=globex, user_id="gus", roles=["recruiter"]),
                GLOBEX_ADMIN_TOKEN: DevIdentity(tenant_id=globex, user_id="gia", roles=["admin"]),
                SMALL_TOKEN: DevIdentity(tenant_id=small, user_id="sam", roles=["recruiter"]),
                GHOST_TOKEN: DevIdentity(tenant_id=f"{run}-ghost", user_id="g", roles=["admin"]),
            },
        ),
    }
    factories: dict[str, Callable[[Any], FastAPI]] = {
        "candidates": create_candidates,
        "campaigns": create_campaigns,
        "events": create_events,
        "ats-sync": create_ats_sync,
        "analytics": create_analytics,
        "gateway": create_gateway,
    }
    async with AsyncExitStack() as running:
        for name, factory in factories.items():
            await running.enter_async_context(serving(factory(settings[name]), ports[name]))
        client = await running.enter_async_context(
            httpx.AsyncClient(base_url=urls["gateway"], timeout=30)
        )
        yield Stack(client, urls["gateway"], urls, settings, acme, globex, small)


@pytest.fixture(scope="module")
async def mongo(mongodb_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """A client for reading what the services really stored."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        yield client
    finally:
        await client.close()

"""Fixtures of the flow tests: all six services served in-process over real HTTP, on the
session's real Kafka broker, SecantusDB and SMTP sink.

The five consuming services start once for the flow package; each test module gets fresh
tenants and a gateway of its own that maps the tokens below to them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
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
from crm_shared import ROLES, LimitOverrides, Quotas, Role
from helpers import ats_secret_keys, serving, unique
from internal_keys import INTERNAL_TOKEN_PRIVATE_KEY, INTERNAL_TOKEN_PUBLIC_KEY

# The staff member most flow tests act as: one person who recruits, markets and runs events
# (a small team's everyday user), so a test of one feature needs one token; they change no
# tenant-wide setting (admins do). Each role alone has a token below for the permission matrix.
STAFF_ROLES: list[Role] = ["recruiter", "marketer", "coordinator"]
ACME_TOKEN = "token-acme-staff"
ACME_ADMIN_TOKEN = "token-acme-admin"
GLOBEX_TOKEN = "token-globex-staff"
GLOBEX_ADMIN_TOKEN = "token-globex-admin"
GHOST_TOKEN = "token-of-an-unknown-tenant"
# A tenant with small quotas (tests/integration/flow/test_tenant_quotas.py).
SMALL_TOKEN = "token-small-staff"
# One token per role, each holding that role alone (tests/integration/flow/test_permissions.py).
ACME_ROLE_TOKENS: dict[Role, str] = {role: f"token-acme-{role}" for role in ROLES}
ACME_RECRUITER_TOKEN = ACME_ROLE_TOKENS["recruiter"]
ACME_MARKETER_TOKEN = ACME_ROLE_TOKENS["marketer"]
ACME_COORDINATOR_TOKEN = ACME_ROLE_TOKENS["coordinator"]
SMALL_LIMITS = LimitOverrides(
    max_upload_bytes=4096,
    max_import_rows=20,
    max_concurrent_imports=1,
    max_concurrent_broadcasts=1,
)


FLOW_DIRECTORY = Path(__file__).parent
# Modules that start more instances of the package's services, in its consumer groups and on its
# databases. Under load an instance may miss its 60 s stop, and what is left of it must not
# disturb the modules after it, so these run last.
RUN_LAST = frozenset({"test_sequence_workers.py"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Moves the RUN_LAST modules behind the package's other modules, in place."""
    positions = [n for n, item in enumerate(items) if item.path.parent == FLOW_DIRECTORY]
    flow = sorted((items[n] for n in positions), key=lambda item: item.path.name in RUN_LAST)
    for position, item in zip(positions, flow, strict=True):
        items[position] = item


@dataclass(frozen=True)
class ModuleTenants:
    """The tenants one test module works in, fresh for every module."""

    acme: str
    globex: str
    small: str
    ghost: str

    @classmethod
    def fresh(cls) -> ModuleTenants:
        run = unique("flow")
        return cls(f"{run}-acme", f"{run}-globex", f"{run}-small", f"{run}-ghost")

    def registered(self) -> dict[str, Tenant]:
        """The gateway's tenants (the ghost tenant is deliberately unknown)."""
        return {
            self.acme: Tenant(name="Acme", community_key=f"{self.acme}-community"),
            self.globex: Tenant(name="Globex", community_key=f"{self.globex}-community"),
            self.small: Tenant(name="Small", community_key=f"{self.small}-community"),
        }

    def dev_tokens(self) -> dict[str, DevIdentity]:
        """The module's tokens: the same constants in every module, each module's tenants."""
        return {
            **{
                token: DevIdentity(tenant_id=self.acme, user_id=f"acme-{role}", roles=[role])
                for role, token in ACME_ROLE_TOKENS.items()
            },
            ACME_TOKEN: DevIdentity(tenant_id=self.acme, user_id="rita", roles=STAFF_ROLES),
            ACME_ADMIN_TOKEN: DevIdentity(tenant_id=self.acme, user_id="ada", roles=["admin"]),
            GLOBEX_TOKEN: DevIdentity(tenant_id=self.globex, user_id="gus", roles=STAFF_ROLES),
            GLOBEX_ADMIN_TOKEN: DevIdentity(tenant_id=self.globex, user_id="gia", roles=["admin"]),
            SMALL_TOKEN: DevIdentity(tenant_id=self.small, user_id="sam", roles=STAFF_ROLES),
            GHOST_TOKEN: DevIdentity(tenant_id=self.ghost, user_id="g", roles=["admin"]),
        }


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


@dataclass(frozen=True)
class Backends:
    """The five consuming services, started once for the flow package, and what a module's
    gateway needs to front them."""

    urls: dict[str, str]
    settings: dict[str, Any]
    gateway_port: int
    gateway_database: str
    common: dict[str, Any]
    tenants_by_module: dict[Path, ModuleTenants]


@pytest.fixture(scope="session")
def flow_consumer_groups() -> str:
    """The consumer-group prefix of the flow package's services.

    A new group starts at the earliest offset, as a new service must; the services start once
    for the whole package (not per module), so they join their groups once.
    """
    return unique("flow-groups")


def _flow_modules(session: pytest.Session) -> list[Path]:
    """The test modules of this session that use the flow stack, in run order."""
    modules: dict[Path, None] = {}
    for item in session.items:
        if "stack" in getattr(item, "fixturenames", ()):
            modules.setdefault(Path(item.path), None)
    return list(modules)


@pytest.fixture(scope="package")
async def backends(
    request: pytest.FixtureRequest,
    kafka_bootstrap_servers: str,
    mongodb_uri: str,
    smtp_sink: SmtpSink,
    span_exporter: InMemorySpanExporter,
    flow_consumer_groups: str,
) -> AsyncIterator[Backends]:
    """candidates, campaigns, events, ats-sync and analytics, served once for every module.

    Starting the six services per module cost every module a stack start and stop (dozens of
    consumer starts), and a stack that did not stop in time left its consumer groups
    rebalancing for the next one.
    Each module still gets fresh tenants: the tenants of every collected module are known
    here, so their tenant-scoped settings (campaigns' time zones, quotas) are registered up
    front, and each module's own gateway maps the tokens to its tenants.
    """
    tenants_by_module = {module: ModuleTenants.fresh() for module in _flow_modules(request.session)}
    run = unique("flow")
    quotas = Quotas(tenants={t.small: SMALL_LIMITS for t in tenants_by_module.values()})
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
        "environment": "development",
        "internal_token_public_key": INTERNAL_TOKEN_PUBLIC_KEY,
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
            # An audience member campaigns does not know is waited for this long (180 s in
            # production), so that the tests of skipped unknown candidates end soon.
            broadcast_recipient_wait_seconds=8,
            tenant_time_zones={t.acme: "Europe/Berlin" for t in tenants_by_module.values()},
            # The tests open mail the moment it arrives, which the timing rule would take for
            # a scanner (user agents and addresses still flag machines).
            machine_fetch_window_seconds=0,
            quotas=quotas,
            **common,
        ),
        "events": EventsSettings(
            mongodb_database=f"{run}_events", reminder_poll_interval_seconds=0.5, **common
        ),
        "ats-sync": AtsSyncSettings(
            mongodb_database=f"{run}_ats_sync",
            public_base_url=urls["gateway"],
            ats_secret_keys=ats_secret_keys(),
            **common,
        ),
        "analytics": AnalyticsSettings(
            mongodb_database=f"{run}_analytics",
            # The weekly report job looks for due reports this often (a test makes one due);
            # each look takes the job's lease, a write, so not more often on the shared stack.
            weekly_report_interval_seconds=2,
            **common,
        ),
    }
    factories: dict[str, Callable[[Any], FastAPI]] = {
        "candidates": create_candidates,
        "campaigns": create_campaigns,
        "events": create_events,
        "ats-sync": create_ats_sync,
        "analytics": create_analytics,
    }
    async with AsyncExitStack() as running:
        for name, factory in factories.items():
            await running.enter_async_context(serving(factory(settings[name]), ports[name]))
        yield Backends(
            urls, settings, ports["gateway"], f"{run}_gateway", common, tenants_by_module
        )


@pytest.fixture(scope="module")
async def stack(request: pytest.FixtureRequest, backends: Backends) -> AsyncIterator[Stack]:
    """The flow stack as one test module sees it: fresh tenants, and a gateway of its own
    (fresh rate-limit budgets, the tokens mapped to the module's tenants) on the port every
    service links to."""
    tenants = backends.tenants_by_module.get(Path(request.path))
    if tenants is None:
        raise LookupError(f"{request.path} was not collected when the flow stack started")
    urls = backends.urls
    gateway_settings = GatewaySettings(
        mongodb_database=backends.gateway_database,
        **backends.common,
        candidates_url=urls["candidates"],
        campaigns_url=urls["campaigns"],
        events_url=urls["events"],
        ats_sync_url=urls["ats-sync"],
        analytics_url=urls["analytics"],
        # Every test signs people up from 127.0.0.1; the sign-up limits have tests of their
        # own (tests/unit/gateway/test_public_abuse.py).
        signups_per_minute_per_ip=6000,
        signups_per_minute_per_community=6000,
        tenants=tenants.registered(),
        dev_tokens=tenants.dev_tokens(),
        internal_token_private_key=INTERNAL_TOKEN_PRIVATE_KEY,
        # A module may set its gateway's limits (`GATEWAY_SETTINGS`), e.g. a module whose
        # public requests outnumber the per-address budget when its tests run fast.
        **getattr(request.module, "GATEWAY_SETTINGS", {}),
    )
    settings = backends.settings | {"gateway": gateway_settings}
    async with (
        serving(create_gateway(gateway_settings), backends.gateway_port),
        httpx.AsyncClient(base_url=urls["gateway"], timeout=30) as client,
    ):
        yield Stack(
            client, urls["gateway"], urls, settings, tenants.acme, tenants.globex, tenants.small
        )


@pytest.fixture(scope="module")
async def mongo(mongodb_uri: str) -> AsyncIterator[AsyncMongoClient[dict[str, Any]]]:
    """A client for reading what the services really stored."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def acme_vocabulary_restored(stack: Stack) -> AsyncIterator[None]:
    """Puts Acme's skill vocabulary back after a test that replaces it: the stack is shared by
    the package's modules, and a synonym left behind re-spells the skills later tests write."""
    admin = stack.as_(ACME_ADMIN_TOKEN)
    before = await stack.gateway.get("/api/v1/skills/vocabulary", headers=admin)
    assert before.status_code == 200, before.text
    yield
    restored = await stack.gateway.put(
        "/api/v1/skills/vocabulary", json={"skills": before.json()["skills"]}, headers=admin
    )
    assert restored.status_code == 200, restored.text

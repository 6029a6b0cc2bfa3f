"""The e2e tier: every service as its own uvicorn processes (started exactly as `crm-stack up
--replicas 2` starts them: two of each, sharing their consumer groups and workers), on a Kafka
broker of its own and the session's SecantusDB and SMTP sink, exporting traces to Zipkin, with
the demo tenant signing in through Keycloak. One stack serves every e2e module: each would
otherwise start its own broker and fourteen processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser import DESKTOP, PageWatch, chromium
from conftest import SmtpSink
from early_start import E2E_KAFKA, KEYCLOAK, ZIPKIN, EarlyStarts, take_or_start
from playwright.sync_api import Browser, Page

from crm_devstack.config import StackConfig
from crm_devstack.infra import KafkaBroker, Zipkin, free_ports
from crm_devstack.keycloak import Keycloak
from crm_devstack.processes import ManagedProcess, ProcessError
from crm_devstack.stack import service_processes, services_config
from crm_shared import ensure_topics

# Every e2e test runs against two processes of each service (tests/e2e/test_replicas.py).
E2E_REPLICAS = 2


@dataclass(frozen=True)
class ProcessStack:
    config: StackConfig
    zipkin_url: str
    keycloak: Keycloak

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.config.gateway_port}"


@pytest.fixture(scope="session")
def keycloak(
    tmp_path_factory: pytest.TempPathFactory, early_starts: EarlyStarts
) -> Iterator[Keycloak]:
    """Keycloak with the demo realm; the session launched it at its first test when it could
    (its first start on a machine builds the server: minutes)."""

    def fresh() -> Keycloak:
        (port,) = free_ports(1)
        return Keycloak(tmp_path_factory.mktemp("keycloak"), port)

    server = take_or_start(early_starts, KEYCLOAK, Keycloak, fresh)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def e2e_kafka(tmp_path_factory: pytest.TempPathFactory, early_starts: EarlyStarts) -> Iterator[str]:
    """A broker of the e2e tier's own, as a new deployment has: on the session's broker the
    services' new consumer groups would first replay every event the integration tier produced
    (minutes of backlog when e2e runs last) before the journey's. The session launched it early
    when it could."""

    def fresh() -> KafkaBroker:
        port, controller_port = free_ports(2)
        return KafkaBroker(tmp_path_factory.mktemp("e2e-kafka"), port, controller_port)

    broker = take_or_start(early_starts, E2E_KAFKA, KafkaBroker, fresh)
    try:
        asyncio.run(ensure_topics(broker.bootstrap_servers))
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def process_stack(
    tmp_path_factory: pytest.TempPathFactory,
    e2e_kafka: str,
    mongodb_uri: str,
    smtp_sink: SmtpSink,
    early_starts: EarlyStarts,
    keycloak: Keycloak,
) -> Iterator[ProcessStack]:
    run_dir: Path = tmp_path_factory.mktemp("e2e")
    config = services_config(
        bootstrap_servers=e2e_kafka,
        mongodb_uri=mongodb_uri,
        smtp_port=smtp_sink.port,
        run_dir=run_dir,
        kafka_group_prefix=f"e2e-{run_dir.name}",
        replicas=E2E_REPLICAS,
    )
    zipkin = take_or_start(
        early_starts, ZIPKIN, Zipkin, lambda: Zipkin(run_dir, config.zipkin_port)
    )
    # An early-launched Zipkin listens on a port of its own choosing; the gateway signs the
    # demo tenant in through the session's Keycloak, as `crm-stack up` does through its own.
    config = config.model_copy(update={"zipkin_port": zipkin.port, "keycloak_port": keycloak.port})
    services: list[ManagedProcess] = service_processes(config)
    try:
        for process in services:
            process.start()
        for process in services:
            try:
                process.wait_ready()
            except ProcessError:
                pytest.fail(f"{process.name} did not start:\n{process.log_tail()}")
        yield ProcessStack(config, zipkin.url, keycloak)
    finally:
        for process in services:
            process.stop()
        zipkin.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per browser test module; each test gets a context of its own. Not one per
    session: Playwright's sync API keeps an event loop running in the thread while it is open,
    and the e2e modules after the console's call `asyncio.run`."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def watched_page(browser: Browser) -> Iterator[tuple[Page, PageWatch]]:
    """A desktop-sized page in a fresh context (no cookies), watched for script errors and
    blocked resources."""
    context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    page = context.new_page()
    watch = PageWatch()
    watch.attach(page)
    try:
        yield page, watch
    finally:
        context.close()

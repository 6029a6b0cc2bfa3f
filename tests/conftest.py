"""Session infrastructure for the integration and e2e tiers: a real Kafka broker and SecantusDB.

Both are started once per test session on free ports in a temporary directory and stopped at the
end. To iterate faster against an already running local stack, set CRM_TEST_KAFKA_BOOTSTRAP and
CRM_TEST_MONGODB_URI (e.g. to the values `crm-stack up` prints).

Every test is marked with the tier of its folder, and a run goes through the tiers fastest
first (unit, integration, e2e, faults), so a unit failure shows in seconds, not at the end.

`make test` runs two pytest-xdist workers (`-n 2`), each with its own broker and database: one
takes the flow tests (six services in-process), the other the unit tier, the rest of the
integration tier and the e2e tier (services as processes, Keycloak, Chromium). The flow tests
are the longest part of the run, so the unit tier runs beside them, not before them (the run
takes as long as the worker that finishes last). Most of either half is spent waiting on a
broker, a database or a browser, so on two cores the run takes about half the time of one
worker.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from early_start import EarlyStarts, launch_needed, needed_components
from xdist.scheduler import LoadScopeScheduling

from crm_devstack.infra import KafkaBroker, MongoServer, free_ports
from crm_devstack.smtp_sink import ReceivedMessage, SmtpSinkServer, read_messages
from crm_shared import ensure_topics

TESTS_DIRECTORY = Path(__file__).parent
# The tier folders in run order; within the integration tier the flow package, which serves all
# six services, runs after the folders that test one piece at a time.
TIERS = ("unit", "integration", "e2e", "faults")
SLOWEST_INTEGRATION_FOLDER = "flow"
# A test already marked with one of these keeps its marks (a soak test in tests/e2e is no e2e).
TIER_MARKERS = frozenset(TIERS) | {"soak"}
# The two halves of a parallel run (see the module's docstring), by where a test's id starts.
IN_PROCESS_HALF = "in-process"
PROCESSES_HALF = "processes"
IN_PROCESS_FOLDERS = (f"tests/integration/{SLOWEST_INTEGRATION_FOLDER}/",)
FIRST_TEST = pytest.StashKey[pytest.Item]()


def _folders(item: pytest.Item) -> tuple[str, ...]:
    if not item.path.is_relative_to(TESTS_DIRECTORY):
        return ()
    return item.path.relative_to(TESTS_DIRECTORY).parts


def _half(nodeid: str) -> str:
    return IN_PROCESS_HALF if nodeid.startswith(IN_PROCESS_FOLDERS) else PROCESSES_HALF


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling:
    """Each half is one unit of work, so each of the two workers runs one half from start to
    end (its broker, database and stacks start once) in the tier order below. (xdist's
    `loadgroup` would do it with marks, but cannot rename a test's id under pytest 9.)"""

    class Halves(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no type hints
        def _split_scope(self, nodeid: str) -> str:
            return _half(nodeid)

    return Halves(config, log)


def _run_order(item: pytest.Item) -> tuple[int, int]:
    folders = _folders(item)
    tier = TIERS.index(folders[0]) if folders and folders[0] in TIERS else len(TIERS)
    slowest = len(folders) > 2 and folders[1] == SLOWEST_INTEGRATION_FOLDER
    return tier, int(slowest)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each unmarked test with its folder's tier (before -m selects), and orders the run
    by tier."""
    for item in items:
        folders = _folders(item)
        marked = any(mark.name in TIER_MARKERS for mark in item.iter_markers())
        if folders and folders[0] in TIERS and not marked:
            item.add_marker(folders[0])
    # A stable sort: tests keep their order within a module, so module fixtures start once.
    items.sort(key=_run_order)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> None:
    """Notes the first test this process runs (before its fixtures are set up)."""
    item.config.stash.setdefault(FIRST_TEST, item)


@pytest.fixture(scope="session", autouse=True)
def early_starts(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EarlyStarts]:
    """Launches, at the first test this process runs, the slow JVMs that the selected e2e tests
    it will run need, so they start while the faster tiers run (see early_start.py); stops any
    left untaken. A parallel worker runs one half of the selection, the half of its first test."""
    items = request.session.items
    if os.environ.get("PYTEST_XDIST_WORKER"):
        first = request.config.stash[FIRST_TEST]
        items = [item for item in items if _half(item.nodeid) == _half(first.nodeid)]
    selected = [getattr(item, "fixturenames", []) for item in items]
    early = launch_needed(EarlyStarts(), needed_components(selected), tmp_path_factory.mktemp)
    try:
        yield early
    finally:
        early.close()


@pytest.fixture(scope="session")
def infra_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def kafka_bootstrap_servers(infra_run_dir: Path) -> Iterator[str]:
    """A single-node KRaft broker with every catalog topic created."""
    external = os.environ.get("CRM_TEST_KAFKA_BOOTSTRAP")
    if external:
        asyncio.run(ensure_topics(external))
        yield external
        return
    port, controller_port = free_ports(2)
    broker = KafkaBroker(infra_run_dir, port, controller_port).start()
    try:
        asyncio.run(ensure_topics(broker.bootstrap_servers))
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def mongodb_uri(infra_run_dir: Path) -> Iterator[str]:
    """An ephemeral SecantusDB server (in-memory storage)."""
    external = os.environ.get("CRM_TEST_MONGODB_URI")
    if external:
        yield external
        return
    [port] = free_ports(1)
    server = MongoServer(infra_run_dir, port).start()
    try:
        yield server.mongodb_uri
    finally:
        server.stop()


@dataclass(frozen=True)
class SmtpSink:
    """The test session's SMTP sink: where it listens and where it stores what it receives."""

    host: str
    port: int
    messages_dir: Path

    def messages_to(self, address: str) -> list[ReceivedMessage]:
        """Every message received for `address`, oldest first."""
        return [m for m in read_messages(self.messages_dir) if address in m.rcpt_tos]


@pytest.fixture(scope="session")
def smtp_sink(infra_run_dir: Path) -> Iterator[SmtpSink]:
    """A real SMTP server (aiosmtpd) that keeps every message it receives on disk."""
    smtp_port, http_port = free_ports(2)
    directory = infra_run_dir / "smtp-messages"
    with SmtpSinkServer(directory, smtp_port, http_port):
        yield SmtpSink("127.0.0.1", smtp_port, directory)

"""Fault-tier fixtures: a database of the test's own, which the test may kill or restart."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from crm_devstack.infra import MongoServer, free_ports

# A killed client's open transaction holds its documents this long (mongod's
# transactionLifetimeLimitSeconds, 60 s by default): short here, so a test does not wait a minute
# for the documents the killed process was writing.
TRANSACTION_LIFETIME_SECONDS = 3.0

MongoFactory = Callable[..., Awaitable[MongoServer]]


@pytest.fixture
async def own_mongodb(tmp_path: Path) -> AsyncIterator[MongoFactory]:
    """Starts SecantusDB servers of the test's own (in memory, or on disk with `on_disk=True`,
    so the data survives a restart of the process); stops them afterwards."""
    servers: list[MongoServer] = []

    async def start(*, on_disk: bool = False) -> MongoServer:
        [port] = free_ports(1)
        server = MongoServer(
            tmp_path / f"mongodb-{len(servers)}",
            port,
            storage_path=tmp_path / f"mongodb-{len(servers)}-data" if on_disk else None,
            transaction_lifetime_seconds=TRANSACTION_LIFETIME_SECONDS,
        )
        servers.append(server)
        return await server.start_async()

    try:
        yield start
    finally:
        for server in servers:
            pid = server.process.pid
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            server.stop()

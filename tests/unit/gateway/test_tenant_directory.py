"""The tenant directory: read at most once per interval, stale rather than down when the
database fails after a first read, and a 503 (not a 401) before any read."""

from __future__ import annotations

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from crm_gateway.application.tenants import DirectoryUnavailable, TenantDirectory
from crm_gateway.domain.tenants import Tenant
from unit.gateway.memory_identity import MemoryTenants

pytestmark = pytest.mark.unit


class FlakyTenants(MemoryTenants):
    """Tenants in memory, counting reads, that fail while `down`."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.reads = 0

    async def all(self) -> list[Tenant]:
        self.reads += 1
        if self.down:
            raise ServerSelectionTimeoutError("no server")
        return await super().all()

    async def insert(self, tenant: Tenant) -> bool:
        if self.down:
            raise ServerSelectionTimeoutError("no server")
        return await super().insert(tenant)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_tenants_are_read_once_per_interval_and_kept_through_an_outage() -> None:
    store, clock = FlakyTenants(), Clock()
    directory = TenantDirectory(store, [Tenant("acme", "Acme")], cache_seconds=5, clock=clock)

    assert await directory.tenant("acme") is not None
    assert await directory.tenant("globex") is None
    assert store.reads == 1
    store.down = True
    clock.now += 5

    assert await directory.tenant("acme") is not None  # the last read, logged
    assert await directory.tenant("acme") is not None
    assert store.reads == 2  # a failed read waits out the interval too


async def test_before_any_read_an_unreachable_database_is_unavailable() -> None:
    store = FlakyTenants()
    store.down = True
    directory = TenantDirectory(store, [Tenant("acme", "Acme")])

    with pytest.raises(DirectoryUnavailable):
        await directory.tenant("acme")

    store.down = False
    directory.invalidate()
    # The bootstrap was not lost with the failed read.
    assert await directory.tenant("acme") is not None

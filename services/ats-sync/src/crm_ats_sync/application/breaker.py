"""The circuit breaker every call to a connection's ATS API goes through.

Its state is stored (one document per connection), not kept in memory: the replica that runs
a backfill or a reconcile and the one that answers the health view are not the same, and after
a restart a breaker that was open stays open rather than hammering an ATS that was down. A
state change costs one write; a call while closed, one read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar

from crm_ats_sync.application.ports import AtsUnavailableError
from crm_ats_sync.domain.breaker import BreakerPolicy, BreakerRecord, BreakerState
from crm_ats_sync.domain.models import Connection
from crm_shared import utc_now

ResultT = TypeVar("ResultT")


class CircuitOpenError(AtsUnavailableError):
    """The connection's breaker is open: the call was not made. Try again after `retry_at`."""

    def __init__(self, connection_id: str, retry_at: datetime | None) -> None:
        super().__init__(
            f"the ATS API of connection {connection_id} failed repeatedly; calls are paused "
            f"until {retry_at.isoformat() if retry_at else 'a trial call succeeds'}"
        )
        self.connection_id = connection_id
        self.retry_at = retry_at


class BreakerStore(Protocol):
    """Where the breakers of one tenant's connections are kept."""

    async def record(self, connection_id: str) -> BreakerRecord: ...

    async def claim_trial(self, connection_id: str, opened_at: datetime, now: datetime) -> bool:
        """Marks the half-open breaker's trial call as started; False if another took it."""
        ...

    async def count_failure(self, connection_id: str, now: datetime, error: str) -> BreakerRecord:
        """Adds one consecutive failure; the record after it."""
        ...

    async def open(self, connection_id: str, now: datetime) -> None: ...

    async def close(self, connection_id: str) -> None:
        """Forgets the failures (no write when there were none)."""
        ...


class CircuitBreaker:
    """Per-connection circuit breakers over `AtsUnavailableError`; other exceptions (a payload
    the CRM cannot map, a bug) say nothing about the ATS's health and pass through."""

    def __init__(
        self,
        stores: Callable[[str], BreakerStore],
        policy: BreakerPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._stores = stores
        self.policy = policy or BreakerPolicy()
        self._clock = clock

    async def call(
        self, connection: Connection, attempt: Callable[[], Awaitable[ResultT]]
    ) -> ResultT:
        """Runs `attempt` (one call to the connection's ATS API) unless the breaker is open;
        raises `CircuitOpenError` (an `AtsUnavailableError`) without calling when it is."""
        store = self._stores(connection.tenant_id)
        now = self._clock()
        record = await store.record(connection.id)
        state = record.state(now, self.policy)
        if state is BreakerState.OPEN:
            raise CircuitOpenError(connection.id, record.retry_at(self.policy))
        if state is BreakerState.HALF_OPEN:
            assert record.opened_at is not None
            if record.trial_running(now, self.policy) or not await store.claim_trial(
                connection.id, record.opened_at, now
            ):
                raise CircuitOpenError(connection.id, None)
        try:
            result = await attempt()
        except AtsUnavailableError as failure:
            failed_at = self._clock()
            counted = await store.count_failure(connection.id, failed_at, str(failure))
            if counted.opens_after_failure(
                was_trial=state is BreakerState.HALF_OPEN, policy=self.policy
            ):
                await store.open(connection.id, failed_at)
            raise
        if record.consecutive_failures or state is BreakerState.HALF_OPEN:
            await store.close(connection.id)
        return result

    async def state(self, connection: Connection) -> tuple[BreakerState, BreakerRecord]:
        """The connection's breaker as the health view shows it."""
        record = await self._stores(connection.tenant_id).record(connection.id)
        return record.state(self._clock(), self.policy), record

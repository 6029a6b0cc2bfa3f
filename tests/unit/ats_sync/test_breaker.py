"""The per-connection circuit breaker: opens after consecutive `AtsUnavailableError`s, refuses
calls while open, lets one trial call through after the cool-down, and closes on its success."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from crm_ats_sync.application.breaker import CircuitBreaker, CircuitOpenError
from crm_ats_sync.application.ports import AtsUnavailableError
from crm_ats_sync.domain.breaker import BreakerPolicy, BreakerRecord, BreakerState
from crm_ats_sync.domain.models import Connection, Provider

pytestmark = pytest.mark.unit

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
POLICY = BreakerPolicy(failure_threshold=3, cool_down=timedelta(seconds=60))


class MemoryBreakers:
    """The `BreakerStore` of one tenant, in memory."""

    def __init__(self) -> None:
        self.records: dict[str, BreakerRecord] = {}

    async def record(self, connection_id: str) -> BreakerRecord:
        return self.records.get(connection_id, BreakerRecord())

    async def claim_trial(self, connection_id: str, opened_at: datetime, now: datetime) -> bool:
        record = await self.record(connection_id)
        if record.opened_at != opened_at or (
            record.trial_started_at is not None and record.trial_started_at >= opened_at
        ):
            return False
        self.records[connection_id] = dataclasses.replace(record, trial_started_at=now)
        return True

    async def count_failure(self, connection_id: str, now: datetime, error: str) -> BreakerRecord:
        record = await self.record(connection_id)
        self.records[connection_id] = dataclasses.replace(
            record,
            consecutive_failures=record.consecutive_failures + 1,
            last_failure_at=now,
            last_error=error,
        )
        return self.records[connection_id]

    async def open(self, connection_id: str, now: datetime) -> None:
        record = await self.record(connection_id)
        self.records[connection_id] = dataclasses.replace(
            record, opened_at=now, trial_started_at=None
        )

    async def close(self, connection_id: str) -> None:
        record = await self.record(connection_id)
        self.records[connection_id] = dataclasses.replace(
            record, consecutive_failures=0, opened_at=None, trial_started_at=None
        )


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


CONNECTION = Connection(
    tenant_id="acme",
    provider=Provider.GREENHOUSE,
    name="Greenhouse",
    webhook_secret="s",
    created_by="admin",
)


@pytest.fixture
def store() -> MemoryBreakers:
    return MemoryBreakers()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(store: MemoryBreakers, clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(lambda tenant_id: store, POLICY, clock)


class Api:
    """An ATS API call that fails while `down`, counting the calls it got."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.down:
            raise AtsUnavailableError("503 from the ATS after retries")
        return "page"


async def fail(breaker: CircuitBreaker, api: Api, times: int) -> None:
    for _ in range(times):
        with pytest.raises(AtsUnavailableError):
            await breaker.call(CONNECTION, api)


async def test_it_opens_after_the_threshold_and_refuses_without_calling(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    api = Api()
    await fail(breaker, api, 2)
    assert (await breaker.state(CONNECTION))[0] is BreakerState.CLOSED
    await fail(breaker, api, 1)
    state, record = await breaker.state(CONNECTION)
    assert state is BreakerState.OPEN
    assert record.last_error == "503 from the ATS after retries"

    clock.now += timedelta(seconds=30)
    with pytest.raises(CircuitOpenError) as refused:
        await breaker.call(CONNECTION, api)
    assert api.calls == 3
    assert refused.value.retry_at == START + timedelta(seconds=60)


async def test_a_success_resets_the_consecutive_failures(breaker: CircuitBreaker) -> None:
    api = Api()
    await fail(breaker, api, 2)
    api.down = False
    assert await breaker.call(CONNECTION, api) == "page"
    api.down = True
    await fail(breaker, api, 2)
    assert (await breaker.state(CONNECTION))[0] is BreakerState.CLOSED


async def test_after_the_cool_down_one_trial_call_closes_it(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    api = Api()
    await fail(breaker, api, 3)
    clock.now += timedelta(seconds=61)
    assert (await breaker.state(CONNECTION))[0] is BreakerState.HALF_OPEN
    api.down = False
    assert await breaker.call(CONNECTION, api) == "page"
    state, record = await breaker.state(CONNECTION)
    assert state is BreakerState.CLOSED
    assert record.consecutive_failures == 0


async def test_a_failed_trial_reopens_it_for_another_cool_down(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    api = Api()
    await fail(breaker, api, 3)
    clock.now += timedelta(seconds=61)
    await fail(breaker, api, 1)
    assert api.calls == 4
    state, record = await breaker.state(CONNECTION)
    assert state is BreakerState.OPEN
    assert record.retry_at(POLICY) == clock.now + timedelta(seconds=60)


async def test_only_one_trial_call_goes_through_while_half_open(
    breaker: CircuitBreaker, store: MemoryBreakers, clock: Clock
) -> None:
    api = Api()
    await fail(breaker, api, 3)
    clock.now += timedelta(seconds=61)
    record = await store.record(CONNECTION.id)
    assert record.opened_at is not None
    # Another worker's trial is under way.
    assert await store.claim_trial(CONNECTION.id, record.opened_at, clock.now)
    with pytest.raises(CircuitOpenError):
        await breaker.call(CONNECTION, api)
    assert api.calls == 3


async def test_other_errors_say_nothing_about_the_ats(breaker: CircuitBreaker) -> None:
    async def unmappable() -> str:
        raise ValueError("a payload the adapter cannot map")

    for _ in range(5):
        with pytest.raises(ValueError, match="cannot map"):
            await breaker.call(CONNECTION, unmappable)
    state, record = await breaker.state(CONNECTION)
    assert state is BreakerState.CLOSED
    assert record.consecutive_failures == 0

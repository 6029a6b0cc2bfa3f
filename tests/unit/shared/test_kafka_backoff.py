"""Connection attempts to a broker that is down back off exponentially, shared by the process."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata

from crm_devstack.infra import free_ports
from crm_shared.kafka_backoff import ReconnectBackoff, install_reconnect_backoff

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def attempts_per_second(backoff: ReconnectBackoff, clock: FakeClock, seconds: int) -> list[int]:
    """How many of 10 callers a second (each loop of each client) were let through, per second."""
    allowed = []
    for _ in range(seconds):
        let_through = 0
        for _ in range(10):
            clock.now += 0.1
            if backoff.may_attempt():
                let_through += 1
                backoff.failed()
        allowed.append(let_through)
    return allowed


def test_failed_attempts_double_the_wait_up_to_the_maximum() -> None:
    clock = FakeClock()
    backoff = ReconnectBackoff(0.25, 4, clock=clock, jitter=lambda: 0.5)
    assert backoff.may_attempt()
    backoff.failed()
    waits = []
    for _ in range(7):
        waits.append(round(backoff.next_attempt_at - clock.now, 3))
        clock.now = backoff.next_attempt_at
        assert backoff.may_attempt()
        backoff.failed()
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    # Over a minute of outage the callers get through about 15 times instead of 600.
    assert sum(attempts_per_second(backoff, clock, 60)) <= 16


def test_after_a_failure_only_one_caller_tries_and_success_opens_the_gate() -> None:
    clock = FakeClock()
    backoff = ReconnectBackoff(1, 8, clock=clock, jitter=lambda: 0.5)
    backoff.failed()
    assert not backoff.may_attempt()
    clock.now += 1
    assert backoff.may_attempt()
    assert not backoff.may_attempt(), "a second caller while the first one still tries"
    backoff.succeeded()
    assert all(backoff.may_attempt() for _ in range(5)), "a healthy broker is never gated"


def test_attempts_that_fail_together_count_as_one_failure() -> None:
    clock = FakeClock()
    backoff = ReconnectBackoff(1, 60, clock=clock, jitter=lambda: 0.5)
    for _ in range(20):  # twenty consumers of one service started while the broker was healthy
        assert backoff.may_attempt()
    for _ in range(20):
        backoff.failed()
    assert backoff.failures == 1
    assert backoff.next_attempt_at == clock.now + 1


def test_a_cancelled_attempt_lets_the_next_caller_try() -> None:
    clock = FakeClock()
    backoff = ReconnectBackoff(1, 8, clock=clock, jitter=lambda: 0.5)
    backoff.failed()
    clock.now += 1
    assert backoff.may_attempt()
    backoff.abandoned()
    assert backoff.may_attempt()


def test_a_probe_that_never_reports_back_stops_blocking_after_its_timeout() -> None:
    clock = FakeClock()
    backoff = ReconnectBackoff(1, 8, clock=clock, jitter=lambda: 0.5)
    backoff.failed()
    clock.now += 1
    assert backoff.may_attempt()  # this probe's task is abandoned: no failed/succeeded/abandoned
    clock.now += backoff.probe_timeout_seconds - 1
    assert not backoff.may_attempt()
    clock.now += 1
    assert backoff.may_attempt()


async def test_aiokafka_clients_of_one_process_share_the_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two clients polling a closed port 100 times a second for 1.5 s connect a handful of times."""
    [port] = free_ports(1)
    attempts: list[float] = []

    async def refused(host: str, port: int, **_: Any) -> Any:
        attempts.append(time.monotonic())
        raise ConnectionRefusedError(f"{host}:{port} refused")

    monkeypatch.setattr("aiokafka.client.create_conn", refused)
    install_reconnect_backoff(100, 400)
    clients = []
    for _ in range(2):
        client = AIOKafkaClient(bootstrap_servers=f"127.0.0.1:{port}")
        client.cluster = ClusterMetadata(bootstrap_servers=f"127.0.0.1:{port}")
        clients.append(client)

    async def poll(client: AIOKafkaClient) -> int:
        connected = 0
        for _ in range(150):
            if await client._get_conn("bootstrap-0") is not None:
                connected += 1
            await asyncio.sleep(0.01)
        return connected

    assert await asyncio.gather(*(poll(client) for client in clients)) == [0, 0]
    # 0, +0.1, +0.2, +0.4, +0.4, ... s (+-20%): about six attempts, instead of 300.
    assert 3 <= len(attempts) <= 9
    for client in clients:
        await client.close()

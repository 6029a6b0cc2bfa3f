"""What the fault tests share: services as killable processes, a steady create load through a
service's HTTP API, and exact reads of a topic up to its current end."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from crm_devstack.infra import free_ports
from crm_devstack.processes import ManagedProcess
from crm_devstack.stack import service_process
from crm_shared import Principal
from helpers import unique
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY, internal_token


def service_env(
    service: str, *, kafka: str, mongodb_uri: str, database: str, **extra: str
) -> dict[str, str]:
    """The environment a service process reads its settings from, for one test run."""
    return {
        "SERVICE_NAME": service,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        # A group prefix of its own: the process reads its topics from the start, alone.
        "KAFKA_GROUP_PREFIX": unique("faults"),
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": database,
        "ENVIRONMENT": "development",
        "INTERNAL_TOKEN_PUBLIC_KEY": INTERNAL_TOKEN_PUBLIC_KEY,
        "LINK_SIGNING_SECRET": secrets.token_hex(16),
        "OUTBOX_POLL_INTERVAL_SECONDS": "0.2",
        "LOG_JSON": "false",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class ServiceProcess:
    """One service as production runs it, a uvicorn process, restartable on the same data."""

    def __init__(self, service: str, run_dir: Path, env: dict[str, str]) -> None:
        [self.port] = free_ports(1)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = service_process(service, self.port, run_dir, env)

    async def start(self) -> None:
        self.process.start()
        await self.process.wait_ready_async()

    def kill(self) -> None:
        """SIGKILL: the process finishes nothing, flushes nothing, closes no transaction."""
        sigkill(self.process)

    def stop(self) -> None:
        self.process.stop()


def sigkill(process: ManagedProcess) -> None:
    """Kills a managed process's whole group with SIGKILL and waits until it is gone."""
    pid = process.pid
    assert pid is not None, process.log_tail()
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process.is_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.is_running()


def recruiter_token(tenant_id: str, service: str = "candidates") -> str:
    """A gateway-minted token for a recruiter of `tenant_id`, as `service` verifies it."""
    return internal_token(
        Principal(tenant_id=tenant_id, user_id="rita", roles=frozenset({"recruiter"})), service
    )


def person(run: str, number: int) -> dict[str, Any]:
    """The create request of one distinct person of a test run."""
    return {
        "first_name": "Ada",
        "last_name": f"Number {number}",
        "emails": [f"person-{number}.{run.replace('_', '-')}@example.org"],
    }


@dataclass
class CreateLoad:
    """Creates `count` distinct people through POST /candidates with `workers` concurrent
    clients, each request once (`retry=False`) or until it is answered 200/201."""

    url: str
    tenant_id: str
    run: str
    count: int
    workers: int = 4
    retry: bool = True
    request_timeout: float = 30.0
    # Person number -> the candidate id of the 201 or 200 answer.
    created: dict[int, str] = field(default_factory=dict)
    # Person number -> True when the answer that settled it was a 201.
    first_answer_created: dict[int, bool] = field(default_factory=dict)
    # Every answer's status (or the connection error's name), and the slowest answer.
    outcomes: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[int, int, str]] = field(default_factory=list)
    slowest: float = 0.0
    # The slowest answer of each outcome, in seconds.
    slowest_by_outcome: dict[str, float] = field(default_factory=dict)
    pace_seconds: float = 0.0

    def explain(self) -> str:
        """The answers so far, to explain a timeout."""
        return f"answered {self.answered}, outcomes {dict(self.outcomes)}, {self.failures[-3:]}"

    @property
    def answered(self) -> int:
        return len(self.created)

    async def run_all(self) -> None:
        numbers: asyncio.Queue[int] = asyncio.Queue()
        for number in range(self.count):
            numbers.put_nowait(number)
        async with httpx.AsyncClient(base_url=self.url, timeout=self.request_timeout) as client:
            await asyncio.gather(*(self._worker(client, numbers) for _ in range(self.workers)))

    async def _worker(self, client: httpx.AsyncClient, numbers: asyncio.Queue[int]) -> None:
        while not numbers.empty():
            number = numbers.get_nowait()
            while True:
                settled = await self._attempt(client, number)
                if settled or not self.retry:
                    break
                await asyncio.sleep(0.2)
            if self.pace_seconds:
                await asyncio.sleep(self.pace_seconds)

    def _record(self, outcome: str, started: float) -> None:
        took = time.monotonic() - started
        self.outcomes[outcome] += 1
        self.slowest = max(self.slowest, took)
        self.slowest_by_outcome[outcome] = max(self.slowest_by_outcome.get(outcome, 0.0), took)

    async def _attempt(self, client: httpx.AsyncClient, number: int) -> bool:
        started = time.monotonic()
        try:
            response = await client.post(
                "/candidates",
                json=person(self.run, number),
                headers={"Authorization": f"Bearer {recruiter_token(self.tenant_id)}"},
            )
        except httpx.TransportError as error:
            self._record(type(error).__name__, started)
            return False
        self._record(str(response.status_code), started)
        if response.status_code in (200, 201):
            self.created[number] = response.json()["id"]
            self.first_answer_created.setdefault(number, response.status_code == 201)
            return True
        self.failures.append((number, response.status_code, response.text[:300]))
        # A refusal is the test's mistake, not a fault to ride out.
        assert response.status_code >= 500, response.text
        return False


async def wait_until(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    explain: Callable[[], object] = lambda: "",
) -> None:
    """Polls an async or sync condition until it holds, failing after `timeout` seconds with
    what `explain()` tells about the state."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {explain()}")
        await asyncio.sleep(0.1)


async def read_to_end(
    bootstrap: str, topic: str, where: Callable[[dict[str, Any], dict[str, str]], bool]
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Every (envelope, headers) on `topic` for which `where` holds, from the beginning up to
    the end offsets at the time of the call: an exact snapshot, duplicates included."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[tuple[dict[str, Any], dict[str, str]]] = []
    try:
        # The partitions, known without subscribing (which would join a group and wait).
        cluster = await consumer._client.fetch_all_metadata()
        partitions = [TopicPartition(topic, p) for p in cluster.partitions_for_topic(topic) or ()]
        assert partitions, f"topic {topic} has no partitions"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    headers = {name: value.decode() for name, value in record.headers}
                    envelope = json.loads(record.value)
                    if where(envelope, headers):
                        found.append((envelope, headers))
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return found


async def candidate_ids_on_topic(bootstrap: str, tenant_id: str) -> Counter[str]:
    """How often each candidate of `tenant_id` is on candidate.created right now."""
    events = await read_to_end(
        bootstrap, "candidate.created", lambda envelope, _: envelope["tenant_id"] == tenant_id
    )
    return Counter(envelope["data"]["candidate_id"] for envelope, _ in events)

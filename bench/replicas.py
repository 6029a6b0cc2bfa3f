"""Scale-out: the same closed-loop load through one process of every service, then through two.

The six services run as `crm-stack up --replicas N` starts them, on the benchmark's broker and
database, once with N=1 and once with N=2, in that order, with the same consumer groups (the
second stack carries on where the first committed, as a scaled-out deployment does). Each run
seeds candidates through the gateway, waits until every consumer has caught up and every
outbox is empty, then keeps `CONCURRENCY` requests in flight for a while, spread evenly over the
gateway's replicas (a load balancer's round robin):

- reads: `GET /api/v1/candidates/{id}` of seeded candidates;
- writes: `POST /api/v1/candidates` of new people, each a transaction with its
  `candidate.created` in the outbox, which the relay publishes and four services consume.

A write is counted when its request answers 201; the run then waits until the consumers have
caught up again and reports how long that took, so a stack that answers fast but falls behind
on the bus shows it. The raw figure beside each rate is the one-replica run's: the ratio is the
gain from the second replica. On a two-core machine the database server and the processes of
both replicas share the same two cores, so the gain is bounded by what one replica leaves idle.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx

from bench.api import _seed, bench_stack_config, serving, stack_processes
from bench.report import Figure
from crm_devstack.processes import ManagedProcess, cpu_seconds

TOKEN = "dev-acme-recruiter"
CONCURRENCY = 32
SETTLE_TIMEOUT_SECONDS = 300.0
SERVICES = ("candidates", "campaigns", "events", "ats-sync", "analytics")


@dataclasses.dataclass(frozen=True)
class Load:
    """What one closed-loop phase did."""

    seconds: float
    answered: int
    errors: dict[str, int]

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0


@dataclasses.dataclass(frozen=True)
class Run:
    """One stack's figures."""

    replicas: int
    reads: Load
    writes: Load
    caught_up_seconds: float
    cpu_seconds: float


async def _closed_loop(seconds: float, request: Callable[[int], Awaitable[str]]) -> Load:
    """`CONCURRENCY` workers, each sending its next request when the last answered."""
    answered = 0
    errors: dict[str, int] = {}
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal answered
        while time.perf_counter() < deadline:
            outcome = await request(next(counter))
            if outcome == "ok":
                answered += 1
            else:
                errors[outcome] = errors.get(outcome, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return Load(time.perf_counter() - started, answered, errors)


async def _caught_up(service_urls: list[str]) -> float:
    """Seconds until every replica's consumers have no lag and its outbox nothing pending."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() - started < SETTLE_TIMEOUT_SECONDS:
            behind = 0
            for url in service_urls:
                try:
                    ready = (await client.get(f"{url}/readyz")).json()
                except (httpx.HTTPError, ValueError):
                    behind += 1
                    continue
                behind += int((ready.get("outbox_relay") or {}).get("pending") or 0)
                behind += sum((ready.get("consumers") or {}).get("lag", {}).values())
            if behind == 0:
                return time.monotonic() - started
            await asyncio.sleep(1)
    raise RuntimeError(f"the stack did not catch up within {SETTLE_TIMEOUT_SECONDS:.0f} s")


def _cpu(processes: list[ManagedProcess]) -> float:
    return sum(cpu_seconds(p.pid) for p in processes if p.pid is not None)


async def _run(
    bootstrap: str,
    mongodb_uri: str,
    *,
    replicas: int,
    group_prefix: str,
    candidates: int,
    seconds: float,
) -> Run:
    with tempfile.TemporaryDirectory(prefix="crm-bench-replicas-") as run_dir:
        config = bench_stack_config(
            bootstrap, mongodb_uri, run_dir, "replicas", replicas=replicas
        ).model_copy(update={"kafka_group_prefix": group_prefix})
        # Lag and backlog sampled every second, so that "caught up" is seen within a second or two.
        processes = [
            dataclasses.replace(
                process,
                env=dict(process.env)
                | {"CONSUMER_LAG_SAMPLE_SECONDS": "1", "OUTBOX_BACKLOG_SAMPLE_SECONDS": "1"},
            )
            for process in stack_processes(config)
        ]
        service_urls = [
            f"http://127.0.0.1:{port}" for name in SERVICES for port in config.replica_ports(name)
        ]
        limits = httpx.Limits(
            max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY
        )
        async with serving(processes):
            gateways = [
                httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    timeout=60,
                    limits=limits,
                )
                for port in config.replica_ports("gateway")
            ]
            try:
                seeded = await _seed(gateways[0], candidates)
                ids = [candidate["id"] for candidate in seeded]
                await _caught_up(service_urls)
                run = uuid.uuid4().hex[:8]

                async def read(n: int) -> str:
                    client = gateways[n % len(gateways)]
                    try:
                        answer = await client.get(f"/api/v1/candidates/{ids[n % len(ids)]}")
                    except httpx.HTTPError as error:
                        return type(error).__name__
                    return "ok" if answer.status_code == 200 else str(answer.status_code)

                async def write(n: int) -> str:
                    client = gateways[n % len(gateways)]
                    try:
                        answer = await client.post(
                            "/api/v1/candidates",
                            json={
                                "first_name": "Zoë",
                                "last_name": f"Scale{n}",
                                "emails": [f"scale-{run}-{n}@example.org"],
                                "skills": ["python"],
                            },
                        )
                    except httpx.HTTPError as error:
                        return type(error).__name__
                    return "ok" if answer.status_code == 201 else str(answer.status_code)

                cpu_before = _cpu(processes)
                reads = await _closed_loop(seconds, read)
                writes = await _closed_loop(seconds, write)
                caught_up = await _caught_up(service_urls)
                cpu_used = _cpu(processes) - cpu_before
            finally:
                for client in gateways:
                    await client.aclose()
    return Run(replicas, reads, writes, caught_up, cpu_used)


def _note(load: Load) -> str:
    failed = sum(load.errors.values())
    return f"{load.answered:,} in {load.seconds:.0f} s" + (
        f"; {failed} failed: {load.errors}" if failed else ""
    )


async def run(bootstrap: str, mongodb_uri: str, candidates: int, seconds: float) -> list[Figure]:
    group_prefix = f"bench-replicas-{uuid.uuid4().hex[:8]}"
    one, two = [
        await _run(
            bootstrap,
            mongodb_uri,
            replicas=replicas,
            group_prefix=group_prefix,
            candidates=candidates,
            seconds=seconds,
        )
        for replicas in (1, 2)
    ]
    figures: list[Figure] = []
    for label, attribute, unit in (
        ("candidate reads", "reads", "req/s"),
        ("candidate creates", "writes", "req/s"),
    ):
        ours: Load = getattr(two, attribute)
        base: Load = getattr(one, attribute)
        figures.append(
            Figure(
                "replicas",
                f"{label}, 2 replicas of each service",
                ours.rate,
                unit,
                base.rate,
                "1 replica of each service",
                f"{CONCURRENCY} in flight; 2 replicas: {_note(ours)}; 1 replica: {_note(base)}",
            )
        )
    figures.append(
        Figure(
            "replicas",
            "consumers caught up after the creates, 2 replicas",
            two.caught_up_seconds,
            "s",
            one.caught_up_seconds,
            "1 replica",
            "every consumer group's lag 0 and every outbox empty",
        )
    )
    figures.append(
        Figure(
            "replicas",
            "CPU of the services during the load, 2 replicas",
            two.cpu_seconds,
            "s",
            one.cpu_seconds,
            "1 replica",
        )
    )
    return figures

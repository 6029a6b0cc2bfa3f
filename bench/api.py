"""7. API: candidate reads and searches through the gateway at fixed request rates, and the peak
memory of every service.

The six services run as separate uvicorn processes, started exactly as `crm-stack up` starts
them, on the benchmark's broker and database. The load is open-loop: requests leave on a fixed
schedule whether or not earlier ones have answered, so a slow server cannot slow the clock down
and hide its own queueing (coordinated omission). The raw stack is the same lookups as bare
`find_one` / `find` calls on the candidates database at the same rates.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.report import Figure
from crm_devstack.config import StackConfig
from crm_devstack.infra import free_ports
from crm_devstack.processes import ManagedProcess, peak_rss_kib
from crm_devstack.stack import service_processes, services_config
from crm_devstack.workload import Workload

TOKEN = "dev-acme-recruiter"
TENANT = "acme"
P99_BUDGET_MS = 100.0
SEED_CONCURRENCY = 8
# Search terms drawn from what the workload generator writes, so a search finds candidates.
SEARCH_FIELDS = ("current_title", "current_company", "skills")


@dataclasses.dataclass(frozen=True)
class RateResult:
    """Latencies of one fixed-rate step."""

    rate: float
    latencies_ms: list[float]
    errors: int

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def holds_budget(self) -> bool:
        return self.errors == 0 and self.percentile(0.99) < P99_BUDGET_MS


async def _open_loop(
    rate: float, seconds: float, request: Callable[[int], Awaitable[bool]]
) -> RateResult:
    """Issues `rate` requests per second for `seconds`, each timed from its scheduled start."""
    latencies: list[float] = []
    errors = 0

    async def timed(index: int, scheduled: float) -> None:
        nonlocal errors
        ok = await request(index)
        if ok:
            latencies.append((time.perf_counter() - scheduled) * 1000)
        else:
            errors += 1

    total = int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for index in range(total):
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(index, scheduled)))
    await asyncio.gather(*tasks)
    return RateResult(rate, latencies or [float("inf")], errors)


async def _seed(client: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """Creates `count` candidates through the API; returns them with their ids."""
    profiles = list(Workload(seed=7).candidates(count))
    created: list[dict[str, Any]] = []
    semaphore = asyncio.Semaphore(SEED_CONCURRENCY)

    async def create(profile: dict[str, Any]) -> None:
        body = {
            key: profile[key]
            for key in (
                "first_name",
                "last_name",
                "emails",
                "current_title",
                "current_company",
                "location",
                "skills",
            )
            if profile.get(key)
        }
        async with semaphore:
            response = await client.post("/api/v1/candidates", json=body)
        if response.status_code in (200, 201):
            created.append(response.json())

    await asyncio.gather(*(create(profile) for profile in profiles))
    return created


def _search_terms(candidates: list[dict[str, Any]]) -> list[str]:
    terms: list[str] = []
    for candidate in candidates:
        for field in SEARCH_FIELDS:
            value = candidate.get(field)
            if isinstance(value, list) and value:
                terms.append(str(value[0]))
            elif isinstance(value, str) and value:
                terms.append(value.split()[0])
    return terms


async def _steps(
    rates: list[float], seconds: float, request: Callable[[int], Awaitable[bool]]
) -> list[RateResult]:
    """Runs the rates in increasing order, stopping after the first that misses the budget."""
    results = []
    for rate in rates:
        result = await _open_loop(rate, seconds, request)
        results.append(result)
        if not result.holds_budget:
            break
    return results


def _figures(name: str, ours: list[RateResult], raw: list[RateResult], note: str) -> list[Figure]:
    figures = []
    raw_by_rate = {result.rate: result for result in raw}
    for result in ours:
        baseline = raw_by_rate.get(result.rate)
        for label, fraction in (("p50", 0.5), ("p99", 0.99)):
            figures.append(
                Figure(
                    "api " + name,
                    f"{label} at {result.rate:g} req/s",
                    result.percentile(fraction),
                    "ms",
                    baseline.percentile(fraction) if baseline else None,
                    "bare pymongo",
                    f"{result.errors} errors" if result.errors else "",
                )
            )
    held = [result.rate for result in ours if result.holds_budget]
    raw_held = [result.rate for result in raw if result.holds_budget]
    figures.append(
        Figure(
            "api " + name,
            f"highest rate with p99 < {P99_BUDGET_MS:g} ms",
            max(held, default=0.0),
            "req/s",
            max(raw_held, default=0.0),
            "bare pymongo",
            note,
        )
    )
    return figures


def stack_processes(config: StackConfig) -> list[ManagedProcess]:
    processes = []
    for process in service_processes(config):
        env = dict(process.env) | {"OTEL_TRACES_EXPORTER": "none", "LOG_LEVEL": "WARNING"}
        if process.name == "gateway":
            # The per-tenant limit (100 req/s by default) would answer 429 long before the
            # services are saturated. Requests are still counted (one MongoDB round trip each,
            # shared by replicas, as in production), never refused.
            env["TENANT_REQUESTS_PER_MINUTE"] = "100000000"
        processes.append(dataclasses.replace(process, env=env))
    return processes


async def _measure(
    gateway_url: str,
    mongodb_uri: str,
    candidates: int,
    rates: list[float],
    seconds: float,
) -> list[Figure]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=gateway_url, headers=headers, timeout=30, limits=limits
    ) as client:
        seeded = await _seed(client, candidates)
        if not seeded:
            raise RuntimeError("no candidate could be created through the gateway")
        ids = [candidate["id"] for candidate in seeded]
        terms = _search_terms(seeded)
        chooser = random.Random(11)

        async def read(_: int) -> bool:
            response = await client.get(f"/api/v1/candidates/{chooser.choice(ids)}")
            return response.status_code == 200

        async def search(_: int) -> bool:
            params = {"q": chooser.choice(terms), "limit": "20"}
            response = await client.get("/api/v1/candidates", params=params)
            return response.status_code == 200

        ours_read = await _steps(rates, seconds, read)
        ours_search = await _steps(rates, seconds, search)

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        collection = mongo["crm_candidates"]["candidates"]

        async def raw_read(_: int) -> bool:
            return (
                await collection.find_one({"tenant_id": TENANT, "_id": chooser.choice(ids)})
                is not None
            )

        async def raw_search(_: int) -> bool:
            term = chooser.choice(terms).lower()
            query = {"tenant_id": TENANT, "search_tokens": term}
            await collection.find(query).limit(20).to_list()
            return True

        raw_read_results = await _steps(rates, seconds, raw_read)
        raw_search_results = await _steps(rates, seconds, raw_search)
    finally:
        await mongo.close()
    note = f"{len(seeded):,} candidates, {seconds:g} s per rate, open loop"
    return _figures("candidate read", ours_read, raw_read_results, note) + _figures(
        "candidate search", ours_search, raw_search_results, note
    )


def bench_stack_config(
    bootstrap: str, mongodb_uri: str, run_dir: str, name: str, *, replicas: int = 1
) -> StackConfig:
    """The six services' config on the benchmark's broker and database, in `run_dir`, with
    `replicas` processes of each."""
    return services_config(
        bootstrap_servers=bootstrap,
        mongodb_uri=mongodb_uri,
        smtp_port=free_ports(1)[0],
        run_dir=Path(run_dir),
        kafka_group_prefix=f"bench-{name}-{uuid.uuid4().hex[:8]}",
        replicas=replicas,
    )


@contextlib.asynccontextmanager
async def serving(processes: list[ManagedProcess]) -> AsyncIterator[None]:
    """The processes started and ready for the block, stopped after it whatever happens."""
    try:
        for process in processes:
            process.start()
        for process in processes:
            await asyncio.to_thread(process.wait_ready)
        yield
    finally:
        for process in processes:
            await asyncio.to_thread(process.stop)


async def run(
    bootstrap: str, mongodb_uri: str, candidates: int, rates: list[float], seconds: float
) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="crm-bench-api-") as run_dir:
        config = bench_stack_config(bootstrap, mongodb_uri, run_dir, "api")
        processes = stack_processes(config)
        async with serving(processes):
            figures = await _measure(
                f"http://127.0.0.1:{config.gateway_port}", mongodb_uri, candidates, rates, seconds
            )
            memory = {
                process.name: peak_rss_kib(pid) / 1024
                for process in processes
                if (pid := process.pid) is not None
            }
    for name, mib in memory.items():
        figures.append(Figure("service memory", f"peak RSS of {name}", mib, "MiB"))
    figures.append(
        Figure(
            "service memory",
            "peak RSS, all six services",
            sum(memory.values()),
            "MiB",
            note=f"mean {statistics.fmean(memory.values()):.0f} MiB per service",
        )
    )
    return figures

"""11. Console pages: server time of the candidate list, a search and a profile with many
candidates, against the one API call each page makes; and the profile with every panel it
loads after it, as a browser gets them.

The seven services run as separate processes, as `crm-stack up` starts them, with Keycloak;
a demo user signs in through Keycloak's login form as a browser does, and the benchmark then
asks the gateway for console pages with that session cookie, open loop at a fixed rate (a
slow page cannot slow the clock down). Server time is measured at the client on loopback: the
gateway, the console, the console's API call back through the gateway and the candidates
service, and the page's rendering. The raw stack is the same API call the page makes
(`GET /api/v1/candidates...` with the same cookie), so the ratio is what the console adds.

Candidates are seeded by the candidates service's own import code (a workload CSV of up to
2,000 rows) before the services start, then, once they have run their start-up migrations,
cloned with new ids up to the wanted count: list and search pages read the candidates
collection, whose documents the clones are.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import random
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.api import RateResult, _open_loop, stack_processes
from bench.imports import import_file, write_csv
from bench.report import Figure
from crm_devstack.infra import free_ports
from crm_devstack.keycloak import Keycloak, browser_session
from crm_devstack.stack import services_config
from crm_shared import new_id

P95_BUDGET_MS = 300.0
# A page's parts htmx asks for once it is in (the profile's panels), and how many requests a
# browser makes to one host at once over HTTP/1.1.
LAZY_PANEL = re.compile(r'hx-get="([^"]+)" hx-trigger="load"')
BROWSER_CONNECTIONS = 6
SEED_ROWS = 2000
CLONE_BATCH = 5000
TENANT = "acme"
USER = "rita.recruiter"


async def _import(mongodb_uri: str, run_dir: Path, count: int) -> None:
    """Up to `SEED_ROWS` workload candidates of the demo tenant, imported by the candidates
    service's own code."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        path = run_dir / "seed.csv"
        write_csv(path, min(count, SEED_ROWS))
        await import_file(client, "crm_candidates", path, TENANT)
    finally:
        await client.close()


async def _clone(mongodb_uri: str, count: int) -> list[dict[str, Any]]:
    """The imported candidates cloned with new ids up to `count`; returns the originals (ids
    and search words)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        collection = client["crm_candidates"]["candidates"]
        originals = await collection.find({"tenant_id": TENANT}).to_list()
        missing = count - len(originals)
        while missing > 0:
            batch = []
            for original in originals[: min(missing, CLONE_BATCH)]:
                clone = dict(original)
                clone["_id"] = new_id()
                batch.append(clone)
            await collection.insert_many(batch)
            missing -= len(batch)
        return originals
    finally:
        await client.close()


def _words(candidates: list[dict[str, Any]]) -> list[str]:
    words = []
    for candidate in candidates:
        for field in ("current_title", "last_name"):
            value = candidate.get(field)
            if isinstance(value, str) and value.split():
                words.append(value.split()[0][:5])
    return words


async def _measure(
    gateway_url: str,
    session: str,
    sample: list[dict[str, Any]],
    rate: float,
    seconds: float,
) -> list[Figure]:
    chooser = random.Random(5)
    ids = [str(candidate["_id"]) for candidate in sample]
    words = _words(sample)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=gateway_url, cookies={"crm_session": session}, timeout=30, limits=limits
    ) as client:

        def getter(path: Any, params: Any = None) -> Any:
            async def get(_: int) -> bool:
                response = await client.get(path(), params=params() if params else None)
                return response.status_code == 200

            return get

        def whole_profile() -> Any:
            """The profile as a browser gets it: the page, then every panel it loads after it
            (`hx-trigger="load"`), at most `BROWSER_CONNECTIONS` at once; timed to the last."""

            async def get(_: int) -> bool:
                page = await client.get(f"/console/candidates/{chooser.choice(ids)}")
                if page.status_code != 200:
                    return False
                gate = asyncio.Semaphore(BROWSER_CONNECTIONS)

                async def panel(url: str) -> int:
                    async with gate:
                        answer = await client.get(url, headers={"HX-Request": "true"})
                        return answer.status_code

                statuses = await asyncio.gather(
                    *(panel(html.unescape(url)) for url in LAZY_PANEL.findall(page.text))
                )
                return all(status == 200 for status in statuses)

            return get

        pages = {
            "candidate list (newest first)": (
                getter(lambda: "/console/candidates"),
                getter(lambda: "/api/v1/candidates", lambda: {"limit": 25}),
            ),
            "candidate search as you type": (
                getter(lambda: "/console/candidates", lambda: {"q": chooser.choice(words)}),
                getter(
                    lambda: "/api/v1/candidates",
                    lambda: {"q": chooser.choice(words), "limit": 25},
                ),
            ),
            "candidate profile": (
                getter(lambda: f"/console/candidates/{chooser.choice(ids)}"),
                getter(lambda: f"/api/v1/candidates/{chooser.choice(ids)}"),
            ),
            # The page answers with the candidate's own record; its other panels load after it.
            "candidate profile with every panel loaded": (
                whole_profile(),
                getter(lambda: f"/api/v1/candidates/{chooser.choice(ids)}"),
            ),
        }
        # Warm-up: connections, caches, the first JWKS and template compilation.
        for page, _ in pages.values():
            await _open_loop(rate, 2, page)
        figures = []
        for name, (page, api) in pages.items():
            ours: RateResult = await _open_loop(rate, seconds, page)
            raw: RateResult = await _open_loop(rate, seconds, api)
            note = f"{rate:g} req/s for {seconds:g} s, open loop; errors {ours.errors}"
            figures.append(
                Figure(
                    "console",
                    f"{name}: p95 server time",
                    ours.percentile(0.95),
                    "ms",
                    raw.percentile(0.95),
                    "the page's API call alone",
                    note,
                )
            )
            figures.append(
                Figure(
                    "console",
                    f"{name}: p50 server time",
                    ours.percentile(0.5),
                    "ms",
                    raw.percentile(0.5),
                    "the page's API call alone",
                )
            )
            budget = "within" if ours.percentile(0.95) < P95_BUDGET_MS else "OVER"
            print(f"console {name}: p95 {ours.percentile(0.95):.1f} ms ({budget} budget)")
    return figures


async def run(
    bootstrap: str, mongodb_uri: str, candidates: int, rate: float, seconds: float
) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="crm-bench-console-") as directory:
        run_dir = Path(directory)
        (keycloak_port,) = free_ports(1)
        config = services_config(
            bootstrap_servers=bootstrap,
            mongodb_uri=mongodb_uri,
            smtp_port=free_ports(1)[0],
            run_dir=run_dir,
            kafka_group_prefix=f"bench-console-{uuid.uuid4().hex[:8]}",
        )
        config = config.model_copy(update={"keycloak_port": keycloak_port})
        keycloak = Keycloak(run_dir, keycloak_port)
        keycloak_started = asyncio.create_task(keycloak.start_async())
        processes = stack_processes(config)
        try:
            # Imported before the services start (so no import worker of theirs takes the file
            # over) and cloned after: their start-up migrations then rewrite the imported
            # records only, and the clones are copies of records as the current code stores them.
            await _import(mongodb_uri, run_dir, candidates)
            for process in processes:
                process.start()
            for process in processes:
                await asyncio.to_thread(process.wait_ready)
            sample = await _clone(mongodb_uri, candidates)
            await keycloak_started
            gateway_url = f"http://127.0.0.1:{config.gateway_port}"
            session = await asyncio.to_thread(browser_session, gateway_url, USER)
            figures = await _measure(gateway_url, session, sample, rate, seconds)
        finally:
            for process in processes:
                await asyncio.to_thread(process.stop)
            await asyncio.to_thread(keycloak.stop)
    return [
        dataclasses.replace(figure, note=f"{candidates:,} candidates; {figure.note}".rstrip("; "))
        for figure in figures
    ]

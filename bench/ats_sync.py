"""ATS sync: Greenhouse webhooks to the state a user sees, and a backfill of the ATS's history.

The gateway and ats-sync run as separate processes (as `crm-stack up` starts them, see
`bench.api`) on the benchmark's broker and database; the simulated Greenhouse account
(`crm_devstack.ats.greenhouse`) serves the Harvest API from a thread of this process and sends
its signed webhooks to the connection's public URL on the gateway.

1. Webhook to state: `webhooks` changes made in the simulated account one after the other, a
   third each new applications, stage changes and rejections. Each is timed from the moment
   the simulator sends its webhook until the application listing a recruiter reads
   (`GET /api/v1/ats/applications`) shows the change. The raw stack: the same change as a
   bare `update_one` (upsert) and a `find_one` reading it back; the bare round trip of a
   request to the gateway (its health probe) is reported beside it.
2. Backfill: a connection with an API key to an account seeded with `applications`
   applications is backfilled (`POST .../backfill`) and timed until its run succeeds, once
   at Harvest's documented rate limit (50 requests per 10 s) and once unthrottled. The raw
   stack: reading the same application pages and candidate batches straight from the
   unthrottled simulator, which is what the ATS's side of the backfill costs.
3. Past applicants as candidates: the candidates service runs too, and the first backfill is
   also timed until every person of the account is a candidate (the candidates service
   consuming the backfill's `ats.application_*` events). The raw stack: the same number of
   candidate documents written with one bare `insert_many`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import time
import uuid
from collections.abc import Coroutine
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.api import bench_stack_config, serving, stack_processes
from bench.report import Figure
from crm_candidates.domain.identity import identity_keys
from crm_candidates.repositories.collections import IDENTITIES_COLLECTION
from crm_devstack.ats.greenhouse import GreenhouseSimulator, SimulatorServer
from crm_devstack.greenhouse import GreenhouseWebhooks
from crm_devstack.infra import free_ports

ADMIN_TOKEN = "dev-acme-admin"
# Harvest's documented limit for most keys, and one the backfill never reaches.
DOCUMENTED_LIMIT, UNTHROTTLED = 50, 1_000_000
RATE_WINDOW_SECONDS = 10.0
POLL_SECONDS = 0.01
STATE_WAIT_SECONDS = 30.0
PAGE = 500
CANDIDATE_BATCH = 50
TENANT = "acme"
STACK = ("gateway", "ats-sync", "candidates")
IMPORT_POLL_SECONDS = 2.0
IMPORT_WAIT_SECONDS = 3600.0


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values) or [0.0]
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _connect(client: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/ats/connections", json={"provider": "greenhouse", "name": name, **fields}
    )
    created.raise_for_status()
    connection: dict[str, Any] = created.json()
    return connection


async def _webhook_latencies(client: httpx.AsyncClient, webhooks: int) -> list[float]:
    """Milliseconds from each change's webhook to the listing showing it."""
    connection = await _connect(client, "Greenhouse webhooks")
    simulator = GreenhouseSimulator(
        uuid.uuid4().hex,
        uuid.uuid4().hex,
        webhooks=GreenhouseWebhooks(connection["webhook_url"], connection["webhook_secret"]),
    )
    simulator.seed(0, years=1)
    job_id = next(j for j, job in simulator.jobs.items() if job["status"] == "open")
    latencies: list[float] = []

    async def visible(application_id: int, stage: str | None, status: str) -> None:
        deadline = time.monotonic() + STATE_WAIT_SECONDS
        while time.monotonic() < deadline:
            listing = await client.get("/api/v1/ats/applications")
            listing.raise_for_status()
            if any(
                shown["ats_application_id"] == str(application_id)
                and shown["status"] == status
                and (stage is None or shown["stage"] == stage)
                for shown in listing.json()
            ):
                return
            await asyncio.sleep(POLL_SECONDS)
        raise RuntimeError(f"application {application_id} did not show {status} {stage}")

    async def timed(change: Coroutine[Any, Any, dict[str, Any]], status: str) -> int:
        started = time.perf_counter()
        application = await change
        stage = (application.get("current_stage") or {}).get("name")
        await visible(application["id"], stage, status)
        latencies.append((time.perf_counter() - started) * 1000)
        return int(application["id"])

    third = max(1, webhooks // 3)
    applied = [
        await timed(
            simulator.apply(
                first_name="Zoë", last_name=f"Bench{n}", email=f"zoe{n}@example.org", job_id=job_id
            ),
            "active",
        )
        for n in range(third)
    ]
    for application_id in applied:
        await timed(simulator.advance(application_id), "active")
    for application_id in applied[: webhooks - 2 * third]:
        await timed(simulator.reject(application_id), "rejected")
    return latencies


async def _raw_latencies(mongodb_uri: str, count: int) -> list[float]:
    """Milliseconds of a bare upsert of an application's state and the read that sees it."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = mongo[f"bench_raw_ats_{uuid.uuid4().hex[:8]}"]
    latencies = []
    try:
        for n in range(count):
            started = time.perf_counter()
            await database["applications"].update_one(
                {"_id": n % max(1, count // 3)},
                {"$set": {"stage": f"stage {n}", "status": "active"}},
                upsert=True,
            )
            await database["applications"].find_one({"_id": n % max(1, count // 3)})
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        await mongo.drop_database(database.name)
        await mongo.close()
    return latencies


async def _gateway_round_trips(client: httpx.AsyncClient, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        (await client.get("/healthz")).raise_for_status()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


@dataclasses.dataclass(frozen=True)
class Backfill:
    """A timed backfill: until its run succeeded, and until its people were all candidates."""

    seconds: float
    counts: dict[str, Any]
    refused: int
    people: int
    imported_seconds: float | None


async def _imported(identities: Any, emails: list[str], started: float) -> float:
    """Seconds from `started` until a candidate holds each of `emails`."""
    # Read through the identity keys' unique index: a `count` of `$in` on the candidates'
    # `emails` took most of the Python SecantusDB server's time, slowing what it measured.
    keys = identity_keys(emails)
    while time.perf_counter() - started < IMPORT_WAIT_SECONDS:
        held = await identities.find(
            {"tenant_id": TENANT, "key": {"$in": keys}}, {"_id": 1}
        ).to_list()
        if len(held) >= len(keys):
            return time.perf_counter() - started
        await asyncio.sleep(IMPORT_POLL_SECONDS)
    raise RuntimeError(
        f"the backfill's people were not all candidates after {IMPORT_WAIT_SECONDS} s"
    )


async def _backfill(
    client: httpx.AsyncClient,
    applications: int,
    rate_limit: int,
    identities: Any | None = None,
) -> Backfill:
    """A backfill timed until its run succeeded and, given the candidates' identity keys, until
    its people were all candidates."""
    simulator = GreenhouseSimulator(
        uuid.uuid4().hex, uuid.uuid4().hex, rate_limit=rate_limit, rate_window=RATE_WINDOW_SECONDS
    )
    simulator.seed(applications)
    emails = sorted(
        {
            address["value"].strip().lower()
            for person in simulator.candidates.values()
            for address in person["email_addresses"][:1]
        }
    )
    server = SimulatorServer(simulator, free_ports(1)[0])
    server.start()
    try:
        connection = await _connect(
            client, "Greenhouse backfill", api_key=simulator.api_key, api_base_url=server.base_url
        )
        url = f"/api/v1/ats/connections/{connection['id']}"
        started = time.perf_counter()
        # A connection with an API key is backfilled by the schedule unasked; a 409 says the
        # schedule was first, and the run it started is the one timed.
        answer = await client.post(f"{url}/backfill")
        if answer.status_code not in (202, 409):
            answer.raise_for_status()
        refusals: list[str] = []
        while True:
            answer = await client.get(f"{url}/sync")
            if answer.status_code != 200:
                # Under CI's load a poll was once answered with a problem (no `backfill`):
                # the run goes on, so the poll is repeated; only a lasting refusal ends it.
                refusals.append(f"{answer.status_code} {answer.text[:200]}")
                if len(refusals) > 20:
                    raise RuntimeError(f"the backfill's status could not be read: {refusals[-3:]}")
                await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
                continue
            run = answer.json()["backfill"]
            if run and run["state"] == "failed":
                raise RuntimeError(f"the backfill failed: {run['errors'][-5:]}")
            if run and run["state"] == "succeeded":
                seconds = time.perf_counter() - started
                imported = None
                if identities is not None:
                    imported = await _imported(identities, emails, started)
                return Backfill(seconds, run["counts"], simulator.throttled, len(emails), imported)
            await asyncio.sleep(0.5)
    finally:
        server.stop()


async def _raw_reads(applications: int) -> float:
    """Seconds to read the account's application pages and candidate batches, unthrottled."""
    simulator = GreenhouseSimulator(uuid.uuid4().hex, uuid.uuid4().hex, rate_limit=UNTHROTTLED)
    simulator.seed(applications)
    server = SimulatorServer(simulator, free_ports(1)[0])
    server.start()
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            started = time.perf_counter()
            token = await client.post(
                server.base_url.removesuffix("/v3") + "/token",
                data={"grant_type": "client_credentials"},
                auth=(simulator.client_id, simulator.client_secret),
            )
            token.raise_for_status()
            client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
            url: str | None = f"{server.base_url}/applications?per_page={PAGE}"
            while url:
                page = await client.get(url)
                page.raise_for_status()
                people = sorted({a["candidate_id"] for a in page.json()})
                for first in range(0, len(people), CANDIDATE_BATCH):
                    ids = ",".join(str(i) for i in people[first : first + CANDIDATE_BATCH])
                    batch = await client.get(
                        f"{server.base_url}/candidates",
                        params={"ids": ids, "per_page": PAGE},
                    )
                    batch.raise_for_status()
                url = page.links.get("next", {}).get("url")
            return time.perf_counter() - started
    finally:
        server.stop()


async def run(
    bootstrap: str, mongodb_uri: str, webhooks: int, applications: int, replicas: int = 1
) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="crm-bench-ats-") as run_dir:
        config = bench_stack_config(bootstrap, mongodb_uri, run_dir, "ats", replicas=replicas)
        # Greenhouse sends every webhook from a few addresses, and the gateway's per-address
        # limit of public requests (120 a minute by default) answered the 300 here with 429s:
        # it is lifted, as for an ATS that sends more; each request still pays the limiter.
        processes = [
            dataclasses.replace(
                p, env=dict(p.env) | {"PUBLIC_REQUESTS_PER_MINUTE_PER_IP": "100000000"}
            )
            for p in stack_processes(config)
            # Every replica of each (`<service>-<k>`), the gateway's too.
            if p.name.rsplit("-", 1)[0] in STACK or p.name in STACK
        ]
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
        async with (
            serving(processes),
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{config.gateway_port}",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                timeout=60,
            ) as client,
        ):
            ours = await _webhook_latencies(client, webhooks)
            round_trips = await _gateway_round_trips(client, len(ours))
            try:
                throttled = await _backfill(
                    client,
                    applications,
                    DOCUMENTED_LIMIT,
                    mongo["crm_candidates"][IDENTITIES_COLLECTION],
                )
            finally:
                await mongo.close()
            unthrottled = await _backfill(client, applications, UNTHROTTLED)
    raw = await _raw_latencies(mongodb_uri, len(ours))
    raw_inserts = await _raw_inserts(mongodb_uri, throttled.people)
    raw_reads = await _raw_reads(applications)
    baseline = "bare upsert + find_one"
    note = f"{len(ours)} webhooks one at a time: new applications, stage changes, rejections"
    figures = [
        Figure(
            "ats webhook",
            f"p{p} to the listing",
            _percentile(ours, p / 100),
            "ms",
            _percentile(raw, p / 100),
            baseline,
            note if p == 50 else "",
        )
        for p in (50, 95, 99)
    ]
    figures.append(
        Figure(
            "ats webhook",
            "p50 bare gateway round trip",
            _percentile(round_trips, 0.5),
            "ms",
            note="GET /healthz on the gateway",
        )
    )
    for name, backfill in (("at 50 requests / 10 s", throttled), ("unthrottled", unthrottled)):
        seconds = backfill.seconds
        note = (
            f"{backfill.counts['applications_created']:,} created of {applications:,}, "
            f"{backfill.counts['pages']} pages, {backfill.refused} answered 429"
        )
        figures.append(
            Figure(
                "ats backfill",
                f"{applications:,} applications, {name}",
                seconds,
                "s",
                raw_reads,
                "reading the pages and candidates only, unthrottled",
                note,
            )
        )
        figures.append(
            Figure("ats backfill", f"rate, {name}", applications / seconds, "applications/s")
        )
    if throttled.imported_seconds is not None:
        people = throttled.people
        figures += [
            Figure(
                "ats backfill",
                f"{people:,} people as candidates, at 50 requests / 10 s"
                + (f", {replicas} replicas" if replicas > 1 else ""),
                throttled.imported_seconds,
                "s",
                raw_inserts,
                "bare insert_many of as many candidates",
                "from the backfill's start until a candidate holds each person's address",
            ),
            Figure(
                "ats backfill",
                "people as candidates, rate",
                people / throttled.imported_seconds,
                "people/s",
            ),
        ]
    return figures


async def _raw_inserts(mongodb_uri: str, count: int) -> float:
    """Seconds to insert `count` candidate-sized documents with one bare `insert_many`."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        collection = client["bench_raw"][f"candidates_{uuid.uuid4().hex[:8]}"]
        documents = [
            {
                "_id": uuid.uuid4().hex,
                "tenant_id": TENANT,
                "first_name": "Zoë",
                "last_name": "Ångström",
                "emails": [f"person{n}@example.org"],
                "source": "ats_import",
                "status": "active",
            }
            for n in range(count)
        ]
        started = time.perf_counter()
        await collection.insert_many(documents)
        seconds = time.perf_counter() - started
        await collection.drop()
        return seconds
    finally:
        await client.close()

"""Event registrations in a burst through the public registration endpoint: the rate the stack
holds, the latencies, and that none was lost.

The six services run as separate processes (as `crm-stack up` starts them, see `bench.api`).
One event with seats for half the people is published; then `registrations` people register
for it at once through the gateway's public endpoint, `CONCURRENCY` requests in flight. Every
answer must be a 201; the database must then hold exactly that many registrations, seats for
the capacity and the rest waitlisted, and `event.registered` must reach Kafka once per seat.
The gateway's per-address limit of public requests is lifted (a real burst comes from many
addresses; each request still pays the limiter's round trip).

The raw stack: the same number of registration documents, each written by a bare `insert_one`
at the same concurrency, with the event's counter document incremented beside it in one
transaction, the least a registration that respects the capacity must do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import statistics
import tempfile
import time
import uuid
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiosmtpd.controller import Controller
from pymongo import AsyncMongoClient

from bench.api import bench_stack_config, serving, stack_processes
from bench.report import Figure
from bench.smtp_counter import CountingHandler
from crm_devstack.processes import ManagedProcess, cpu_seconds
from crm_shared import EVENT_REGISTERED, utc_now

TOKEN = "dev-acme-coordinator"
CONCURRENCY = 50
# How long the relay may take to publish the last registration after the burst answered, and
# campaigns to mail the last confirmation or waitlist notice.
PUBLISH_WAIT_SECONDS = 120.0
MAIL_WAIT_SECONDS = 600.0


@dataclasses.dataclass(frozen=True)
class Burst:
    """What one burst gave: latencies of the answered requests and the failures."""

    seconds: float
    latencies_ms: list[float]
    failures: dict[str, int]

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms) or [0.0]
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _burst(count: int, register: Any) -> Burst:
    """Runs `register(n)` for n in 0..count-1, CONCURRENCY at a time."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    latencies: list[float] = []
    failures: dict[str, int] = {}

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            started = time.perf_counter()
            outcome = await register(n)
            if outcome == "ok":
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                failures[outcome] = failures.get(outcome, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return Burst(time.perf_counter() - started, latencies, failures)


async def _published(bootstrap: str, event_id: str, expected: int) -> int:
    """How many `event.registered` of the event reached Kafka (waits for `expected`)."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        # The contract's partition count, which `ensure_topics` created the topic with.
        partitions = [
            TopicPartition(EVENT_REGISTERED.name, p) for p in range(EVENT_REGISTERED.partitions)
        ]
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        seen: set[str] = set()
        deadline = time.monotonic() + PUBLISH_WAIT_SECONDS
        while len(seen) < expected and time.monotonic() < deadline:
            batches = await reader.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                for record in records:
                    envelope = json.loads(record.value)
                    if envelope["data"].get("event_id") == event_id:
                        seen.add(envelope["data"]["registration_id"])
        return len(seen)
    finally:
        await reader.stop()


def _cpu(processes: list[ManagedProcess]) -> dict[str, float]:
    return {p.name: cpu_seconds(p.pid) for p in processes if p.pid is not None}


async def _ours(
    gateway_url: str,
    mongodb_uri: str,
    bootstrap: str,
    registrations: int,
    processes: list[ManagedProcess],
) -> tuple[Burst, list[Figure]]:
    capacity = registrations // 2
    run = uuid.uuid4().hex[:8]
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60, limits=limits) as client:
        created = await client.post(
            "/api/v1/events",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={
                "name": f"Bench open house {run}",
                "kind": "open_house",
                "starts_at": "2035-06-01T18:00:00+02:00",
                "location": "Göteborg",
                "capacity": capacity,
                "reminders": [],
            },
        )
        created.raise_for_status()
        event_id = created.json()["id"]

        async def register(n: int) -> str:
            try:
                answer = await client.post(
                    f"/public/v1/events/{event_id}/registrations",
                    json={
                        "first_name": "Zoë",
                        "last_name": f"Bench{n}",
                        "email": f"bench-{run}-{n}@example.org",
                    },
                )
            except httpx.HTTPError as error:
                return type(error).__name__
            return "ok" if answer.status_code == 201 else str(answer.status_code)

        cpu_before = _cpu(processes)
        burst = await _burst(registrations, register)
        cpu_used = {
            name: seconds - cpu_before.get(name, 0.0) for name, seconds in _cpu(processes).items()
        }
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        stored = mongo["crm_events"]["registrations"]
        held = await stored.count_documents({"event_id": event_id})
        seated = await stored.count_documents({"event_id": event_id, "status": "registered"})
    finally:
        await mongo.close()
    published = await _published(bootstrap, event_id, seated)
    note = f"{registrations:,} people, {CONCURRENCY} at a time, {capacity:,} seats"
    checks = [
        Figure(
            "event registrations", "registrations stored", held, "", registrations, "sent", note
        ),
        Figure("event registrations", "seats taken", seated, "", capacity, "capacity"),
        Figure("event registrations", "event.registered on Kafka", published, "", seated, "seats"),
    ]
    # Where the burst's CPU went, per registration: the request path (gateway, events) and
    # what the registrations set off meanwhile (candidates created, mails, analytics).
    checks += [
        Figure(
            "event registrations",
            f"CPU per registration, {name}",
            seconds * 1000 / registrations,
            "ms",
            note="during the burst" if name == "gateway" else "",
        )
        for name, seconds in sorted(cpu_used.items(), key=lambda item: -item[1])
    ]
    return burst, checks


async def _raw(mongodb_uri: str, registrations: int) -> Burst:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database = mongo[f"bench_raw_registrations_{uuid.uuid4().hex[:8]}"]
    try:
        event_id = "raw-event"
        await database["events"].insert_one({"_id": event_id, "registrations": 0})

        async def register(n: int) -> str:
            async with mongo.start_session() as session, await session.start_transaction():
                await database["events"].update_one(
                    {"_id": event_id}, {"$inc": {"registrations": 1}}, session=session
                )
                await database["registrations"].insert_one(
                    {
                        "event_id": event_id,
                        "email": f"raw-{n}@example.org",
                        "first_name": "Zoë",
                        "last_name": f"Raw{n}",
                        "registered_at": utc_now(),
                    },
                    session=session,
                )
            return "ok"

        # The same one-at-a-time discipline the service keeps per event (its transactions all
        # write the event's document), so the raw stack does not just measure retried conflicts.
        lock = asyncio.Lock()

        async def in_turn(n: int) -> str:
            async with lock:
                return await register(n)

        return await _burst(registrations, in_turn)
    finally:
        await mongo.drop_database(database.name)
        await mongo.close()


async def _mailed(mailbox: CountingHandler, expected: int) -> tuple[int, float]:
    """How many mails the SMTP sink took (waiting for `expected`), and how long that took."""
    started = time.monotonic()
    # Polled: the sink counts on its own thread's event loop, not this one.
    while mailbox.received < expected and time.monotonic() - started < MAIL_WAIT_SECONDS:  # noqa: ASYNC110
        await asyncio.sleep(1)
    return mailbox.received, time.monotonic() - started


async def run(bootstrap: str, mongodb_uri: str, registrations: int) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="crm-bench-events-") as run_dir:
        config = bench_stack_config(bootstrap, mongodb_uri, run_dir, "events")
        # Every registrant is mailed (a confirmation, or the waitlist notice): a real SMTP
        # server takes them, so campaigns' work is what it is with a mail server that answers.
        mailbox = CountingHandler()
        smtp = Controller(mailbox, hostname="127.0.0.1", port=config.smtp_port)
        smtp.start()
        processes = [
            dataclasses.replace(
                process,
                env=dict(process.env) | {"PUBLIC_REQUESTS_PER_MINUTE_PER_IP": "100000000"},
            )
            for process in stack_processes(config)
        ]
        async with serving(processes):
            ours, checks = await _ours(
                f"http://127.0.0.1:{config.gateway_port}",
                mongodb_uri,
                bootstrap,
                registrations,
                processes,
            )
            mailed, mail_seconds = await _mailed(mailbox, registrations)
        smtp.stop()
        checks.append(
            Figure(
                "event registrations",
                "registrants mailed",
                mailed,
                "",
                registrations,
                "registrations",
                f"the last {mail_seconds:.0f} s after the burst answered",
            )
        )
    raw = await _raw(mongodb_uri, registrations)
    failed = sum(ours.failures.values())
    note = f"{failed} failed: {ours.failures}" if failed else "every answer a 201"
    return [
        Figure(
            "event registrations",
            "burst rate",
            ours.rate,
            "reg/s",
            raw.rate,
            "bare transaction per registration",
            note,
        ),
        Figure(
            "event registrations",
            "p50 latency",
            ours.percentile(0.5),
            "ms",
            raw.percentile(0.5),
            "bare transaction per registration",
        ),
        Figure(
            "event registrations",
            "p99 latency",
            ours.percentile(0.99),
            "ms",
            raw.percentile(0.99),
            "bare transaction per registration",
            f"mean {statistics.fmean(ours.latencies_ms or [0.0]):.0f} ms",
        ),
        *checks,
    ]

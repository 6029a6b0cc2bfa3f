"""5. A personalised broadcast to N recipients, from `send` to the last message accepted by SMTP.

The campaigns service's own broadcast runner and mail dispatchers, the runner handing what it
renders to the dispatchers as in the service (no HTTP, no Kafka: the `message.sent` events are
written to the outbox as in production, but not relayed), run against
the benchmark's database and an SMTP server in its own process: Postfix's `smtp-sink` (C, the
usual SMTP benchmark sink, standing in for a real MTA; `make bench-sink` unpacks it), a
counting aiosmtpd sink (accepts and forgets) and the devstack sink (stores every message as two
files). The two Python sinks spend about a millisecond of CPU per message themselves, on the
same two cores as the sender, which is why the Postfix sink is the headline. Recipients, a
segment of all of them, a template with merge fields, fallbacks and a branding block are loaded
first (not timed).

The raw stack is the service's own SMTP client alone (`SmtpPool`, which pipelines where the
server offers it): the same number of mails, pre-rendered (one of the broadcast's own messages),
over as many connections to the same sink, with no database, rendering, policy or bookkeeping.
Bare aiosmtplib (one command at a time) is measured the same way and given in the note.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosmtplib

from bench.report import RESULTS_DIR, Figure
from crm_campaigns.adapters.smtp import SmtpPool
from crm_campaigns.application.broadcasts import BroadcastRunner
from crm_campaigns.application.delivery import (
    RECOVERY_INTERVAL_SECONDS,
    DeliveryJournal,
    DeliveryLimits,
    MailDispatcher,
)
from crm_campaigns.application.handoff import BatchHandoff, DueMessageHints, SharedInterval
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.domain.mail import raw_email
from crm_campaigns.domain.models import (
    Block,
    Broadcast,
    BroadcastStatus,
    Message,
    SegmentAudience,
    Template,
)
from crm_campaigns.domain.policy import SendPolicy
from crm_campaigns.domain.sending import ErrorThreshold
from crm_campaigns.domain.tracking import TrackingTokens
from crm_campaigns.repositories.collections import (
    BLOCKS,
    BROADCASTS,
    MESSAGES,
    RECIPIENTS,
    SEGMENT_MEMBERS,
    TEMPLATES,
    ensure_indexes,
)
from crm_devstack.infra import SmtpSink, free_ports
from crm_devstack.servers import postfix_sink_binary
from crm_shared import Outbox, SignedLinks, Wakeup, from_document, to_document, utc_now
from crm_shared.bootstrap import tune_garbage_collector
from crm_shared.mongo import Database, MongoClient

TENANT = "bench"
SENDER = "Talent Team <talent@example.org>"
FIRST_NAMES = ["Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "", "Edsger", "Frances"]
TEMPLATE_HTML = """<html><body>
<p>Hi {{ candidate.first_name | default("there") }},</p>
<p>We are hiring {{ candidate.current_title | default("engineers") }} in
{{ candidate.location | default("our offices") }}. <a href="https://careers.example.org/jobs">See
the open roles</a> or <a href="https://careers.example.org/events">meet us</a>.</p>
{{ blocks.footer }}
</body></html>"""
TEMPLATE_TEXT = """Hi {{ candidate.first_name | default("there") }},
We are hiring {{ candidate.current_title | default("engineers") }}: https://careers.example.org/jobs
{{ blocks.footer }}"""


@dataclass(frozen=True)
class Sink:
    name: str
    port: int
    process: subprocess.Popen[bytes]


def start_sink(kind: str, run_dir: Path) -> Sink:
    smtp_port, http_port = free_ports(2)
    environment: dict[str, str] | None = None
    if kind == "devstack":
        devstack_sink = SmtpSink(run_dir, smtp_port, http_port, messages_dir=run_dir / "mail")
        argv = list(devstack_sink.process.argv)
    elif kind == "postfix":
        binary = postfix_sink_binary()
        if binary is None:
            raise RuntimeError("Postfix's smtp-sink is not unpacked: run `make bench-sink`")
        # As root it must drop privileges; `smtp-sink [-u user] host:port backlog`.
        privileges = ["-u", "nobody"] if os.geteuid() == 0 else []
        argv = [str(binary), *privileges, f"127.0.0.1:{smtp_port}", "256"]
        # Unpacked rather than installed: its shared libraries sit beside it.
        library = binary.parent.parent / "lib" / "postfix"
        environment = os.environ | {"LD_LIBRARY_PATH": str(library)}
    else:
        argv = [sys.executable, "-m", "bench.smtp_counter", "--port", str(smtp_port)]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", smtp_port), timeout=0.5):
                return Sink(kind, smtp_port, process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the {kind} SMTP sink did not start")


async def load(database: Database, count: int) -> tuple[str, str]:
    """Recipients, a segment of all of them, a template and a block; returns (template, segment)."""
    await ensure_indexes(database)
    await Outbox(database, "campaigns").ensure_indexes()
    segment_id = f"segment-{uuid.uuid4().hex[:8]}"
    for start in range(0, count, 5000):
        ids = [f"cand-{index:07d}" for index in range(start, min(start + 5000, count))]
        await database[RECIPIENTS].insert_many(
            [
                {
                    "tenant_id": TENANT,
                    "candidate_id": candidate_id,
                    "first_name": FIRST_NAMES[index % len(FIRST_NAMES)] or None,
                    "last_name": "Doe",
                    "email": f"{candidate_id}@example.org",
                    "current_title": "Platform Engineer" if index % 3 else None,
                    "location": "Berlin",
                    "marketing_consent": index % 50 != 0,  # 2% without consent: skipped
                }
                for index, candidate_id in enumerate(ids, start)
            ]
        )
        await database[SEGMENT_MEMBERS].insert_many(
            [{"tenant_id": TENANT, "segment_id": segment_id, "candidate_id": c} for c in ids]
        )
    block = Block(
        tenant_id=TENANT,
        key="footer",
        name="Footer",
        html="<footer>Acme careers - {{ sender.name | default('the talent team') }}</footer>",
        text="-- Acme careers",
        created_by="bench",
    )
    await database[BLOCKS].insert_one(to_document(block))
    template = Template(
        tenant_id=TENANT,
        name="bench",
        subject="{{ candidate.first_name | default('Hello') }}, we are hiring",
        html=TEMPLATE_HTML,
        text=TEMPLATE_TEXT,
        created_by="bench",
    )
    await database[TEMPLATES].insert_one(to_document(template))
    return template.id, segment_id


# Without rate limits: the benchmark measures capacity, not a configured limit.
LIMITS = DeliveryLimits(
    max_attempts=5,
    retry_base=timedelta(seconds=1),
    retry_cap=timedelta(seconds=30),
    provider_rate=0,
    provider_burst=1,
    tenant_rate=0,
    tenant_burst=1,
    error_threshold=ErrorThreshold(1000, 0.5),
)


def dispatcher(
    mongo: MongoClient,
    database: Database,
    transport: SmtpPool,
    batch_size: int,
    hints: DueMessageHints | None = None,
    recovery: SharedInterval | None = None,
    handoff: BatchHandoff | None = None,
    journal: DeliveryJournal | None = None,
) -> MailDispatcher:
    """A mail dispatcher as the service builds one, without rate limits: the benchmark measures
    capacity, not a configured limit."""
    return MailDispatcher(
        mongo=mongo,
        database=database,
        outbox=Outbox(database, "campaigns"),
        transport=transport,
        policy=SendPolicy(),
        sender=SENDER,
        lease=timedelta(minutes=10),
        batch_size=batch_size,
        limits=LIMITS,
        hints=hints,
        recovery=recovery,
        handoff=handoff,
        journal=journal,
    )


def start_worker_processes(
    count: int,
    mongodb_uri: str,
    database: str,
    broadcast_id: str,
    sink: Sink,
    *,
    pool_size: int,
    batch_size: int,
) -> list[subprocess.Popen[bytes]]:
    """More campaigns dispatchers, each in a process of its own, as more replicas would be."""
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.broadcast_worker",
                json.dumps(
                    {
                        "mongodb_uri": mongodb_uri,
                        "database": database,
                        "broadcast_id": broadcast_id,
                        "smtp_port": sink.port,
                        "pool_size": pool_size,
                        "batch_size": batch_size,
                    }
                ),
            ]
        )
        for _ in range(count)
    ]


async def run_one(
    mongo: MongoClient,
    mongodb_uri: str,
    database: Database,
    sink: Sink,
    count: int,
    *,
    dispatchers: int,
    processes: int,
    pool_size: int,
    batch_size: int,
) -> dict[str, float]:
    template_id, segment_id = await load(database, count)
    # As the service does once it has started.
    tune_garbage_collector(CampaignsSettings.model_fields["gc_young_threshold"].default)
    tokens = TrackingTokens("bench-tracking-secret-0123456789abcdef")
    queued = Wakeup()
    # As in the service: the runner hands what is due to this process's dispatchers (and the
    # ids of what it queued), and they share one recovery of abandoned claims.
    hints = DueMessageHints()
    # With more processes, as with BROADCAST_HANDOFF=false: every message is queued, for the
    # dispatchers of all of them to share.
    handoff = BatchHandoff(batch_size, queued) if processes == 1 else None
    runner = BroadcastRunner(
        mongo=mongo,
        database=database,
        tokens=tokens,
        links=SignedLinks("bench-link-signing-secret-0123456789abcdef"),
        public_base_url="https://crm.example.org",
        sender_names=lambda _tenant: "Talent Team",
        lease=timedelta(minutes=10),
        chunk_size=500,
        default_time_zone="UTC",
        tenant_time_zones={},
        messages_queued=queued,
        hints=hints,
        handoff=handoff,
    )
    pools = [SmtpPool("127.0.0.1", sink.port, 30, pool_size) for _ in range(dispatchers)]
    recovery = SharedInterval(RECOVERY_INTERVAL_SECONDS)
    # One journal for the process's dispatchers, as `create_app` builds them.
    journal = DeliveryJournal(
        mongo, database, Outbox(database, "campaigns"), LIMITS, timedelta(minutes=10)
    )
    workers = [
        dispatcher(mongo, database, pool, batch_size, hints, recovery, handoff, journal)
        for pool in pools
    ]
    broadcast = Broadcast(
        tenant_id=TENANT,
        name="bench",
        template_id=template_id,
        audience=SegmentAudience(segment_id=segment_id),
        status=BroadcastStatus.PREPARING,
        created_by="bench",
        started_at=utc_now(),
    )
    document = to_document(broadcast) | {"schedule": {"type": "now"}, "lease_until": None}
    helpers = start_worker_processes(
        processes - 1,
        mongodb_uri,
        database.name,
        broadcast.id,
        sink,
        pool_size=pool_size,
        batch_size=batch_size,
    )
    started = time.perf_counter()
    await database[BROADCASTS].insert_one(document)
    preparing = asyncio.create_task(runner.run_due())

    async def dispatch(worker: MailDispatcher) -> None:
        # As the service's worker does: a full batch means more may wait; otherwise sleep until
        # the runner queues more (an empty claim is a query the database has to answer too).
        while True:
            handled = await worker.deliver_batch()
            if handled < batch_size:
                if preparing.done() and not handled:
                    return
                await queued.wait(1.0)

    async def report_progress() -> None:
        # The broadcast's own progress counters: counting the sent messages would cost the
        # database a second of CPU per count at 100,000 messages, inside the measurement.
        while True:
            await asyncio.sleep(30)
            progress = await database[BROADCASTS].find_one({"_id": broadcast.id}, {"stats": 1})
            sent = int(((progress or {}).get("stats") or {}).get("sent", 0))
            elapsed = time.perf_counter() - started
            print(f"  {sent:,} sent after {elapsed:.0f}s ({sent / elapsed:.1f}/s)", flush=True)

    sending = [asyncio.create_task(dispatch(worker)) for worker in workers]
    progress = asyncio.create_task(report_progress())
    await preparing
    prepared_at = time.perf_counter() - started
    queued.notify()
    await asyncio.gather(*sending)
    for helper in helpers:
        # They stop once the broadcast is complete, which the last batch of any of them makes it.
        await asyncio.to_thread(helper.wait, 300)
    elapsed = time.perf_counter() - started
    progress.cancel()
    final = await database[BROADCASTS].find_one({"_id": broadcast.id})
    assert final is not None
    sent = await database[MESSAGES].count_documents(
        {"broadcast_id": broadcast.id, "status": "sent"}
    )
    for pool in pools:
        await pool.close()
    sample = await database[MESSAGES].find_one({"broadcast_id": broadcast.id, "status": "sent"})
    assert sample is not None
    mail = raw_email(from_document(Message, sample), SENDER, "example.org")
    connections = pool_size * dispatchers * processes
    raw_rate = await bare_smtp_pool(sink.port, mail, sent, connections=connections)
    aiosmtplib_rate = await bare_aiosmtplib(sink.port, mail, sent, connections=connections)
    return {
        "recipients": count,
        "sent": sent,
        "raw_messages_per_second": raw_rate,
        "aiosmtplib_messages_per_second": aiosmtplib_rate,
        "mail_bytes": len(mail),
        "skipped": count - sent,
        "status_completed": float(final["status"] == BroadcastStatus.COMPLETED.value),
        "prepare_seconds": prepared_at,
        "total_seconds": elapsed,
        "messages_per_second": sent / elapsed,
    }


async def bare_smtp_pool(port: int, mail: bytes, count: int, *, connections: int) -> float:
    """The raw stack: `count` copies of one finished mail through the service's own SMTP client
    (`SmtpPool`: pipelined where the sink offers it) over `connections` connections to the same
    sink, with nothing else; messages per second."""
    pool = SmtpPool("127.0.0.1", port, 30, connections)
    remaining: Iterator[int] = iter(range(count))

    async def send_in_turn() -> None:
        for index in remaining:
            await pool.send_raw("talent@example.org", f"raw-{index}@example.org", mail)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(send_in_turn() for _ in range(connections)))
        return count / (time.perf_counter() - started)
    finally:
        await pool.close()


async def bare_aiosmtplib(port: int, mail: bytes, count: int, *, connections: int) -> float:
    """The raw stack: `count` copies of one finished mail over `connections` aiosmtplib
    connections to the same sink; messages per second."""
    remaining: Iterator[int] = iter(range(count))

    async def send_over_one_connection() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        try:
            for index in remaining:
                await client.sendmail("talent@example.org", [f"raw-{index}@example.org"], mail)
        finally:
            await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(send_over_one_connection() for _ in range(connections)))
    return count / (time.perf_counter() - started)


def default_sinks() -> tuple[str, ...]:
    """The fastest sink there is, then the devstack's (`CRM_BENCH_BROADCAST_SINKS` overrides,
    e.g. `postfix,counting,devstack`)."""
    configured = os.environ.get("CRM_BENCH_BROADCAST_SINKS")
    if configured:
        return tuple(configured.split(","))
    if postfix_sink_binary() is None:
        print("  Postfix's smtp-sink is not unpacked (make bench-sink): Python sinks only")
        return ("counting", "devstack")
    return ("postfix", "devstack")


async def run(
    mongodb_uri: str,
    count: int,
    *,
    sinks: tuple[str, ...] | None = None,
    # The campaigns service's default `delivery_workers`.
    dispatchers: int = CampaignsSettings.model_fields["delivery_workers"].default,
    processes: int = int(os.environ.get("CRM_BENCH_BROADCAST_PROCESSES", "1")),
    pool_size: int = 8,
    batch_size: int = 500,
) -> list[Figure]:
    from pymongo import AsyncMongoClient

    figures: list[Figure] = []
    details: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="crm-bench-broadcast-") as run_dir:
        for kind in sinks or default_sinks():
            print(f"  broadcast to {count:,} recipients through the {kind} sink", flush=True)
            sink = start_sink(kind, Path(run_dir))
            mongo: MongoClient = AsyncMongoClient(mongodb_uri, tz_aware=True)
            database = mongo[f"bench_broadcast_{uuid.uuid4().hex[:8]}"]
            try:
                result = await run_one(
                    mongo,
                    mongodb_uri,
                    database,
                    sink,
                    count,
                    dispatchers=dispatchers,
                    processes=processes,
                    pool_size=pool_size,
                    batch_size=batch_size,
                )
            finally:
                # The sink first: a database that went away must not leave it running.
                sink.process.terminate()
                sink.process.wait(timeout=30)
                try:
                    await mongo.drop_database(database.name)
                finally:
                    await mongo.close()
            details[kind] = result
            figures.append(
                Figure(
                    "broadcast",
                    f"{count:,} recipients, {kind} SMTP sink",
                    result["messages_per_second"],
                    "messages/s",
                    baseline=result["raw_messages_per_second"],
                    baseline_name="the service's SMTP client alone, pre-rendered",
                    note=(
                        f"{int(result['sent']):,} sent in {result['total_seconds']:.1f}s "
                        f"(bare aiosmtplib: {result['aiosmtplib_messages_per_second']:,.0f}/s) "
                        f"(snapshot+render+queue {result['prepare_seconds']:.1f}s, overlapping); "
                        f"{processes} processes x {dispatchers} dispatchers x {pool_size} SMTP "
                        "connections, "
                        f"batches of {batch_size}"
                    ),
                )
            )
    RESULTS_DIR.mkdir(exist_ok=True)
    mode = "full" if count >= 50_000 else "small"
    (RESULTS_DIR / f"broadcast-{mode}.json").write_text(
        json.dumps(
            {
                "recipients": count,
                "cpus": os.cpu_count(),
                "dispatchers": dispatchers,
                "processes": processes,
                "pool_size": pool_size,
                "batch_size": batch_size,
                "runs": details,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return figures

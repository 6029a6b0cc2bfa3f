"""A Kafka outage: the relay reports it, the clients stay quiet, nothing is lost or doubled.

The test runs a broker of its own (stopping the session's would break every other test) and
a service platform built the way every service builds it, with no subscribers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiokafka.client
import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from fastapi import FastAPI
from pymongo import AsyncMongoClient

from crm_devstack.infra import KafkaBroker, free_ports
from crm_shared import CandidateCreated, Session, TopicSpec, in_transaction
from crm_shared.bootstrap import build_platform, create_service_app
from crm_shared.outbox import Outbox
from crm_shared.settings import ServiceSettings
from helpers import eventually, record_headers, unique
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.integration

TOPIC = TopicSpec(
    name="outage.created",
    payload=CandidateCreated,
    schema_version=1,
    key="candidate id",
    partitions=3,
    description="relay outage test topic",
)
# What the outage may cost in the five seconds measured: the backoff allows about six
# connection attempts (0.25, 0.5, 1, 2, 2 s apart); before it, the producer's and the probe's
# loops made over a hundred. Each kind of warning is logged once in its 30 s interval.
MEASURED_SECONDS = 5
MAX_CONNECTION_ATTEMPTS = 12
MAX_LOG_LINES = 12


async def write_events(outbox: Outbox, client: Any, tenant_id: str, numbers: range) -> list[str]:
    envelopes = [
        outbox.envelope(
            TOPIC,
            tenant_id=tenant_id,
            subject=f"cand-{n}",
            data=CandidateCreated(
                candidate_id=f"cand-{n}",
                first_name="Outage",
                last_name=str(n),
                emails=[f"cand-{n}@example.org"],
                source="sourced",
            ),
        )
        for n in numbers
    ]

    async def add(session: Session) -> None:
        await outbox.add_many(envelopes, session=session)

    await in_transaction(client, add)
    outbox.notify_committed()
    return [str(envelope.id) for envelope in envelopes]


async def event_ids_on_topic(bootstrap: str, expected: int) -> list[str]:
    """Every event id on the topic, read from the start until `expected` arrived and then
    for two more seconds, so that duplicates are counted too."""
    consumer = AIOKafkaConsumer(
        TOPIC.name,
        bootstrap_servers=bootstrap,
        group_id=unique("verify"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: list[str] = []
    try:

        async def all_arrived() -> bool:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(record_headers(record)["event-id"] for record in records)
            return len(seen) >= expected

        await eventually(all_arrived, timeout=30, interval=0, message="events on the topic")
        drain_until = time.monotonic() + 2
        while time.monotonic() < drain_until:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                seen.extend(record_headers(record)["event-id"] for record in records)
    finally:
        await consumer.stop()
    return seen


class EmittedLines(logging.Handler):
    """Counts what the service's own log handler writes (after its filters)."""

    def __init__(self, service_handler: logging.Handler) -> None:
        super().__init__()
        self.lines: list[str] = []
        original = service_handler.emit

        def emit(record: logging.LogRecord) -> None:
            self.lines.append(f"{record.name}: {record.getMessage()}")
            original(record)

        service_handler.emit = emit  # type: ignore[method-assign]


@pytest.fixture
async def own_kafka(tmp_path: Path) -> AsyncIterator[KafkaBroker]:
    port, controller_port = free_ports(2)
    # Started twice in the test: C1 only and the serial collector start the JVM faster and
    # take less CPU from the tests running beside it.
    broker = KafkaBroker(
        tmp_path,
        port,
        controller_port,
        heap="256m",
        extra_jvm_options=("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"),
    )
    await broker.start_async()
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        await admin.create_topics([NewTopic(TOPIC.name, TOPIC.partitions, 1)])
        await admin.close()
        yield broker
    finally:
        await asyncio.to_thread(broker.stop)


async def readyz(app: FastAPI) -> dict[str, Any]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as client:
        body: dict[str, Any] = (await client.get("/readyz")).json()
        return body


async def test_a_kafka_outage_is_reported_bounded_and_loses_or_doubles_nothing(
    own_kafka: KafkaBroker, mongodb_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ServiceSettings(
        service_name=unique("outage").replace("_", "-"),
        kafka_bootstrap_servers=own_kafka.bootstrap_servers,
        mongodb_uri=mongodb_uri,
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
        outbox_poll_interval_seconds=0.2,
        outbox_stall_after_seconds=1,
        outbox_backlog_sample_seconds=0.5,
        kafka_reconnect_backoff_max_ms=2000,
        readiness_timeout_seconds=1,
        shutdown_grace_seconds=5,
        log_json=False,
    )
    root = logging.getLogger()
    saved_logging = (root.handlers[:], root.level)
    platform = build_platform(settings)
    emitted = EmittedLines(root.handlers[0])
    relay, outbox, mongo = platform.relay, platform.require_outbox(), platform.require_mongo()
    assert relay is not None
    app = create_service_app(platform, title="outage", description="relay under an outage")
    tenant_id = unique("tenant")
    attempts: list[float] = []
    real_create_conn = aiokafka.client.create_conn

    async def counted_create_conn(*args: Any, **kwargs: Any) -> Any:
        attempts.append(time.monotonic())
        return await real_create_conn(*args, **kwargs)

    monkeypatch.setattr(aiokafka.client, "create_conn", counted_create_conn)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        written = await write_events(outbox, mongo, tenant_id, range(5))

        async def drained() -> bool:
            await relay.sample_backlog()
            return relay.health().pending == 0

        await eventually(drained, timeout=30, message="the relay published the first events")

        await asyncio.to_thread(own_kafka.stop)
        written += await write_events(outbox, mongo, tenant_id, range(5, 25))

        async def reported_unavailable() -> bool:
            detail = (await readyz(app))["outbox_relay"]
            return bool(detail["state"] == "broker_unavailable" and detail["pending"] == 20)

        await eventually(
            reported_unavailable, timeout=30, message="/readyz reports the relay's outage"
        )
        detail = (await readyz(app))["outbox_relay"]
        assert detail["oldest_pending_seconds"] >= 0
        assert "Kafka" in detail["last_error"] or "Timeout" in detail["last_error"]

        attempts_before, lines_before = len(attempts), len(emitted.lines)
        await asyncio.sleep(MEASURED_SECONDS)
        outage_attempts = len(attempts) - attempts_before
        outage_lines = emitted.lines[lines_before:]
        assert outage_attempts <= MAX_CONNECTION_ATTEMPTS, outage_attempts
        assert len(outage_lines) <= MAX_LOG_LINES, outage_lines
        assert relay.health().pending == 20

        await own_kafka.start_async()

        async def published_all() -> bool:
            await relay.sample_backlog()
            health = relay.health()
            return health.pending == 0 and health.state.value in ("publishing", "idle")

        await eventually(published_all, timeout=60, message="the relay published the backlog")

        delivered = await event_ids_on_topic(own_kafka.bootstrap_servers, len(written))
        duplicates = [event for event, times in Counter(delivered).items() if times > 1]
        assert not duplicates
        assert sorted(delivered) == sorted(written)

        # Down again, with records waiting: the service still stops within its grace period.
        await asyncio.to_thread(own_kafka.stop)
        left_behind = await write_events(outbox, mongo, tenant_id, range(25, 28))

        async def stalled_again() -> bool:
            return relay.health().state.value == "broker_unavailable"

        await eventually(stalled_again, timeout=30, message="the relay noticed the second outage")
    finally:
        started = time.monotonic()
        await lifespan.__aexit__(None, None, None)
        stopped_in = time.monotonic() - started
        root.handlers[:], _ = saved_logging
        root.setLevel(saved_logging[1])
    assert stopped_in < settings.shutdown_grace_seconds + 1
    check: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    unsent = await check[settings.database_name]["outbox"].distinct(
        "event_id", {"published": False}
    )
    await check.close()
    assert sorted(unsent) == sorted(left_behind), "what was not published stays in the outbox"

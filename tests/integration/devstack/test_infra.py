"""Kafka, SecantusDB, the SMTP sink and Zipkin run as real processes and stop cleanly."""

from __future__ import annotations

import asyncio
import http.client
import json
import smtplib
import socket
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import (  # type: ignore[import-untyped,unused-ignore]
    AIOKafkaConsumer,
    AIOKafkaProducer,
)
from aiokafka.admin import (  # type: ignore[import-untyped,unused-ignore]
    AIOKafkaAdminClient,
    NewTopic,
)
from pymongo import AsyncMongoClient

from crm_devstack.infra import (
    KafkaBroker,
    MongoServer,
    Zipkin,
    free_ports,
    start_smtp_sink,
    start_zipkin,
)
from crm_devstack.processes import PortInUseError, port_open, process_tree
from helpers import eventually

pytestmark = pytest.mark.integration


def assert_gone(pid: int | None, ports: list[int]) -> None:
    """Asserts a stopped component left no process and no listening port behind."""
    assert pid is not None
    assert not Path(f"/proc/{pid}").exists()
    assert not any(port_open(port) for port in ports)


async def test_kafka_round_trip_then_clean_stop(tmp_path: Path) -> None:
    """A record produced to an admin-created topic is consumed back; stop leaves nothing."""
    port, controller_port = free_ports(2)
    broker = await KafkaBroker(tmp_path, port, controller_port).start_async()
    pid = broker.process.pid
    try:
        topic = f"devstack.{uuid.uuid4().hex[:8]}"
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap_servers)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])

            # The broker answers the creation before its metadata cache holds the topic
            # (KRaft applies the record asynchronously), so a listing may briefly miss it.
            async def topic_listed() -> bool:
                return topic in await admin.list_topics()

            await eventually(topic_listed, timeout=15, message=f"{topic} listed")
        finally:
            await admin.close()

        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(topic, b'{"hello": "kafka"}', key=b"candidate-1")
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap_servers,
            group_id=f"devstack-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()
        assert (record.key, record.value) == (b"candidate-1", b'{"hello": "kafka"}')
    finally:
        broker.stop()

    assert not broker.is_running()
    assert_gone(pid, [port, controller_port])


async def test_secantusdb_transactions_then_clean_stop(tmp_path: Path) -> None:
    """A multi-document transaction commits atomically and an aborted one leaves no trace."""
    [port] = free_ports(1)
    server = await MongoServer(tmp_path, port).start_async()
    pid = server.process.pid
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.mongodb_uri)
        try:
            db = client["devstack"]
            async with client.start_session() as session, await session.start_transaction():
                await db.candidates.insert_one({"_id": "c1", "name": "Ada"}, session=session)
                await db.outbox.insert_one({"_id": "e1", "type": "created"}, session=session)

            async with client.start_session() as session:
                await session.start_transaction()
                await db.candidates.insert_one({"_id": "c2"}, session=session)
                await db.outbox.insert_one({"_id": "e2"}, session=session)
                await session.abort_transaction()

            assert await db.candidates.distinct("_id") == ["c1"]
            assert await db.outbox.distinct("_id") == ["e1"]
        finally:
            await client.close()
    finally:
        server.stop()

    assert not server.is_running()
    assert_gone(pid, [port])


HOLD_A_TRANSACTION = """
import asyncio, sys
from pymongo import AsyncMongoClient

async def hold() -> None:
    client = AsyncMongoClient(sys.argv[1])
    session = client.start_session()
    await session.start_transaction()
    candidates = client.devstack.candidates
    await candidates.update_one({"_id": "c1"}, {"$set": {"by": "t"}}, session=session)
    print("holding", flush=True)
    await asyncio.sleep(3600)

asyncio.run(hold())
"""


async def test_secantusdb_aborts_a_dead_clients_transaction_after_its_lifetime(
    tmp_path: Path,
) -> None:
    """A client killed inside a transaction does not lock its documents for good: a plain write
    to them completes once the transaction's lifetime has passed (SecantusDB 0.7.0b3 alone would
    retry that write until some other transaction ran)."""
    [port] = free_ports(1)
    server = await MongoServer(tmp_path, port, transaction_lifetime_seconds=2).start_async()
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.mongodb_uri)
        try:
            candidates = client["devstack"]["candidates"]
            await candidates.insert_one({"_id": "c1", "by": "insert"})
            holder = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                HOLD_A_TRANSACTION,
                server.mongodb_uri,
                stdout=asyncio.subprocess.PIPE,
            )
            assert holder.stdout is not None
            assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"holding\n"
            holder.kill()
            await holder.wait()

            async with asyncio.timeout(30):
                await candidates.update_one({"_id": "c1"}, {"$set": {"by": "plain write"}})
            assert await candidates.find_one({"_id": "c1"}) == {"_id": "c1", "by": "plain write"}
        finally:
            await client.close()
    finally:
        server.stop()


def test_start_adopts_a_running_process_and_refuses_foreign_ports(tmp_path: Path) -> None:
    """A second handle on the same run dir reuses the process; a port held elsewhere fails fast."""
    [port] = free_ports(1)
    server = MongoServer(tmp_path / "a", port).start()
    try:
        again = MongoServer(tmp_path / "a", port)
        assert again.launch() is False
        assert again.process.pid == server.process.pid

        with pytest.raises(PortInUseError, match=str(port)):
            MongoServer(tmp_path / "b", port).start()
    finally:
        server.stop()
    assert not again.is_running()

    [busy] = free_ports(1)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", busy))
        squatter.listen()
        with pytest.raises(PortInUseError):
            MongoServer(tmp_path / "c", busy).start()


def test_smtp_sink_process_stores_mail(tmp_path: Path) -> None:
    """The sink run as its own process accepts mail and lists it over HTTP."""
    smtp_port, http_port = free_ports(2)
    sink = start_smtp_sink(tmp_path, smtp_port, http_port)
    pid = sink.process.pid
    try:
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
            client.sendmail("jobs@acme.test", ["ada@example.test"], "Subject: hi\r\n\r\nbody\r\n")
        [message] = sink.read_messages()
        assert (message.mail_from, message.rcpt_tos, message.subject) == (
            "jobs@acme.test",
            ("ada@example.test",),
            "hi",
        )
        assert [item["id"] for item in json.loads(get(http_port, "/messages")[1])] == [message.id]
    finally:
        sink.stop()
    assert_gone(pid, [smtp_port, http_port])


def get(port: int, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    """Sends GET (or POST when a body is given) to 127.0.0.1:port; returns status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        if body is None:
            connection.request("GET", path)
        else:
            connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_zipkin_accepts_and_serves_spans(tmp_path: Path) -> None:
    """Zipkin takes a span on /api/v2/spans and returns it by trace id, on loopback only."""
    [port] = free_ports(1)
    zipkin = start_zipkin(tmp_path, port)
    pid = zipkin.process.pid
    assert pid is not None
    try:
        assert len(process_tree(pid)) == 1
        trace_id = uuid.uuid4().hex
        span = {
            "traceId": trace_id,
            "id": trace_id[:16],
            "name": "get /candidates",
            "timestamp": 1_700_000_000_000_000,
            "duration": 1500,
            "localEndpoint": {"serviceName": "devstack-test"},
        }
        status, _ = get(port, "/api/v2/spans", json.dumps([span]).encode())
        assert status == 202
        status, trace = get(port, f"/api/v2/trace/{trace_id}")
        assert status == 200
        assert [item["name"] for item in json.loads(trace)] == ["get /candidates"]
        assert get(port, "/zipkin/")[0] == 200
    finally:
        zipkin.stop()
    assert_gone(pid, [port])


def test_zipkin_keeps_its_storage_bounded_and_keeps_answering(tmp_path: Path) -> None:
    """Past its span bound Zipkin drops the oldest traces instead of filling its heap: after
    four times the bound in spans it still answers, and holds no more than the bound."""
    [port] = free_ports(1)
    bound = 5_000
    zipkin = Zipkin(tmp_path, port, heap="128m", max_spans=bound).start()
    try:
        service = f"bounded-{uuid.uuid4().hex[:8]}"
        start_us = 1_700_000_000_000_000
        spans_per_trace, traces_per_post = 10, 100
        for batch in range(4 * bound // (spans_per_trace * traces_per_post)):
            spans = []
            for trace in range(traces_per_post):
                trace_id = uuid.uuid4().hex
                spans += [
                    {
                        "traceId": trace_id,
                        "id": f"{index + 1:016x}",
                        "name": "segment.entered process",
                        "timestamp": start_us + (batch * traces_per_post + trace) * 1000,
                        "duration": 1500,
                        "localEndpoint": {"serviceName": service},
                        "tags": {"messaging.destination": "segment.entered", "filler": "x" * 200},
                    }
                    for index in range(spans_per_trace)
                ]
            status, _ = get(port, "/api/v2/spans", json.dumps(spans).encode())
            assert status == 202
        assert get(port, "/health")[0] == 200
        end_ms = start_us // 1000 + 10_000_000
        status, body = get(
            port,
            f"/api/v2/traces?serviceName={service}&endTs={end_ms}&lookback={end_ms}&limit=100000",
        )
        assert status == 200
        stored = sum(len(trace) for trace in json.loads(body))
        assert 0 < stored <= bound
    finally:
        zipkin.stop()

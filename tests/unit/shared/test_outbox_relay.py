"""The relay reports its state and backlog, logs once per change, and stops within its grace."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from prometheus_client import CollectorRegistry, generate_latest
from pymongo.errors import ServerSelectionTimeoutError

from crm_shared.bootstrap import Platform, _stop_platform, build_platform, create_service_app
from crm_shared.outbox import Outbox, OutboxRelay, RelayState
from crm_shared.settings import ServiceSettings
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


class FakeCursor:
    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self._documents = documents

    def sort(self, *_: Any) -> FakeCursor:
        return self

    def limit(self, count: int) -> FakeCursor:
        return FakeCursor(self._documents[:count])

    def batch_size(self, _: int) -> FakeCursor:
        return self

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        taken = self._documents[:length] if length is not None else self._documents
        self._documents = self._documents[len(taken) :]
        return [dict(document) for document in taken]

    async def __aenter__(self) -> FakeCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for document in await self.to_list():
            yield document


class FakeRecords:
    """The outbox collection, as far as the relay uses it."""

    def __init__(self) -> None:
        self.documents: list[dict[str, Any]] = []
        self.failure: Exception | None = None
        self.queries = 0

    def add(self, count: int, created_at: datetime) -> None:
        start = len(self.documents)
        for number in range(start, start + count):
            self.documents.append(
                {
                    "_id": number,
                    "event_id": f"e{number}",
                    "topic": "candidate.created",
                    "key": f"c{number}",
                    "value": "{}",
                    "created_at": created_at,
                    "published": False,
                    "sent_at": None,
                }
            )

    def _unpublished(self) -> list[dict[str, Any]]:
        if self.failure is not None:
            raise self.failure
        return [d for d in self.documents if not d["published"]]

    def find(self, *_: Any) -> FakeCursor:
        self.queries += 1
        return FakeCursor(self._unpublished())

    async def find_one(self, *_: Any, **__: Any) -> dict[str, Any] | None:
        unpublished = self._unpublished()
        return unpublished[0] if unpublished else None

    async def count_documents(self, _: dict[str, Any]) -> int:
        return len(self._unpublished())

    async def update_many(self, selector: dict[str, Any], update: dict[str, Any]) -> None:
        ids = set(selector["_id"]["$in"])
        for document in self.documents:
            if document["_id"] in ids:
                document.update(update["$set"])


class FakeKafka:
    """Takes records like the producer: `send` returns a future resolved on the broker's ack."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.unacked: list[asyncio.Future[None]] = []
        self.up = True
        self.refuse: Exception | None = None

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str]
    ) -> asyncio.Future[None]:
        if self.refuse is not None:
            raise self.refuse
        self.sent.append(headers["event-id"])
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.up:
            ack.set_result(None)
        else:
            self.unacked.append(ack)
        return ack

    def come_back(self) -> None:
        self.up = True
        for ack in self.unacked:
            ack.set_result(None)
        self.unacked.clear()


def relay_over(
    records: FakeRecords, kafka: FakeKafka, **options: Any
) -> tuple[OutboxRelay, CollectorRegistry]:
    registry = CollectorRegistry()
    outbox = Outbox(cast(Any, {"outbox": records}), source="test")
    options = {"batch_size": 10, "stall_after_seconds": 0.05, **options}
    relay = OutboxRelay(outbox, kafka.publish, registry=registry, clock=lambda: NOW, **options)
    return relay, registry


def metric(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    assert value is not None, name
    return value


async def test_acks_that_do_not_come_turn_the_relay_broker_unavailable_and_nothing_is_resent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records, kafka = FakeRecords(), FakeKafka()
    records.add(3, NOW - timedelta(seconds=40))
    kafka.up = False
    relay, registry = relay_over(records, kafka)
    caplog.set_level(logging.WARNING, logger="crm_shared.outbox")

    batch = asyncio.create_task(relay._relay_and_report())
    await asyncio.sleep(0.5)  # ten times the stall threshold
    assert relay.health().state is RelayState.BROKER_UNAVAILABLE
    assert (
        metric(registry, "crm_outbox_relay_state", {"crm_outbox_relay_state": "broker_unavailable"})
        == 1
    )
    await relay.sample_backlog()
    assert relay.health().pending == 3
    assert relay.health().oldest_pending_seconds == 40
    assert metric(registry, "crm_outbox_pending_records") == 3
    assert metric(registry, "crm_outbox_oldest_pending_age_seconds") == 40
    assert not any(d["published"] for d in records.documents)

    kafka.come_back()
    assert await batch == 3
    assert relay.health().state is RelayState.PUBLISHING
    assert kafka.sent == ["e0", "e1", "e2"], "the records in flight were sent once, not again"
    assert all(d["published"] for d in records.documents)
    assert metric(registry, "crm_outbox_published_records_total") == 3
    await relay.sample_backlog()
    assert relay.health().pending == 0
    assert metric(registry, "crm_outbox_oldest_pending_age_seconds") == 0
    # Only the relay's own: a Kafka client another test left behind may log into the same capture.
    messages = [r.getMessage() for r in caplog.records if r.name == "crm_shared.outbox"]
    assert len(messages) == 2, messages
    assert messages[0].startswith("outbox relay broker_unavailable (was starting")
    assert messages[1].startswith("outbox relay publishing again after")


async def test_each_state_is_logged_once_however_many_batches_fail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    records, kafka = FakeRecords(), FakeKafka()
    records.add(2, NOW)
    relay, registry = relay_over(records, kafka)
    caplog.set_level(logging.WARNING, logger="crm_shared.outbox")
    kafka.refuse = KafkaConnectionError("Unable to bootstrap")
    for _ in range(20):
        assert await relay._relay_and_report() == 0
    assert relay.health().state is RelayState.BROKER_UNAVAILABLE
    assert (
        relay.health().last_error
        == "KafkaConnectionError: KafkaConnectionError: Unable to bootstrap"
    )

    kafka.refuse = None
    records.failure = ServerSelectionTimeoutError("no server")
    for _ in range(20):
        assert await relay._relay_and_report() == 0
    assert relay.health().state is RelayState.STALLED

    records.failure = None
    assert await relay._relay_and_report() == 2
    assert await relay._relay_and_report() == 0
    assert relay.health().state is RelayState.IDLE
    assert metric(registry, "crm_outbox_relay_state", {"crm_outbox_relay_state": "idle"}) == 1
    relay_logs = [r for r in caplog.records if r.name == "crm_shared.outbox"]
    assert [r.getMessage().split(" (")[0].split(" again")[0] for r in relay_logs] == [
        "outbox relay broker_unavailable",
        "outbox relay stalled",
        "outbox relay publishing",
    ]


async def test_stop_returns_at_once_with_acks_outstanding_and_the_records_stay() -> None:
    records, kafka = FakeRecords(), FakeKafka()
    records.add(5, NOW)
    kafka.up = False
    relay, _ = relay_over(records, kafka, poll_interval_seconds=0.01)
    relay.start()
    await asyncio.sleep(0.2)
    assert relay.health().state is RelayState.BROKER_UNAVAILABLE
    started = time.monotonic()
    await relay.stop()
    assert time.monotonic() - started < 0.5
    assert not any(d["published"] for d in records.documents)


async def test_readyz_shows_the_relay_and_its_backlog_without_changing_readiness() -> None:
    settings = ServiceSettings(
        service_name="relay-readyz",
        # Nothing listens there: the dependency checks fail fast, the relay detail is shown.
        kafka_bootstrap_servers="127.0.0.1:9",
        mongodb_uri="mongodb://127.0.0.1:9/?directConnection=true&serverSelectionTimeoutMS=100",
        readiness_timeout_seconds=0.2,
        internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY,
    )
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        platform = build_platform(settings)
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert platform.relay is not None
    app = create_service_app(platform, title="t", description="d")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as client:
        response = await client.get("/readyz")
        metrics = await client.get("/metrics")
    body = response.json()
    assert response.status_code == 503
    assert body["outbox_relay"]["state"] == "starting"
    assert body["outbox_relay"]["pending"] is None
    assert 'crm_outbox_relay_state{crm_outbox_relay_state="starting"} 1.0' in metrics.text
    assert "crm_outbox_pending_records 0.0" in metrics.text
    await platform.require_mongo().close()


class HangingBroker:
    """A Kafka client whose stop waits for batches that can never be delivered."""

    stopped = False

    async def stop(self) -> None:
        await asyncio.sleep(3600)


class FakeMongo:
    closed = False

    async def close(self) -> None:
        self.closed = True


async def test_shutdown_ends_within_the_grace_period_when_kafka_hangs() -> None:
    settings = ServiceSettings(service_name="grace", shutdown_grace_seconds=0.3)
    mongo = FakeMongo()
    platform = Platform(
        settings=settings,
        registry=CollectorRegistry(),
        broker=cast(Any, HangingBroker()),
        mongo=cast(Any, mongo),
    )
    started = time.monotonic()
    await _stop_platform(platform)
    assert time.monotonic() - started < 1.0
    assert mongo.closed


class HangingMongo:
    """A MongoDB client whose close never returns (its pool's lock left in a wrong state)."""

    async def close(self) -> None:
        await asyncio.sleep(3600)


async def test_shutdown_ends_when_mongodb_will_not_close() -> None:
    settings = ServiceSettings(service_name="grace", shutdown_grace_seconds=0.3)
    platform = Platform(
        settings=settings, registry=CollectorRegistry(), mongo=cast(Any, HangingMongo())
    )
    started = time.monotonic()
    await _stop_platform(platform)
    assert time.monotonic() - started < 2.0


def test_metrics_names_are_prometheus_conventional() -> None:
    _, registry = relay_over(FakeRecords(), FakeKafka())
    text = generate_latest(registry).decode()
    for name in (
        "crm_outbox_relay_state",
        "crm_outbox_pending_records",
        "crm_outbox_oldest_pending_age_seconds",
        "crm_outbox_published_records_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text


async def test_a_backlog_is_drained_in_batches_from_one_query_per_pass() -> None:
    # A query per batch made draining a backlog quadratic on SecantusDB, which reads the whole
    # pending range of the index whatever the limit.
    records, kafka = FakeRecords(), FakeKafka()
    records.add(95, NOW)
    relay, registry = relay_over(records, kafka)

    assert await relay.relay_batch() == 95
    assert records.queries == 1
    assert kafka.sent == [f"e{number}" for number in range(95)]
    assert all(document["published"] for document in records.documents)
    assert metric(registry, "crm_outbox_published_records_total") == 95
    assert await relay.relay_batch() == 0


class RefusingAfter(FakeKafka):
    """Takes `accepted` records, then refuses the rest as a broker gone away would."""

    def __init__(self, accepted: int) -> None:
        super().__init__()
        self.accepted = accepted

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str]
    ) -> asyncio.Future[None]:
        if len(self.sent) == self.accepted:
            self.refuse = KafkaConnectionError("gone")
        return await super().publish(topic, key, value, headers)


async def test_an_acknowledged_batch_is_marked_even_when_the_next_one_fails() -> None:
    # A batch is marked while the next is sent; the next failing must not leave the one Kafka
    # acknowledged unmarked (it would go out again), nor mark any of the failed one.
    records, kafka = FakeRecords(), RefusingAfter(accepted=13)
    records.add(30, NOW)
    relay, registry = relay_over(records, kafka)

    assert await relay._relay_and_report() == 0
    assert relay.health().state is RelayState.BROKER_UNAVAILABLE
    assert [d["event_id"] for d in records.documents if d["published"]] == [
        f"e{number}" for number in range(10)
    ]
    assert metric(registry, "crm_outbox_published_records_total") == 10


class Carriers(FakeKafka):
    """Keeps the headers each record was sent with."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[dict[str, str]] = []

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str]
    ) -> asyncio.Future[None]:
        self.headers.append(headers)
        return await super().publish(topic, key, value, headers)


async def test_records_carry_their_event_id_and_their_writers_trace_context() -> None:
    records, kafka = FakeRecords(), Carriers()
    records.add(4, NOW)
    writers = [f"00-{number + 1:032x}-{number + 1:016x}-01" for number in range(2)]
    for document, writer in zip(records.documents, [*writers, writers[1], None], strict=True):
        document["trace_context"] = {"traceparent": writer} if writer else {}
    relay, _ = relay_over(records, kafka)

    assert await relay.relay_batch() == 4
    assert [h["event-id"] for h in kafka.headers] == ["e0", "e1", "e2", "e3"]
    assert {h["content-type"] for h in kafka.headers} == {"application/json"}
    # Each continues its writer's trace (through the relay's PRODUCER span when a recording
    # tracer provider is installed, as a service has; else the writer's context as it is).
    trace_ids = [h.get("traceparent", "--").split("-")[1] for h in kafka.headers]
    assert trace_ids[:3] == [writer.split("-")[1] for writer in [*writers, writers[1]]]
    assert trace_ids[3] not in trace_ids[:3], "a record written outside any trace joins none"


class HeldAcks(FakeKafka):
    """Takes records at once and acknowledges each only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.acks: dict[str, asyncio.Future[None]] = {}

    async def publish(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str]
    ) -> asyncio.Future[None]:
        self.sent.append(headers["event-id"])
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks[headers["event-id"]] = ack
        return ack

    def ack(self, numbers: range, failed: int | None = None) -> None:
        for number in numbers:
            if number == failed:
                self.acks[f"e{number}"].set_exception(KafkaTimeoutError())
            else:
                self.acks[f"e{number}"].set_result(None)


class MarkLog(FakeRecords):
    """Records which records each mark covered, in the order the marks were written."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[list[int]] = []

    async def update_many(self, selector: dict[str, Any], update: dict[str, Any]) -> None:
        self.marks.append(sorted(selector["_id"]["$in"]))
        await super().update_many(selector, update)


def marked(records: FakeRecords) -> list[int]:
    return [d["_id"] for d in records.documents if d["published"]]


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_batches_are_sent_while_earlier_ones_await_acks_none_marked_before_its_ack() -> None:
    records, kafka = MarkLog(), HeldAcks()
    records.add(40, NOW)
    relay, registry = relay_over(records, kafka, window_records=30)
    passing = asyncio.create_task(relay.relay_batch())

    await settle()
    # Three batches in flight, not one: the producer is not left idle waiting for acks. The
    # window bounds it: the fourth waits for room.
    assert kafka.sent == [f"e{number}" for number in range(30)]
    assert marked(records) == []

    kafka.ack(range(10, 20))
    await settle()
    assert marked(records) == [], "the second batch's acks came first: it waits for the first"
    assert len(kafka.sent) == 30

    kafka.ack(range(10))
    await settle()
    assert marked(records) == list(range(20)), "both marked, in one update"
    assert records.marks == [list(range(20))]
    assert kafka.sent == [f"e{number}" for number in range(40)], "room made for the fourth"

    kafka.ack(range(20, 40))
    assert await passing == 40
    assert marked(records) == list(range(40))
    assert metric(registry, "crm_outbox_published_records_total") == 40


async def test_a_send_failing_mid_window_marks_only_what_came_before_and_resumes_from_it() -> None:
    records, kafka = MarkLog(), HeldAcks()
    records.add(50, NOW)
    for document in records.documents:
        document["key"] = f"c{document['_id'] % 3}"  # three keys, each in every batch
    relay, registry = relay_over(records, kafka, window_records=50)
    passing = asyncio.create_task(relay._relay_and_report())
    await settle()
    assert len(kafka.sent) == 50

    # Later batches are acknowledged first, then the second fails on its fourth record.
    kafka.ack(range(20, 50))
    kafka.ack(range(10, 20), failed=13)
    await settle()
    assert marked(records) == [], "nothing behind the first batch is marked before it"
    kafka.ack(range(10))
    assert await passing == 0
    assert relay.health().state is RelayState.BROKER_UNAVAILABLE
    # Only the first batch: the ones acknowledged behind the failed record are not marked,
    # or a later record of its key would be marked (and so never resent) before it.
    assert marked(records) == list(range(10))
    assert metric(registry, "crm_outbox_published_records_total") == 10

    # The next pass resumes from the failed batch, in order: nothing lost, nothing reordered.
    kafka.sent.clear()
    passing = asyncio.create_task(relay._relay_and_report())
    await settle()
    kafka.ack(range(10, 50))
    assert await passing == 40
    assert kafka.sent == [f"e{number}" for number in range(10, 50)]
    assert marked(records) == list(range(50))
    assert relay.health().state is RelayState.PUBLISHING
    order = [number for mark in records.marks for number in mark]
    assert order == list(range(50)), "every record marked once, each after every earlier one"


async def test_the_window_is_bounded_in_bytes_as_well() -> None:
    records, kafka = FakeRecords(), HeldAcks()
    records.add(40, NOW)
    for document in records.documents:
        document["value"] = "x" * 1000
    relay, _ = relay_over(records, kafka, window_records=1000, window_bytes=15_000)
    passing = asyncio.create_task(relay.relay_batch())
    await settle()
    # Ten records of about a kilobyte a batch: the second batch fills 15 kB, the third waits.
    assert len(kafka.sent) == 20
    kafka.ack(range(20))
    await settle()
    assert len(kafka.sent) == 40
    kafka.ack(range(20, 40))
    assert await passing == 40

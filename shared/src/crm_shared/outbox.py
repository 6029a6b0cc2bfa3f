"""Transactional outbox: events are stored with the entity write and relayed to Kafka afterwards.

The writer adds an outbox record inside the caller's MongoDB transaction, so an event exists if
and only if its entity change committed. The relay publishes unsent records in insertion order
with the idempotent producer, pipelined (the next batch goes out while earlier ones await their
acks), and marks them sent only once acknowledged, in order: a crash between the two
republishes, which the idempotent consumers absorb (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from aiokafka.errors import KafkaError  # type: ignore[import-untyped,unused-ignore]
from bson import ObjectId
from faststream.exceptions import IncorrectState
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge
from pydantic import BaseModel
from pymongo import ASCENDING
from pymongo.errors import OperationFailure

from crm_shared.contracts.catalog import TopicSpec
from crm_shared.contracts.envelope import AnyEnvelope, EventEnvelope, utc_now
from crm_shared.leases import NamedLease
from crm_shared.mongo import Database, Document, Session
from crm_shared.telemetry import current_trace_context
from crm_shared.worker import STOP_WAIT_SECONDS, BatchWorker, Wakeup, cancel_within

OUTBOX_COLLECTION = "outbox"
SENT_RECORD_RETENTION_SECONDS = 7 * 24 * 3600

logger = logging.getLogger(__name__)

PublishRecord = Callable[[str, bytes, bytes, dict[str, str]], Awaitable[Awaitable[Any]]]
"""Sends one record (topic, key, value, headers); returns an awaitable resolved on broker ack.
The headers carry the trace context to continue (`traceparent`), the event id and the content
type; the relay calls it in record order, and the order of one partition's records must hold."""


def outbox_record(
    *,
    event_id: str,
    tenant_id: str,
    topic: str,
    key: str,
    value: str,
    trace_context: dict[str, str],
    created_at: datetime,
) -> Document:
    """An unsent outbox record as the relay reads it: the serialised event and where it goes."""
    return {
        "_id": ObjectId(),
        "event_id": event_id,
        "tenant_id": tenant_id,
        "topic": topic,
        "key": key,
        "value": value,
        "trace_context": trace_context,
        "created_at": created_at,
        "published": False,
        "sent_at": None,
    }


def envelope_record(
    envelope: EventEnvelope[Any], *, trace_context: dict[str, str], created_at: datetime
) -> Document:
    """The outbox record of an event: on the envelope's topic, keyed by its subject."""
    return outbox_record(
        event_id=str(envelope.id),
        tenant_id=envelope.tenant_id,
        topic=envelope.type,
        key=envelope.subject,
        value=envelope.model_dump_json(),
        trace_context=trace_context,
        created_at=created_at,
    )


class Outbox:
    """Writes events into the service's outbox as part of the caller's transaction."""

    def __init__(self, database: Database, source: str) -> None:
        self.records = database[OUTBOX_COLLECTION]
        self._source = source
        self.committed = Wakeup()

    async def ensure_indexes(self) -> None:
        """Creates the indexes the relay's scan and the retention of sent records need."""
        # Equality on a concrete value (not null, which also matches a missing field and so
        # spans two index intervals) lets the index deliver the records in _id order.
        await self.records.create_index([("published", ASCENDING), ("_id", ASCENDING)])
        await self.records.create_index(
            "sent_at",
            name="sent_record_retention",
            expireAfterSeconds=SENT_RECORD_RETENTION_SECONDS,
            partialFilterExpression={"sent_at": {"$type": "date"}},
        )

    def envelope(
        self, spec: TopicSpec, *, tenant_id: str, subject: str, data: BaseModel
    ) -> EventEnvelope[Any]:
        """A new envelope for `data` on the topic `spec`, stamped with this service as source."""
        if not isinstance(data, spec.payload):
            raise TypeError(
                f"{spec.name} carries {spec.payload.__name__}, not {type(data).__name__}"
            )
        return AnyEnvelope(
            type=spec.name,
            source=self._source,
            tenant_id=tenant_id,
            subject=subject,
            schema_version=spec.schema_version,
            data=data,
        )

    async def stage(
        self, spec: TopicSpec, *, tenant_id: str, subject: str, data: BaseModel, session: Session
    ) -> None:
        """Stores a new event of `spec` in the caller's transaction (envelope plus `add`)."""
        envelope = self.envelope(spec, tenant_id=tenant_id, subject=subject, data=data)
        await self.add(envelope, session=session)

    async def add(self, envelope: EventEnvelope[Any], *, session: Session) -> None:
        """Stores the event in the caller's transaction, with the current trace context."""
        if not session.in_transaction:
            raise RuntimeError("outbox records must be written inside the entity's transaction")
        await self.records.insert_one(
            envelope_record(envelope, trace_context=current_trace_context(), created_at=utc_now()),
            session=session,
        )

    async def add_many(
        self,
        envelopes: list[EventEnvelope[Any]],
        *,
        session: Session,
        trace_contexts: list[dict[str, str]] | None = None,
    ) -> None:
        """Stores several events in the caller's transaction with one write, in order.

        A batch worker acting for several requests passes each event's own trace context, so
        every event continues the trace it belongs to; otherwise all take the current one.
        """
        if not envelopes:
            return
        if not session.in_transaction:
            raise RuntimeError("outbox records must be written inside the entity's transaction")
        if trace_contexts is not None and len(trace_contexts) != len(envelopes):
            raise ValueError("one trace context per envelope")
        carriers = trace_contexts or [current_trace_context()] * len(envelopes)
        now = utc_now()
        await self.records.insert_many(
            [
                envelope_record(envelope, trace_context=carrier, created_at=now)
                for envelope, carrier in zip(envelopes, carriers, strict=True)
            ],
            ordered=True,
            session=session,
        )

    def notify_committed(self) -> None:
        """Tells the relay that new records committed, so it need not wait for its next poll."""
        self.committed.notify()


class RelayState(StrEnum):
    """What the relay is doing, as reported in its log, `/metrics` and `/readyz`."""

    STARTING = "starting"
    PUBLISHING = "publishing"
    IDLE = "idle"
    # Kafka does not take or acknowledge the records: they wait in the outbox.
    BROKER_UNAVAILABLE = "broker_unavailable"
    # The relay cannot read or mark its records (the database is away or refuses it).
    STALLED = "stalled"
    # Another replica of the service holds the relay's lease and publishes; this one waits to
    # take over should that one stop renewing it.
    STANDBY = "standby"


@dataclass(frozen=True)
class RelayHealth:
    """A snapshot of the relay: its state, since when, and its backlog at the last sample."""

    state: RelayState
    state_since: datetime
    pending: int | None
    oldest_pending_seconds: float | None
    sampled_at: datetime | None
    last_error: str | None

    def as_json(self) -> dict[str, Any]:
        """The snapshot as `/readyz` shows it."""
        return {
            "state": self.state.value,
            "state_since": self.state_since.isoformat(),
            "pending": self.pending,
            "oldest_pending_seconds": (
                None
                if self.oldest_pending_seconds is None
                else round(self.oldest_pending_seconds, 1)
            ),
            "sampled_at": None if self.sampled_at is None else self.sampled_at.isoformat(),
            "last_error": self.last_error,
        }


def is_broker_error(error: BaseException) -> bool:
    """Tells whether a publish failed because Kafka did not take the records (as opposed to a
    fault of the relay or its database)."""
    return isinstance(error, KafkaError | TimeoutError | IncorrectState)


# How many batches one pass of the relay reads with a single query: enough that draining a
# backlog reads the pending range of the index rarely, few enough that a pass stays bounded.
BATCHES_PER_PASS = 50

# How much the relay keeps sent and not yet marked (see `_Window`): enough batches that the
# producer always has the next one while earlier ones wait for their acks and marks, few enough
# that a failure drops (and so sends again) a bounded amount. Tuned by measurement
# (docs/performance.md, "The relay, pipelined").
WINDOW_RECORDS = 2000
WINDOW_BYTES = 4 * 1024 * 1024

# The named lease (see `crm_shared.leases`) that one replica of a service relays under.
OUTBOX_RELAY_LEASE = "outbox-relay"

# MongoDB's answers to `watch` on a server that has no change streams (a standalone server:
# 40573 "only supported on replica sets"; 40324 "unrecognized pipeline stage").
CHANGE_STREAMS_UNSUPPORTED = frozenset({40573, 40324})


_tracer = trace.get_tracer(__name__)

_T = TypeVar("_T")

_TraceKey = tuple[str, tuple[tuple[str, str], ...]]


def _trace_key(record: Document) -> _TraceKey:
    carrier = record.get("trace_context") or {}
    return record["topic"], tuple(sorted(carrier.items()))


class _PublishSpans:
    """The PRODUCER spans of a batch: one per topic and writer's trace, in that trace, and its
    context in the headers of the records it covers, so their consumers continue the trace of
    the request (or consumed batch) that wrote them.

    A span per record (start, extract, inject) cost 0.2-0.4 ms here, more than aiokafka's own
    send; records written together (a batch handler's, an import's) share their writer's trace
    and so one span, and FastStream's publish made two spans per record."""

    def __init__(self, batch: list[Document]) -> None:
        keys = [_trace_key(record) for record in batch]
        counts: dict[_TraceKey, int] = {}
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
        self._spans: dict[_TraceKey, tuple[Span, dict[str, str]]] = {}
        for key, count in counts.items():
            topic, carrier = key
            parent = propagate.extract(dict(carrier))
            attributes: dict[str, AttributeValue] = {
                "messaging.system": "kafka",
                "messaging.operation": "publish",
                "messaging.destination.name": topic,
                "messaging.batch.message_count": count,
            }
            span = _tracer.start_span(
                f"{topic} publish", context=parent, kind=SpanKind.PRODUCER, attributes=attributes
            )
            headers: dict[str, str] = {}
            propagate.inject(headers, context=trace.set_span_in_context(span, parent))
            self._spans[key] = (span, headers)
        # The trace headers of each record of the batch, in order: its span's context (and its
        # writer's baggage).
        self.headers = [self._spans[key][1] for key in keys]

    def fail(self, error: BaseException) -> None:
        """Marks every span failed: the batch stays unmarked and is sent again."""
        for span, _ in self._spans.values():
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))

    def end(self) -> None:
        """Ends the spans: a span lasts from the batch's first send to its last ack."""
        for span, _ in self._spans.values():
            span.end()


@dataclass(eq=False)
class _SentBatch:
    """A batch handed to the producer: its records, their size, their acks and their spans."""

    records: list[Document]
    size: int
    acks: asyncio.Future[list[Any]]
    spans: _PublishSpans


def _retrieve(acks: asyncio.Future[list[Any]]) -> None:
    """Reads a dropped batch's outcome, so asyncio does not log it as never retrieved."""
    if not acks.cancelled():
        acks.exception()


class _Window:
    """The batches one pass of the relay sent and has not marked yet, oldest first.

    Sending waits while the window holds `window_records` records or `window_bytes` bytes
    (a batch is always let into an empty window). One update marks at a time, over the longest
    run of acknowledged batches at the front: a batch is never marked before every batch
    sent ahead of it, so after a failure nothing behind the failed record is marked, and the
    next pass sends again from the oldest unmarked record, in insertion order."""

    def __init__(self, relay: OutboxRelay) -> None:
        self._relay = relay
        self._batches: deque[_SentBatch] = deque()
        self._marking: asyncio.Task[int] | None = None
        self._being_marked: list[_SentBatch] = []
        self._records = 0
        self._bytes = 0
        self.published = 0

    def _full(self, incoming: int) -> bool:
        if not self._batches and self._marking is None:
            return False
        relay = self._relay
        return self._records + incoming > relay.window_records or self._bytes >= relay.window_bytes

    async def send(self, batch: list[Document]) -> None:
        """Sends `batch` once the window has room, marking what is acknowledged meanwhile."""
        while self._full(len(batch)):
            await self._advance(wait=True)
        relay = self._relay
        spans = _PublishSpans(batch)
        sending = asyncio.ensure_future(relay._send(batch, spans))
        try:
            acks = await relay._watched(sending, f"{len(batch)} records")
        except BaseException as error:
            if not sending.done():
                sending.cancel()
            spans.fail(error)
            spans.end()
            raise
        size = sum(len(record["key"]) + len(record["value"]) for record in batch)
        self._batches.append(_SentBatch(batch, size, asyncio.gather(*acks), spans))
        self._records += len(batch)
        self._bytes += size
        await self._advance(wait=False)

    async def drain(self) -> int:
        """Waits for every batch's acks and marks them; returns how many the pass marked."""
        while self._batches or self._marking is not None:
            await self._advance(wait=True)
        return self.published

    async def _advance(self, *, wait: bool) -> None:
        """Finishes the mark under way and starts the next over what is acknowledged; with
        `wait`, waits for progress (that mark, or the oldest batch's acks) rather than only
        taking what is done. Raises the first failed ack."""
        if self._marking is not None:
            if not (wait or self._marking.done()):
                return
            await self._finish_marking()
            wait = False
        if not self._batches:
            return
        if wait:
            oldest = self._batches[0]
            with contextlib.suppress(Exception):
                # Its failure is raised below, in order.
                await self._relay._watched(oldest.acks, f"{len(oldest.records)} records")
        acked, failure = self._take_acknowledged()
        if acked:
            self._start_marking(acked)
        if failure is not None:
            raise failure

    def _take_acknowledged(self) -> tuple[list[_SentBatch], BaseException | None]:
        """Takes the acknowledged batches off the front, up to the first one not acknowledged;
        and that one's error if its send failed."""
        acked: list[_SentBatch] = []
        while self._batches and self._batches[0].acks.done():
            acks = self._batches[0].acks
            failure = asyncio.CancelledError() if acks.cancelled() else acks.exception()
            if failure is not None:
                return acked, failure
            batch = self._batches.popleft()
            batch.spans.end()
            acked.append(batch)
        return acked, None

    def _start_marking(self, batches: list[_SentBatch]) -> None:
        records = [record for batch in batches for record in batch.records]
        self._being_marked = batches
        self._marking = asyncio.create_task(self._relay._mark_sent(records))

    async def _finish_marking(self) -> None:
        marking, self._marking = self._marking, None
        batches, self._being_marked = self._being_marked, []
        if marking is None:
            return
        try:
            self.published += await marking
        finally:
            self._records -= sum(len(batch.records) for batch in batches)
            self._bytes -= sum(batch.size for batch in batches)

    async def fail(self, error: BaseException) -> None:
        """After a failure: finishes the mark under way, marks the batches acknowledged at
        the front, and drops the rest unmarked (the next pass sends them again)."""
        try:
            await self._finish_marking()
            acked, _ = self._take_acknowledged()
            if acked:
                self._start_marking(acked)
                await self._finish_marking()
        except Exception as marking_error:
            # The database failed too: those records are sent again, as after a crash.
            logger.debug("outbox relay could not mark acknowledged records: %r", marking_error)
        finally:
            self.abandon(error)

    def abandon(self, error: BaseException | None) -> None:
        """Drops the window at once (a failure, or the relay stopping): its records stay
        unmarked and are sent again by the next pass or start."""
        if self._marking is not None:
            self._marking.cancel()
            self._marking = None
        dropped = error if error is not None else asyncio.CancelledError()
        for batch in self._batches:
            batch.acks.add_done_callback(_retrieve)
            batch.spans.fail(dropped)
            batch.spans.end()
        self._batches.clear()


class OutboxRelay:
    """Publishes unsent outbox records to Kafka in insertion order and marks them sent.

    Pipelined: it sends the next batch while earlier ones wait for their acks, at most
    `window_records` records and `window_bytes` bytes sent and not yet marked, and marks the
    acknowledged batches in bulk. What it guarantees:

    - at least once: a record is marked only after Kafka acknowledged it (idempotent producer,
      acks=all); a crash or a failure in between sends it again, a duplicate the consumers
      drop by its event id;
    - per-key order: records are sent in insertion order through one producer, which keeps
      each partition's order, and marked only as a prefix (never one before an earlier one).
      A failed send stops the pass: the acknowledged prefix is marked, the rest of the window
      dropped, and the next pass resumes from the oldest unmarked record, in order;
    - one relay per service: with a `lease`, only the replica holding it publishes; one that
      loses it sends nothing more and marks what was acknowledged;
    - trace continuity: each record's headers carry a PRODUCER span continuing its writer's
      trace, and its event id.

    It reports its state (logged once per change), its backlog (sampled every
    `backlog_sample_seconds`) and the age of its oldest unpublished record as metrics and as
    `health()`. A send or the oldest batch's acks taking longer than `stall_after_seconds`
    turns the state to `broker_unavailable`; the relay keeps waiting for those same acks rather
    than sending the records again, so a broker that comes back receives each record once. A
    database it cannot read or mark turns it `stalled`.
    """

    def __init__(
        self,
        outbox: Outbox,
        publish: PublishRecord,
        *,
        batch_size: int = 200,
        window_records: int = WINDOW_RECORDS,
        window_bytes: int = WINDOW_BYTES,
        poll_interval_seconds: float = 1.0,
        stall_after_seconds: float = 5.0,
        backlog_sample_seconds: float = 5.0,
        lease: NamedLease | None = None,
        watch_retry_seconds: float | None = 5.0,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._records = outbox.records
        self._committed = outbox.committed
        self._lease = lease
        self._lease_confirmed_at: float | None = None
        self._poll_interval = poll_interval_seconds
        self._watch_retry = watch_retry_seconds
        self._publish = publish
        self._batch_size = batch_size
        self.window_records = window_records
        self.window_bytes = window_bytes
        self._stall_after = stall_after_seconds
        self._sample_every = backlog_sample_seconds
        self._clock = clock
        self._worker = BatchWorker(
            "outbox-relay",
            self._relay_and_report,
            batch_size=batch_size,
            wakeup=outbox.committed,
            poll_interval_seconds=poll_interval_seconds,
        )
        self._sampler: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._watching = False
        self._state = RelayState.STARTING
        self._state_since = clock()
        self._last_error: str | None = None
        self._pending: int | None = None
        self._oldest_created_at: datetime | None = None
        self._sampled_at: datetime | None = None
        # A relay built outside a service (tests, benchmarks) keeps its metrics to itself, so
        # two of them in one process do not collide in the global registry.
        registry = registry if registry is not None else CollectorRegistry()
        self._state_metric = Enum(
            "crm_outbox_relay_state",
            "What the outbox relay is doing",
            states=[state.value for state in RelayState],
            registry=registry,
        )
        self._pending_metric = Gauge(
            "crm_outbox_pending_records",
            "Outbox records not yet published, at the last sample",
            registry=registry,
        )
        self._oldest_metric = Gauge(
            "crm_outbox_oldest_pending_age_seconds",
            "Age of the oldest unpublished outbox record at the last sample (0: none)",
            registry=registry,
        )
        self._oldest_metric.set_function(lambda: self._oldest_pending_seconds() or 0.0)
        self._published_metric = Counter(
            "crm_outbox_published_records",
            "Outbox records published to Kafka and marked sent",
            registry=registry,
        )
        self._state_metric.state(self._state.value)

    @property
    def watching(self) -> bool:
        """Whether a change stream on the outbox wakes the relay (else it only polls)."""
        return self._watching

    @property
    def state(self) -> RelayState:
        """The relay's current state."""
        return self._state

    def health(self) -> RelayHealth:
        """The relay's state and its backlog at the last sample."""
        return RelayHealth(
            state=self._state,
            state_since=self._state_since,
            pending=self._pending,
            oldest_pending_seconds=self._oldest_pending_seconds(),
            sampled_at=self._sampled_at,
            last_error=self._last_error,
        )

    def _oldest_pending_seconds(self) -> float | None:
        if self._oldest_created_at is None:
            return None if self._sampled_at is None else 0.0
        return max(0.0, (self._clock() - self._oldest_created_at).total_seconds())

    def _enter(self, state: RelayState, error: BaseException | None = None) -> None:
        """Moves to `state`; logs only when it differs from the current one."""
        if error is not None:
            self._last_error = f"{type(error).__name__}: {error}"
        if state is self._state:
            return
        previous, since = self._state, self._state_since
        self._state, self._state_since = state, self._clock()
        self._state_metric.state(state.value)
        lasted = (self._state_since - since).total_seconds()
        backlog = "unknown" if self._pending is None else str(self._pending)
        if state in (RelayState.BROKER_UNAVAILABLE, RelayState.STALLED):
            logger.warning(
                "outbox relay %s (was %s for %.0f s; %s records pending): %s; the records "
                "stay in the outbox and are published once it recovers",
                state.value,
                previous.value,
                lasted,
                backlog,
                self._last_error,
            )
        elif previous in (RelayState.BROKER_UNAVAILABLE, RelayState.STALLED):
            logger.warning(
                "outbox relay %s again after %.0f s %s", state.value, lasted, previous.value
            )
        else:
            # Publishing and idle alternate with every burst of traffic: not worth a line each.
            logger.debug("outbox relay %s", state.value)

    async def relay_batch(self) -> int:
        """Publishes the unsent records, oldest first, in batches of `batch_size`, and marks
        each batch sent once Kafka acknowledged it and every batch before it; returns how many
        were marked (at most `batch_size * BATCHES_PER_PASS` in one call).

        One query reads the whole pass as a cursor. A query per batch would read the index's
        pending range again each time: SecantusDB reads the whole range whatever the `limit`,
        which made draining a backlog of 20,000 records spend half its time in those reads.

        Pipelined: the next batch is read and sent while earlier ones wait for their acks, up
        to `window_records` records and `window_bytes` bytes sent and not yet marked (the
        producer keeps each partition's order across batches). Acknowledged batches are marked
        in order, several with one update, so a record is never marked before an earlier one.
        On a failure the pass stops: the acknowledged prefix of the window is marked, the rest
        is dropped unmarked and the next pass resumes from the oldest unmarked record (see
        `_Window`). The pass ends once every batch it sent is acknowledged and marked, so the
        next pass's query finds no record still in flight."""
        window = _Window(self)
        cursor = (
            self._records.find({"published": False})
            .sort("_id", ASCENDING)
            .limit(self._batch_size * BATCHES_PER_PASS)
            .batch_size(self._batch_size)
        )
        try:
            async with cursor:
                reading = asyncio.ensure_future(cursor.to_list(self._batch_size))
                try:
                    while batch := await reading:
                        # The next batch is read while this one is sent: reading was half of
                        # the pass's critical path.
                        reading = asyncio.ensure_future(cursor.to_list(self._batch_size))
                        await window.send(batch)
                        if not await self._holds_lease():
                            # Another replica took the lease over: send nothing more, but
                            # mark what was acknowledged (it would go out again otherwise).
                            break
                finally:
                    # Ended before the cursor closes; its outcome read, so none goes unseen.
                    reading.cancel()
                    await asyncio.gather(reading, return_exceptions=True)
            return await window.drain()
        except asyncio.CancelledError:
            # Stopping at once: acknowledged records left unmarked go out again next start.
            window.abandon(None)
            raise
        except BaseException as error:
            # Kafka or the database failed: what Kafka acknowledged in order is still marked,
            # so it is not sent again; the rest waits for the next pass.
            await window.fail(error)
            raise

    async def _holds_lease(self) -> bool:
        """Claims or renews the relay's lease, at most every quarter of its length (a write per
        batch would cost as much as marking it); False while another replica holds it, or once
        another took it over (this one was too slow to renew it), so two never publish side by
        side."""
        if self._lease is None:
            return True
        now = time.monotonic()
        renew_every = self._lease.lease.total_seconds() / 4
        if self._lease_confirmed_at is not None and now - self._lease_confirmed_at < renew_every:
            return True
        held = await self._lease.claim()
        self._lease_confirmed_at = now if held else None
        return held

    async def _watched(self, work: asyncio.Future[_T], what: str) -> _T:
        """Awaits `work` (sending a batch, or a batch's acks), turning the state to
        `broker_unavailable` while Kafka keeps it longer than `stall_after_seconds`.

        Still the same records in flight: waiting on them, not sending them again, is what
        keeps each record on the topic once when the broker returns. Holding the lease
        meanwhile keeps another replica from sending them as well; if the database is away
        too, the wait goes on all the same."""
        while True:
            done, _ = await asyncio.wait({work}, timeout=self._stall_after)
            if done:
                return work.result()
            with contextlib.suppress(Exception):
                await self._holds_lease()
            self._enter(
                RelayState.BROKER_UNAVAILABLE,
                TimeoutError(f"no ack from Kafka for {what} within {self._stall_after:g} s"),
            )

    async def _mark_sent(self, records: list[Document]) -> int:
        """Marks acknowledged records sent and counts them published."""
        await self._records.update_many(
            {"_id": {"$in": [record["_id"] for record in records]}},
            {"$set": {"published": True, "sent_at": utc_now()}},
        )
        self._published_metric.inc(len(records))
        return len(records)

    async def _send(self, batch: list[Document], spans: _PublishSpans) -> list[Awaitable[Any]]:
        """Hands the batch to the producer in order; returns the futures of its acks."""
        return [
            await self._publish(
                record["topic"],
                record["key"].encode(),
                record["value"].encode(),
                {
                    **trace_headers,
                    "content-type": "application/json",
                    "event-id": record["event_id"],
                },
            )
            for record, trace_headers in zip(batch, spans.headers, strict=True)
        ]

    async def _relay_and_report(self) -> int:
        """One batch for the worker, with its outcome turned into the relay's state."""
        try:
            if not await self._holds_lease():
                self._enter(RelayState.STANDBY)
                # Every record written wakes the relay; standing by, it looks again only at
                # its poll interval rather than claiming the lease once per record.
                await asyncio.sleep(self._poll_interval)
                return 0
            published = await self.relay_batch()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            # Logged once per state change, not once per poll: an outage is one line.
            failed = RelayState.BROKER_UNAVAILABLE if is_broker_error(error) else RelayState.STALLED
            self._enter(failed, error)
            return 0
        self._enter(RelayState.PUBLISHING if published else RelayState.IDLE)
        return published

    async def sample_backlog(self) -> None:
        """Counts the unpublished records and finds the oldest one's age (index-backed)."""
        pending = await self._records.count_documents({"published": False})
        oldest = await self._records.find_one(
            {"published": False}, {"created_at": 1}, sort=[("_id", ASCENDING)]
        )
        created_at = None if oldest is None else oldest.get("created_at")
        if isinstance(created_at, datetime) and created_at.tzinfo is None:
            # A client without tz_aware returns the stored UTC time as a naive datetime.
            created_at = created_at.replace(tzinfo=UTC)
        self._pending = pending
        self._oldest_created_at = created_at if isinstance(created_at, datetime) else None
        self._sampled_at = self._clock()
        self._pending_metric.set(pending)

    async def _sample_forever(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self._sample_every):
                    await self.sample_backlog()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # The relay's own state says when the database is away; the last sample stands.
                logger.debug("outbox backlog sample failed: %r", error)
            await asyncio.sleep(self._sample_every)

    async def _watch_forever(self, retry_seconds: float) -> None:
        """Wakes the relay on every record inserted into the outbox, by any replica: a record
        another replica committed would otherwise wait for this one's next poll. A server
        without change streams (a standalone MongoDB) leaves the relay to its polling."""
        while True:
            try:
                inserts = [{"$match": {"operationType": "insert"}}]
                async with await self._records.watch(inserts) as stream:
                    self._watching = True
                    async for _ in stream:
                        self._committed.notify()
            except asyncio.CancelledError:
                raise
            except OperationFailure as error:
                if error.code in CHANGE_STREAMS_UNSUPPORTED:
                    logger.info("outbox relay polls only: no change streams here (%s)", error)
                    return
                logger.debug("outbox change stream ended: %r", error)
            except Exception as error:
                # The relay's state reports the database being away; the poll still runs.
                logger.debug("outbox change stream ended: %r", error)
            finally:
                self._watching = False
            # A record missed in between is found by the poll.
            await asyncio.sleep(retry_seconds)

    async def run(self) -> None:
        """Relays until cancelled."""
        await self._worker.run()

    def start(self) -> None:
        """Starts relaying, sampling the backlog and (with `watch_retry_seconds`) watching the
        outbox for new records in the background."""
        self._worker.start()
        if self._sampler is None:
            self._sampler = asyncio.create_task(self._sample_forever(), name="outbox-backlog")
        if self._watcher is None and self._watch_retry is not None:
            self._watcher = asyncio.create_task(
                self._watch_forever(self._watch_retry), name="outbox-watch"
            )

    async def stop(self) -> None:
        """Stops relaying at once, even with acks outstanding: records not yet marked sent stay
        in the outbox and the next start publishes them (at least once, never lost)."""
        if self._sampler is not None:
            await cancel_within([self._sampler], STOP_WAIT_SECONDS, "outbox-backlog")
            self._sampler = None
        if self._watcher is not None:
            await cancel_within([self._watcher], STOP_WAIT_SECONDS, "outbox-watch")
            self._watcher = None
        await self._worker.stop()
        self._lease_confirmed_at = None
        if self._lease is not None:
            try:
                # Handing the lease over now spares another replica waiting for it to expire.
                await asyncio.wait_for(self._lease.release(), STOP_WAIT_SECONDS)
            except Exception as error:  # the database may be the reason we stop
                logger.warning("outbox relay lease not released (it will expire): %s", error)

    async def pending(self) -> int:
        """How many records wait to be published."""
        return await self._records.count_documents({"published": False})

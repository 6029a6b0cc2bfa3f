"""Idempotent, at-least-once event consumption in batches, with bounded retries and a
dead-letter topic.

Each subscriber fetches a batch of records (at most `BatchLimits.max_records`) and applies it in
one MongoDB transaction: one query finds the processed-event markers the batch already has, the
markers of the rest are inserted together (their unique `_id` also stops a replica that raced
us), and the handler applies the effects of the events not applied before, in offset order.
Offsets are committed once per batch, only after its transaction committed (FastStream's
`NACK_ON_ERROR` policy; its default commits first). A batch that fails is split so that a
poison event is retried alone and the rest commits without it. A message that cannot be
decoded, or whose handler keeps failing, goes to `<topic>.dlq` with the error and its original
headers, and the partition moves on. Only if the dead-letter publish itself fails is the batch
left uncommitted, to be delivered again: nothing is ever dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, SpanKind
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_shared.contracts.catalog import TopicSpec
from crm_shared.contracts.envelope import AnyEnvelope, EventEnvelope, RawEnvelope, utc_now
from crm_shared.mongo import Database, MongoClient, Session, in_transaction
from crm_shared.telemetry import log_fields

PROCESSED_EVENTS_COLLECTION = "processed_events"
# Longer than any topic's retention, so a redelivery can never outlive its marker.
PROCESSED_MARKER_RETENTION_SECONDS = 30 * 24 * 3600

EventHandler = Callable[[EventEnvelope[Any], Session], Awaitable[None]]
"""Applies one event's effect using `session`, inside the transaction that records it processed."""

BatchHandler = Callable[[Sequence[EventEnvelope[Any]], Session], Awaitable[None]]
"""Applies the effects of a batch of events (each of them new, in offset order within a key)
using `session`, inside the transaction that records them processed. It must leave the same
state as applying them one by one in that order."""

DUPLICATE_KEY = 11000

logger = logging.getLogger(__name__)


def by_tenant(envelopes: Sequence[EventEnvelope[Any]]) -> dict[str, list[EventEnvelope[Any]]]:
    """A batch's events grouped by tenant, each group in the batch's order: a batch handler
    applies each tenant's part within that tenant's scope."""
    grouped: dict[str, list[EventEnvelope[Any]]] = {}
    for envelope in envelopes:
        grouped.setdefault(envelope.tenant_id, []).append(envelope)
    return grouped


class UndecodableEventError(ValueError):
    """The message is not a valid event of its topic, or a handler found it unusable; retrying
    cannot help, so it is dead-lettered without further attempts."""


class _MarkersRacedError(Exception):
    """Another consumer inserted a marker of the batch after we looked: look again."""


class Outcome(StrEnum):
    """What became of one delivered message."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class BatchLimits:
    """How many records a subscriber applies in one transaction, and how long a fetch waits.

    A fetch returns what the client has buffered (up to `max_records`) as soon as it has any,
    so an idle topic's event is applied at once and a backlog in batches; `timeout_ms` is how
    long a fetch waits when nothing is buffered. `max_records` also bounds the memory and the
    transaction of one batch."""

    max_records: int = 500
    timeout_ms: int = 100


@dataclass(frozen=True)
class DeliveredRecord:
    """The parts of a consumed Kafka record the consumer needs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]


# Each topic's envelope with its payload's model, built once (pydantic's generic lookup is not
# free at thousands of events a second).
_TYPED_ENVELOPES: dict[str, type[EventEnvelope[Any]]] = {}


def _typed_envelope(spec: TopicSpec) -> type[EventEnvelope[Any]]:
    model = _TYPED_ENVELOPES.get(spec.name)
    if model is None:
        # A payload model known only at run time, which a static checker cannot follow.
        model = _TYPED_ENVELOPES[spec.name] = EventEnvelope[spec.payload]  # type: ignore[name-defined]
    return model


def decode_event(spec: TopicSpec, value: bytes) -> EventEnvelope[Any]:
    """Parses and validates a message of `spec`'s topic into its typed envelope.

    A valid event of the topic is parsed in one pass into its typed envelope (a third of the
    cost of parsing the envelope, then its payload, then rebuilding it); anything else is
    parsed again step by step, so the error says what is wrong: another topic's event, a newer
    schema, or which field of the payload."""
    try:
        typed = _typed_envelope(spec).model_validate_json(value)
    except ValidationError:
        typed = None
    if (
        typed is not None
        and typed.type == spec.name
        and typed.schema_version <= spec.schema_version
    ):
        return typed
    try:
        raw = RawEnvelope.model_validate_json(value)
        if raw.type != spec.name:
            raise UndecodableEventError(f"event type {raw.type!r} on topic {spec.name!r}")
        if raw.schema_version > spec.schema_version:
            raise UndecodableEventError(
                f"schema version {raw.schema_version} is newer than {spec.schema_version}"
            )
        payload = spec.payload.model_validate(raw.data)
    except ValidationError as error:
        raise UndecodableEventError(str(error)) from error
    return AnyEnvelope(**raw.model_dump(exclude={"data"}), data=payload)


@dataclass(frozen=True)
class _Delivery:
    record: DeliveredRecord
    envelope: EventEnvelope[Any]


@dataclass
class _Progress:
    """Which event a per-event handler was applying when its batch failed (None: unknown)."""

    index: int | None = None


_Apply = Callable[[Sequence[_Delivery], Session, _Progress], Awaitable[None]]

_tracer = trace.get_tracer(__name__)


def _trace_context(delivery: _Delivery) -> Context:
    """The trace the event was published in (its W3C headers), to continue in its handling."""
    return propagate.extract(delivery.record.headers)


def _trace_links(deliveries: Sequence[_Delivery]) -> list[Link]:
    """One link to each distinct trace context the batch's events were published in.

    Records written together (a relay batch, a batch handler's output, an import) carry the
    same trace headers: their context is extracted once (the propagator's parse was the batch
    span's main cost an event) and linked once, so the span's link limit (128 by default)
    is spent on distinct traces, not on copies of the first one. The key is the headers the
    propagator reads (its `fields`), not all of them: each record has its own `event-id`."""
    fields = sorted(propagate.get_global_textmap().fields)
    extracted: dict[tuple[str | None, ...], SpanContext] = {}
    linked: dict[tuple[int, int], Link] = {}  # by (trace id, span id)
    for delivery in deliveries:
        headers = tuple(map(delivery.record.headers.get, fields))
        context = extracted.get(headers)
        if context is None:
            context = trace.get_current_span(_trace_context(delivery)).get_span_context()
            extracted[headers] = context
        if context.is_valid and (context.trace_id, context.span_id) not in linked:
            linked[context.trace_id, context.span_id] = Link(context)
    return list(linked.values())


@contextmanager
def _handling_span(topic: str, deliveries: Sequence[_Delivery]) -> Iterator[None]:
    """A CONSUMER span around a batch's transaction: inside the trace of the event that was
    published when the batch holds one event, else linked to each event's trace, as
    OpenTelemetry's messaging conventions have it. FastStream's own span of a batch delivery
    starts a new trace, so without this a request's trace would stop at the bus."""
    attributes: dict[str, AttributeValue] = {
        "messaging.system": "kafka",
        "messaging.batch.message_count": len(deliveries),
    }
    if len(deliveries) == 1:
        parent, links = _trace_context(deliveries[0]), None
    else:
        parent, links = None, _trace_links(deliveries)
    with _tracer.start_as_current_span(
        f"{topic} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes=attributes,
    ):
        yield


@dataclass(frozen=True)
class _Subscription:
    spec: TopicSpec
    name: str  # the declared group name, also the prefix of its processed-event markers
    apply: _Apply
    max_records: int


def _per_event(handler: EventHandler) -> _Apply:
    """Runs a per-event handler on each event of a batch in turn, noting which one it is on;
    in a batch of several, each event's writes (and what it stages) continue its own trace."""

    async def apply(deliveries: Sequence[_Delivery], session: Session, progress: _Progress) -> None:
        for index, delivery in enumerate(deliveries):
            progress.index = index
            envelope = delivery.envelope
            with log_fields(tenant_id=envelope.tenant_id, event_id=str(envelope.id)):
                if len(deliveries) == 1:
                    await handler(envelope, session)
                    continue
                with _tracer.start_as_current_span(
                    f"{envelope.type} handle",
                    context=_trace_context(delivery),
                    kind=SpanKind.CONSUMER,
                ):
                    await handler(envelope, session)
        progress.index = None

    return apply


def _batched(handler: BatchHandler) -> _Apply:
    async def apply(deliveries: Sequence[_Delivery], session: Session, progress: _Progress) -> None:
        progress.index = None
        await handler([delivery.envelope for delivery in deliveries], session)

    return apply


def _is_duplicate_key(error: Exception) -> bool:
    if isinstance(error, DuplicateKeyError):
        return True
    if isinstance(error, BulkWriteError):
        return any(e.get("code") == DUPLICATE_KEY for e in error.details.get("writeErrors", []))
    return False


async def _left_undecoded(message: Any) -> None:
    """FastStream's decoding of a delivery: none. The subscriber reads the records from
    `raw_message` and validates each itself (`decode_event`); FastStream's own JSON parse of
    every record of a batch, thrown away unread, was a third of the subscriber's time
    (profiled on benchmark 1)."""
    return None


def _delivered(record: Any, headers: dict[str, str] | None = None) -> DeliveredRecord:
    """The record's parts; `headers` are its headers FastStream already decoded, if given."""
    return DeliveredRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value or b"",
        headers=(
            headers
            if headers is not None
            else {name: value.decode() for name, value in record.headers}
        ),
    )


def _deliveries(message: KafkaMessage) -> list[DeliveredRecord]:
    """A delivery's records, with the headers FastStream's batch parser decoded already (one
    dict a record, in the records' order): decoding them again was per-record work for nothing."""
    raw = message.raw_message
    if not isinstance(raw, tuple):
        return [_delivered(raw)]
    decoded = message.batch_headers
    if len(decoded) != len(raw):
        return [_delivered(record) for record in raw]
    return [_delivered(record, headers) for record, headers in zip(raw, decoded, strict=True)]


class IdempotentConsumer:
    """Registers `on_<topic>` subscribers that apply each event's effect exactly once."""

    def __init__(
        self,
        *,
        client: MongoClient,
        database: Database,
        broker: KafkaBroker,
        group_id: str,
        max_attempts: int = 3,
        retry_backoff_seconds: float = 0.2,
        batch: BatchLimits | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._client = client
        self.after_commit: list[Callable[[], None]] = []
        self._processed = database[PROCESSED_EVENTS_COLLECTION]
        self._broker = broker
        self.group_id = group_id
        # (topic, consumer group) of every subscription, in the order they were declared.
        self.groups: list[tuple[str, str]] = []
        # The dead-letter topics of the subscribed topics, each once.
        self.dead_letter_topics: list[str] = []
        self._max_attempts = max(1, max_attempts)
        self._backoff = retry_backoff_seconds
        self.batch = batch or BatchLimits()
        self._outcomes = Counter(
            "crm_consumed_events",
            "Events consumed, by topic and outcome",
            ["topic", "outcome"],
            registry=registry,
        )

    async def ensure_indexes(self) -> None:
        """Expires processed-event markers once no redelivery can still arrive."""
        await self._processed.create_index(
            "processed_at", expireAfterSeconds=PROCESSED_MARKER_RETENTION_SECONDS
        )

    def group_for(self, name: str) -> str:
        """The consumer group of the handler declared as `name`.

        Each handler has its own group: handlers of one service then never rebalance each other
        (one group spanning several topics would stop every handler whenever any joins), and
        each keeps its own committed position. The name is declared with the handler, never
        taken from a function's name: renaming the group (or the marker prefix, which is the
        same name) would start from the topic's beginning and apply every retained event again.
        """
        return f"{self.group_id}.{name}"

    def subscribe(
        self,
        router: KafkaRouter,
        spec: TopicSpec,
        handler: EventHandler,
        *,
        group: str,
        description: str,
        max_records: int | None = None,
    ) -> None:
        """Subscribes `handler` to `spec`'s topic in the consumer group declared as `group`.

        The handler runs once per event, the events of a fetched batch in turn inside the
        batch's transaction. A handler with an effect outside the database (a mail sent) asks
        for `max_records=1`: a failed batch is applied again, and so would be that effect."""
        self._register(
            router,
            _Subscription(spec, group, _per_event(handler), max_records or self.batch.max_records),
            description,
        )

    def subscribe_batch(
        self,
        router: KafkaRouter,
        spec: TopicSpec,
        handler: BatchHandler,
        *,
        group: str,
        description: str,
    ) -> None:
        """Subscribes a handler that applies a whole batch at once (bulk writes)."""
        self._register(
            router,
            _Subscription(spec, group, _batched(handler), self.batch.max_records),
            description,
        )

    def subscribe_batches(
        self,
        router: KafkaRouter,
        subscriptions: Iterable[tuple[TopicSpec, str, str]],
        handler: BatchHandler,
    ) -> None:
        """Subscribes one batch handler to several topics, each `(topic, group, description)`
        in its own declared consumer group."""
        for spec, group, description in subscriptions:
            self.subscribe_batch(router, spec, handler, group=group, description=description)

    def _register(self, router: KafkaRouter, subscription: _Subscription, description: str) -> None:
        async def consume(message: KafkaMessage) -> None:
            await self.process_batch(subscription, _deliveries(message))

        name = subscription.name
        consume.__name__ = consume.__qualname__ = name
        group = self.group_for(name)
        self.groups.append((subscription.spec.name, group))
        if subscription.spec.dead_letter_topic not in self.dead_letter_topics:
            self.dead_letter_topics.append(subscription.spec.dead_letter_topic)
        router.subscriber(
            subscription.spec.name,
            batch=True,
            max_records=subscription.max_records,
            batch_timeout_ms=self.batch.timeout_ms,
            group_id=group,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_left_undecoded,
            auto_offset_reset="earliest",
            title=f"{name}:{group}",
            description=description,
        )(consume)

    async def process_batch(
        self, subscription: _Subscription, records: Sequence[DeliveredRecord]
    ) -> list[Outcome]:
        """Applies a fetched batch: each event once; undecodable and failing ones dead-lettered.

        Returns each record's outcome, in the records' order."""
        outcomes: dict[int, Outcome] = {}
        deliveries: list[_Delivery] = []
        for position, record in enumerate(records):
            try:
                deliveries.append(_Delivery(record, decode_event(subscription.spec, record.value)))
            except UndecodableEventError as error:
                outcomes[position] = await self._dead_letter(
                    subscription, record, error, attempts=0
                )
        applied = await self._apply_in_parts(subscription, deliveries)
        positions = {id(record): position for position, record in enumerate(records)}
        for delivery, outcome in applied:
            outcomes[positions[id(delivery.record)]] = outcome
        return [outcomes[position] for position in range(len(records))]

    async def _apply_in_parts(
        self, subscription: _Subscription, deliveries: Sequence[_Delivery]
    ) -> list[tuple[_Delivery, Outcome]]:
        """Applies `deliveries` in one transaction; if that fails, isolates the event that
        failed (or, not knowing which, each half in turn), so the rest still commits. The parts
        are applied in offset order, so the events of one key keep their order."""
        if not deliveries:
            return []
        progress = _Progress()
        try:
            return await self._apply_batch(subscription, deliveries, progress)
        except Exception as error:
            failed_at, failure = progress.index, error
        if failed_at is None and len(deliveries) > 1:
            middle = len(deliveries) // 2
            return [
                *await self._apply_in_parts(subscription, deliveries[:middle]),
                *await self._apply_in_parts(subscription, deliveries[middle:]),
            ]
        index = failed_at or 0
        before = await self._apply_in_parts(subscription, deliveries[:index])
        alone = await self._retry_alone(subscription, deliveries[index], failure)
        after = await self._apply_in_parts(subscription, deliveries[index + 1 :])
        return [*before, (deliveries[index], alone), *after]

    async def _retry_alone(
        self, subscription: _Subscription, delivery: _Delivery, failure: Exception
    ) -> Outcome:
        """Retries an event whose first attempt failed with backoff, then dead-letters it.

        One the handler found unusable (e.g. it names a record that does not exist) is
        dead-lettered at once: retrying cannot help."""
        attempts = 1
        while attempts < self._max_attempts and not isinstance(failure, UndecodableEventError):
            logger.warning(
                "handler %s failed on event %s (attempt %d/%d): %r",
                subscription.name,
                delivery.envelope.id,
                attempts,
                self._max_attempts,
                failure,
            )
            await asyncio.sleep(self._backoff * 2 ** (attempts - 1))
            attempts += 1
            try:
                [(_, outcome)] = await self._apply_batch(subscription, [delivery], _Progress())
            except Exception as error:
                failure = error
            else:
                return outcome
        return await self._dead_letter(subscription, delivery.record, failure, attempts=attempts)

    async def _apply_batch(
        self, subscription: _Subscription, deliveries: Sequence[_Delivery], progress: _Progress
    ) -> list[tuple[_Delivery, Outcome]]:
        """One transaction: the batch's new events applied and their markers inserted."""
        ids = [f"{subscription.name}:{delivery.envelope.id}" for delivery in deliveries]

        async def apply(session: Session) -> list[_Delivery]:
            progress.index = None
            seen = {
                document["_id"]
                async for document in self._processed.find(
                    {"_id": {"$in": ids}}, {"_id": 1}, session=session
                )
            }
            fresh: list[_Delivery] = []
            markers: list[dict[str, Any]] = []
            now = utc_now()
            for marker_id, delivery in zip(ids, deliveries, strict=True):
                if marker_id in seen:
                    continue  # applied before, or earlier in this very batch
                seen.add(marker_id)
                fresh.append(delivery)
                markers.append(
                    {
                        "_id": marker_id,
                        "tenant_id": delivery.envelope.tenant_id,
                        "topic": delivery.envelope.type,
                        "processed_at": now,
                    }
                )
            if not fresh:
                return fresh
            # The markers go first: one that another replica committed since we looked fails
            # the insert before any handler ran.
            try:
                await self._processed.insert_many(markers, session=session)
            except (DuplicateKeyError, BulkWriteError) as error:
                if _is_duplicate_key(error):
                    raise _MarkersRacedError from None
                raise
            await subscription.apply(fresh, session, progress)
            return fresh

        tenants = {delivery.envelope.tenant_id for delivery in deliveries}
        for _ in range(self._max_attempts):
            try:
                with (
                    _handling_span(subscription.spec.name, deliveries),
                    log_fields(
                        topic=subscription.spec.name,
                        tenant_id=next(iter(tenants)) if len(tenants) == 1 else None,
                        event_id=str(deliveries[0].envelope.id) if len(deliveries) == 1 else None,
                    ),
                ):
                    fresh = await in_transaction(self._client, apply)
            except _MarkersRacedError:
                # A duplicate key from the handler's own writes is a failure like any other;
                # one on a marker means another consumer applied an event first: look again.
                continue
            break
        else:
            raise RuntimeError("processed-event markers kept racing another consumer")
        if fresh:
            # What the handlers staged (outbox records, due work) is committed: wake its workers.
            for notify in self.after_commit:
                notify()
        applied = {id(delivery) for delivery in fresh}
        results = [
            (delivery, Outcome.PROCESSED if id(delivery) in applied else Outcome.DUPLICATE)
            for delivery in deliveries
        ]
        # Counted once per batch and outcome: the labelled child's lookup was per event.
        if fresh:
            self._outcomes.labels(subscription.spec.name, Outcome.PROCESSED.value).inc(len(fresh))
        if len(fresh) < len(deliveries):
            self._outcomes.labels(subscription.spec.name, Outcome.DUPLICATE.value).inc(
                len(deliveries) - len(fresh)
            )
        return results

    async def _dead_letter(
        self,
        subscription: _Subscription,
        record: DeliveredRecord,
        error: BaseException,
        *,
        attempts: int,
    ) -> Outcome:
        spec = subscription.spec
        headers = {
            **record.headers,
            "x-dlq-error": str(error)[:2000],
            "x-dlq-error-type": type(error).__name__,
            "x-dlq-original-topic": record.topic,
            "x-dlq-original-partition": str(record.partition),
            "x-dlq-original-offset": str(record.offset),
            "x-dlq-consumer-group": self.group_for(subscription.name),
            "x-dlq-attempts": str(attempts),
        }
        await self._broker.publish(
            record.value, spec.dead_letter_topic, key=record.key, headers=headers
        )
        logger.error(
            "dead-lettered %s[%d]@%d to %s after %d attempts: %r",
            record.topic,
            record.partition,
            record.offset,
            spec.dead_letter_topic,
            attempts,
            error,
        )
        self._outcomes.labels(spec.name, Outcome.DEAD_LETTERED.value).inc()
        return Outcome.DEAD_LETTERED

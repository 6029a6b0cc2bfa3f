"""Idempotent, at-least-once event consumption with bounded retries and a dead-letter topic.

Offsets are committed only after an event was processed (FastStream's `NACK_ON_ERROR` policy;
its default commits first). The handler's writes and a processed-event marker commit in one
MongoDB transaction, and the marker's unique `_id` makes a redelivered event a no-op. A message
that cannot be decoded, or whose handler keeps failing, goes to `<topic>.dlq` with the error and
its original headers, and the partition moves on. Only if the dead-letter publish itself fails is
the message left uncommitted, to be delivered again: nothing is ever dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CollectorRegistry, Counter
from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError

from crm_shared.contracts.catalog import TopicSpec
from crm_shared.contracts.envelope import AnyEnvelope, EventEnvelope, RawEnvelope, utc_now
from crm_shared.mongo import Database, MongoClient, Session, in_transaction

PROCESSED_EVENTS_COLLECTION = "processed_events"
# Longer than any topic's retention, so a redelivery can never outlive its marker.
PROCESSED_MARKER_RETENTION_SECONDS = 30 * 24 * 3600

EventHandler = Callable[[EventEnvelope[Any], Session], Awaitable[None]]
"""Applies one event's effect using `session`, inside the transaction that records it processed."""

logger = logging.getLogger(__name__)


class UndecodableEventError(ValueError):
    """The message is not a valid event of its topic, or a handler found it unusable; retrying
    cannot help, so it is dead-lettered without further attempts."""


class _AlreadyAppliedError(Exception):
    """The event's processed marker exists: its effect was applied before."""


class Outcome(StrEnum):
    """What became of one delivered message."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class DeliveredRecord:
    """The parts of a consumed Kafka record the consumer needs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]


def decode_event(spec: TopicSpec, value: bytes) -> EventEnvelope[Any]:
    """Parses and validates a message of `spec`'s topic into its typed envelope."""
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
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._client = client
        self.after_commit: list[Callable[[], None]] = []
        self._processed = database[PROCESSED_EVENTS_COLLECTION]
        self._broker = broker
        self.group_id = group_id
        self._max_attempts = max(1, max_attempts)
        self._backoff = retry_backoff_seconds
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

    def group_for(self, handler: EventHandler) -> str:
        """The consumer group of one handler.

        Each handler has its own group: handlers of one service then never rebalance each other
        (one group spanning several topics would stop every handler whenever any joins), and
        each keeps its own committed position.
        """
        return f"{self.group_id}.{handler.__name__}"

    def subscribe(
        self, router: KafkaRouter, spec: TopicSpec, handler: EventHandler, *, description: str
    ) -> None:
        """Subscribes `handler` to `spec`'s topic in the handler's consumer group."""

        async def consume(message: KafkaMessage) -> None:
            record = message.raw_message
            if isinstance(record, tuple):  # pragma: no cover - batch subscribers are not used
                raise TypeError("batch delivery is not supported")
            await self.process(
                spec,
                handler,
                DeliveredRecord(
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=message.body,
                    headers=dict(message.headers),
                ),
            )

        consume.__name__ = handler.__name__
        consume.__qualname__ = handler.__name__
        group = self.group_for(handler)
        router.subscriber(
            spec.name,
            group_id=group,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            auto_offset_reset="earliest",
            title=f"{handler.__name__}:{group}",
            description=description,
        )(consume)

    async def process(
        self, spec: TopicSpec, handler: EventHandler, record: DeliveredRecord
    ) -> Outcome:
        """Applies one delivered record: once, with bounded retries, dead-lettering on failure."""
        try:
            envelope = decode_event(spec, record.value)
        except UndecodableEventError as error:
            return await self._dead_letter(spec, handler, record, error, attempts=0)

        for attempt in range(1, self._max_attempts + 1):
            try:
                applied = await self._apply_once(handler, envelope)
            except UndecodableEventError as error:
                # The handler found the event unusable (e.g. it names a record that does not
                # exist): retrying cannot help, so it is dead-lettered at once.
                return await self._dead_letter(spec, handler, record, error, attempts=attempt)
            except Exception as error:
                if attempt == self._max_attempts:
                    return await self._dead_letter(spec, handler, record, error, attempts=attempt)
                logger.warning(
                    "handler %s failed on event %s (attempt %d/%d): %r",
                    handler.__name__,
                    envelope.id,
                    attempt,
                    self._max_attempts,
                    error,
                )
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            else:
                outcome = Outcome.PROCESSED if applied else Outcome.DUPLICATE
                self._outcomes.labels(spec.name, outcome.value).inc()
                return outcome
        raise AssertionError("unreachable: the last attempt returns or dead-letters")

    async def _apply_once(self, handler: EventHandler, envelope: EventEnvelope[Any]) -> bool:
        marker_id = f"{handler.__name__}:{envelope.id}"

        async def apply(session: Session) -> bool:
            # The marker goes first: for an event applied before, its unique _id fails the
            # insert, which aborts the transaction before the handler runs (one round trip
            # fewer than looking the marker up).
            try:
                await self._processed.insert_one(
                    {
                        "_id": marker_id,
                        "tenant_id": envelope.tenant_id,
                        "topic": envelope.type,
                        "processed_at": utc_now(),
                    },
                    session=session,
                )
            except DuplicateKeyError:
                raise _AlreadyAppliedError from None
            await handler(envelope, session)
            return True

        try:
            applied = await in_transaction(self._client, apply)
        except _AlreadyAppliedError:
            # Applied before (a redelivery), or by another replica that committed first. A
            # duplicate key from the handler's own writes is a failure like any other.
            return False
        if applied:
            # What the handler staged (outbox records, due work) is committed: wake its workers.
            for notify in self.after_commit:
                notify()
        return applied

    async def _dead_letter(
        self,
        spec: TopicSpec,
        handler: EventHandler,
        record: DeliveredRecord,
        error: BaseException,
        *,
        attempts: int,
    ) -> Outcome:
        headers = {
            **record.headers,
            "x-dlq-error": str(error)[:2000],
            "x-dlq-error-type": type(error).__name__,
            "x-dlq-original-topic": record.topic,
            "x-dlq-original-partition": str(record.partition),
            "x-dlq-original-offset": str(record.offset),
            "x-dlq-consumer-group": self.group_for(handler),
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

"""Transactional outbox: events are stored with the entity write and relayed to Kafka afterwards.

The writer adds an outbox record inside the caller's MongoDB transaction, so an event exists if
and only if its entity change committed. The relay publishes unsent records in insertion order
with the idempotent producer and only then marks them sent: a crash between the two republishes,
which the idempotent consumers absorb (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId
from opentelemetry import context as otel_context
from opentelemetry import propagate
from pydantic import BaseModel
from pymongo import ASCENDING

from crm_shared.contracts.catalog import TopicSpec
from crm_shared.contracts.envelope import AnyEnvelope, EventEnvelope, utc_now
from crm_shared.mongo import Database, Document, Session
from crm_shared.telemetry import current_trace_context
from crm_shared.worker import BatchWorker, Wakeup

OUTBOX_COLLECTION = "outbox"
SENT_RECORD_RETENTION_SECONDS = 7 * 24 * 3600

logger = logging.getLogger(__name__)

PublishRecord = Callable[[str, bytes, bytes, dict[str, str]], Awaitable[Awaitable[Any]]]
"""Sends one record (topic, key, value, headers); returns an awaitable resolved on broker ack."""


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
        carrier = current_trace_context()
        await self.records.insert_one(
            {
                "_id": ObjectId(),
                "event_id": str(envelope.id),
                "tenant_id": envelope.tenant_id,
                "topic": envelope.type,
                "key": envelope.subject,
                "value": envelope.model_dump_json(),
                "trace_context": carrier,
                "created_at": utc_now(),
                "published": False,
                "sent_at": None,
            },
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
                {
                    "_id": ObjectId(),
                    "event_id": str(envelope.id),
                    "tenant_id": envelope.tenant_id,
                    "topic": envelope.type,
                    "key": envelope.subject,
                    "value": envelope.model_dump_json(),
                    "trace_context": carrier,
                    "created_at": now,
                    "published": False,
                    "sent_at": None,
                }
                for envelope, carrier in zip(envelopes, carriers, strict=True)
            ],
            ordered=True,
            session=session,
        )

    def notify_committed(self) -> None:
        """Tells the relay that new records committed, so it need not wait for its next poll."""
        self.committed.notify()


class OutboxRelay:
    """Publishes unsent outbox records to Kafka in insertion order and marks them sent."""

    def __init__(
        self,
        outbox: Outbox,
        publish: PublishRecord,
        *,
        batch_size: int = 200,
        poll_interval_seconds: float = 1.0,
    ) -> None:
        self._records = outbox.records
        self._publish = publish
        self._batch_size = batch_size
        self._worker = BatchWorker(
            "outbox-relay",
            self.relay_batch,
            batch_size=batch_size,
            wakeup=outbox.committed,
            poll_interval_seconds=poll_interval_seconds,
        )

    async def relay_batch(self) -> int:
        """Publishes one batch of unsent records; returns how many were published."""
        batch = await (
            self._records.find({"published": False}).sort("_id", ASCENDING).limit(self._batch_size)
        ).to_list()
        if not batch:
            return 0
        # Send the whole batch before awaiting acks: the producer keeps per-partition order.
        acks = [await self._send(record) for record in batch]
        await asyncio.gather(*acks)
        await self._records.update_many(
            {"_id": {"$in": [record["_id"] for record in batch]}},
            {"$set": {"published": True, "sent_at": utc_now()}},
        )
        return len(batch)

    async def _send(self, record: Document) -> Awaitable[Any]:
        # Publish inside the trace of the request that wrote the event, so the trace is unbroken.
        token = otel_context.attach(propagate.extract(record.get("trace_context") or {}))
        try:
            return await self._publish(
                record["topic"],
                record["key"].encode(),
                record["value"].encode(),
                {"content-type": "application/json", "event-id": record["event_id"]},
            )
        finally:
            otel_context.detach(token)

    async def run(self) -> None:
        """Relays until cancelled."""
        await self._worker.run()

    def start(self) -> None:
        """Starts relaying in the background."""
        self._worker.start()

    async def stop(self) -> None:
        """Stops relaying; an interrupted batch is republished by the next relay."""
        await self._worker.stop()

    async def pending(self) -> int:
        """How many records wait to be published."""
        return await self._records.count_documents({"published": False})

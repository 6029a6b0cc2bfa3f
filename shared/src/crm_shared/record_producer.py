"""The outbox relay's own Kafka producer: aiokafka's idempotent producer, without FastStream.

FastStream's `broker.publish` runs its publisher middlewares on every record (two OpenTelemetry
spans and Prometheus timings each); a profile of the relay put that at about 1 ms a record,
ten times aiokafka's own `send` (docs/performance.md, "The relay without FastStream's publish").
The relay already sends the writer's trace context and the event id in the headers and counts
what it published, so it needs none of it: it sends through a producer of its own, configured
as the broker's (idempotent, acks=all).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped,unused-ignore]
from aiokafka.errors import ProducerClosed  # type: ignore[import-untyped,unused-ignore]


class RecordProducer:
    """Sends outbox records to Kafka: idempotent (one copy per record across the producer's own
    retries), acks=all, records of one key kept in order on their partition."""

    def __init__(
        self, bootstrap_servers: str, *, client_id: str, retry_backoff_ms: int = 100
    ) -> None:
        self._options: dict[str, Any] = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            "enable_idempotence": True,
            "acks": "all",
            "retry_backoff_ms": retry_backoff_ms,
        }
        self._producer: Any = None

    async def start(self) -> None:
        """Connects (aiokafka wants a running loop to be created in, hence not earlier)."""
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(**self._options)
        try:
            await producer.start()
        except Exception:
            # A failed start (no broker answered) leaves the client's connections to close;
            # the caller may start again later with a new producer.
            with contextlib.suppress(Exception):
                await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        """Sends what it holds and disconnects; with Kafka away that waits for the held records
        to expire, so the caller bounds it (the platform's shutdown grace)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str]
    ) -> Awaitable[Any]:
        """Hands one record to the producer (in call order per partition) and returns the
        future of its acknowledgement; `ProducerClosed` (a `KafkaError`) when not started."""
        producer = self._producer
        if producer is None:
            raise ProducerClosed()
        ack: asyncio.Future[Any] = await producer.send(
            topic,
            value,
            key=key,
            headers=[(name, text.encode()) for name, text in headers.items()],
        )
        return ack

"""The batched consumer's own cost per event, without the database: what `process_batch` spends in
Python on a batch (decoding, the batch span and its links, the markers, the outcomes counted).

Batches of 300 `candidate.created` (the benchmark's realistic profiles) and of 300
`message.opened`, with the headers the relay sends (one `traceparent` per 50 records, an
`event-id` each) and an SDK tracer provider sampling every trace, as in the services. The
processed-markers collection and the transaction are fakes that return at once, so the figure
is CPU time (best of `--rounds`), steadier than wall time on a shared machine:

    PYTHONPATH=. uv run --frozen python -m bench.consumer_client_cost [--rounds 100]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import uvloop
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import CollectorRegistry

from bench.consumer import envelopes
from crm_shared import (
    MESSAGE_OPENED,
    CandidateCreated,
    EventEnvelope,
    IdempotentConsumer,
    MessageOpened,
    Session,
    TopicSpec,
)
from crm_shared import consumer as consumer_module
from crm_shared.consumer import DeliveredRecord, _batched, _Subscription

BATCH = 300


class _NoMarkers:
    """A processed-markers collection that holds nothing and accepts everything at once."""

    def find(self, *args: Any, **kwargs: Any) -> _NoMarkers:
        return self

    def __aiter__(self) -> _NoMarkers:
        return self

    async def __anext__(self) -> Any:
        raise StopAsyncIteration

    async def insert_many(self, *args: Any, **kwargs: Any) -> None:
        return None


async def _no_transaction(client: Any, apply: Callable[[Any], Awaitable[Any]]) -> Any:
    return await apply(None)


def _opens() -> list[bytes]:
    return [
        EventEnvelope[Any](
            type=MESSAGE_OPENED.name,
            source="bench",
            tenant_id="bench",
            subject=f"c{number % 75}",
            schema_version=1,
            data=MessageOpened(message_id=f"m{number}", candidate_id=f"c{number % 75}"),
        )
        .model_dump_json()
        .encode()
        for number in range(BATCH)
    ]


async def measure(rounds: int) -> None:
    trace.set_tracer_provider(TracerProvider(sampler=ParentBased(TraceIdRatioBased(1.0))))
    # The transaction replaced where the consumer looks it up: no database is timed.
    vars(consumer_module)["in_transaction"] = _no_transaction
    created = TopicSpec(
        name="bench.created",
        payload=CandidateCreated,
        schema_version=1,
        key="candidate id",
        partitions=6,
        description="benchmark topic",
    )
    batches = {
        "candidate.created": (created, [value for _, value in envelopes(created, BATCH, "b")]),
        "message.opened": (MESSAGE_OPENED, _opens()),
    }
    database: Any = {consumer_module.PROCESSED_EVENTS_COLLECTION: _NoMarkers()}
    consumer = IdempotentConsumer(
        client=None,  # type: ignore[arg-type]
        database=database,
        broker=KafkaBroker("127.0.0.1:9"),
        group_id="bench",
        registry=CollectorRegistry(),
    )

    async def handler(envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        return None

    for name, (spec, values) in batches.items():
        subscription = _Subscription(spec, "on_bench", _batched(handler), 500)
        records = [
            DeliveredRecord(
                spec.name,
                number % 6,
                number,
                f"c{number}".encode(),
                value,
                {
                    "traceparent": f"00-{1:032x}-{number // 50 + 1:016x}-01",
                    "content-type": "application/json",
                    "event-id": f"e{number}",
                },
            )
            for number, value in enumerate(values)
        ]
        best = float("inf")
        for _ in range(rounds):
            started = time.process_time()
            await consumer.process_batch(subscription, records)
            best = min(best, time.process_time() - started)
        print(
            f"{name}: {best / BATCH * 1e6:.1f} us of CPU an event "
            f"({best * 1e3:.1f} ms a batch of {BATCH})",
            flush=True,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    uvloop.run(measure(parser.parse_args().rounds))

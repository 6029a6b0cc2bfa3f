"""2. The outbox relay against a bare producer sending the same records to the same broker.

The relay runs as in a service: its own idempotent producer (`RecordProducer`), the service's
tracer provider (every span recorded, as with the default sampler), and records that carry
their writer's trace context. Twice: records written in transactions of 500 that each continue
one trace (a batch handler's, an import's), and records that each continue a request's trace
of their own (a span per record, the relay's dearest case)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from opentelemetry import trace
from pymongo import AsyncMongoClient

from bench.consumer import create_topic, envelopes, produce
from bench.report import Figure
from crm_shared import (
    Outbox,
    OutboxRelay,
    RecordProducer,
    ServiceSettings,
    Session,
    current_trace_context,
    in_transaction,
    outbox_record,
    utc_now,
)
from crm_shared.telemetry import configure_tracing

CHUNK = 500


async def run(bootstrap: str, mongodb_uri: str, count: int) -> list[Figure]:
    spec = await create_topic(bootstrap, f"bench{uuid.uuid4().hex[:8]}.relayed")
    pairs = envelopes(spec, count, "bench")
    tracer = trace.get_tracer(__name__, tracer_provider=configure_tracing(bench_settings()))

    bare = await produce(bootstrap, spec.name, pairs)

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    rates: dict[bool, float] = {}
    for trace_per_record in (False, True):
        outbox = Outbox(client[f"bench_outbox_{uuid.uuid4().hex[:8]}"], source="bench")
        await outbox.ensure_indexes()
        for start in range(0, count, CHUNK):
            chunk = pairs[start : start + CHUNK]
            with tracer.start_as_current_span("bench write"):
                shared = current_trace_context()
            carriers = []
            for _ in chunk:
                if trace_per_record:
                    with tracer.start_as_current_span("bench request"):
                        carriers.append(current_trace_context())
                else:
                    carriers.append(shared)

            async def write(
                session: Session,
                chunk: list[tuple[bytes, bytes]] = chunk,
                carriers: list[dict[str, str]] = carriers,
                outbox: Outbox = outbox,
            ) -> None:
                await outbox.records.insert_many(
                    [
                        outbox_record(
                            event_id=str(uuid.uuid4()),
                            tenant_id="bench",
                            topic=spec.name,
                            key=key.decode(),
                            value=value.decode(),
                            trace_context=carrier,
                            created_at=utc_now(),
                        )
                        for (key, value), carrier in zip(chunk, carriers, strict=True)
                    ],
                    session=session,
                )

            await in_transaction(client, write)
        producer = RecordProducer(bootstrap, client_id="bench")
        await producer.start()
        relay = OutboxRelay(outbox, producer.send, batch_size=200)
        started = time.perf_counter()
        while await relay.relay_batch():
            pass
        rates[trace_per_record] = count / (time.perf_counter() - started)
        await producer.stop()
    await client.close()
    note = (
        "ours: one query per pass of up to 50 batches of 200, read a batch ahead; batches sent "
        "while earlier ones await acks (up to 2,000 records in flight; own idempotent producer, "
        "a PRODUCER span per writer's trace), acknowledged ones marked in order, in bulk"
    )
    return [
        Figure(
            "outbox relay",
            f"{count:,} events relayed",
            rates[False],
            "events/s",
            baseline=count / bare,
            baseline_name="bare idempotent producer",
            note=f"{note}; written {CHUNK} a transaction, one trace each",
        ),
        Figure(
            "outbox relay",
            f"{count:,} events, each in its own trace",
            rates[True],
            "events/s",
            baseline=count / bare,
            baseline_name="bare idempotent producer",
            note="as above, every record its own request's trace: a span per record",
        ),
    ]


def bench_settings() -> ServiceSettings:
    """A service's telemetry settings: no exporter, every trace sampled (the defaults)."""
    return ServiceSettings(service_name="bench-relay", log_json=False)

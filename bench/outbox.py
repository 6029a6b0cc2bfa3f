"""2. The outbox relay against a bare producer sending the same records to the same broker."""

from __future__ import annotations

import time
import uuid
from typing import Any

from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from bench.consumer import create_topic, envelopes, produce
from bench.report import Figure
from crm_shared import Outbox, OutboxRelay, Session, in_transaction, outbox_record, utc_now


async def run(bootstrap: str, mongodb_uri: str, count: int) -> list[Figure]:
    spec = await create_topic(bootstrap, f"bench{uuid.uuid4().hex[:8]}.relayed")
    pairs = envelopes(spec, count, "bench")

    started = time.perf_counter()
    await produce(bootstrap, spec.name, pairs)
    bare = time.perf_counter() - started

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    outbox = Outbox(client[f"bench_outbox_{uuid.uuid4().hex[:8]}"], source="bench")
    await outbox.ensure_indexes()
    for start in range(0, count, 500):
        chunk = pairs[start : start + 500]

        async def write(session: Session, chunk: list[tuple[bytes, bytes]] = chunk) -> None:
            await outbox.records.insert_many(
                [
                    outbox_record(
                        event_id=str(uuid.uuid4()),
                        tenant_id="bench",
                        topic=spec.name,
                        key=key.decode(),
                        value=value.decode(),
                        trace_context={},
                        created_at=utc_now(),
                    )
                    for key, value in chunk
                ],
                session=session,
            )

        await in_transaction(client, write)
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    await broker.start()

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Any:
        return await broker.publish(value, topic, key=key, headers=headers, no_confirm=True)

    relay = OutboxRelay(outbox, publish, batch_size=200)
    started = time.perf_counter()
    while await relay.relay_batch():
        pass
    ours = time.perf_counter() - started
    await broker.stop()
    await client.close()
    return [
        Figure(
            "outbox relay",
            f"{count:,} events relayed",
            count / ours,
            "events/s",
            baseline=count / bare,
            baseline_name="bare idempotent producer",
            note=(
                "ours: one query per pass of up to 50 batches of 200; "
                "publish a batch, await its acks, mark it sent"
            ),
        )
    ]

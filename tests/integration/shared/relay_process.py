"""Runs an outbox relay as its own process, so a test can kill it with SIGKILL mid-batch.

usage: python relay_process.py BOOTSTRAP_SERVERS MONGODB_URI DATABASE BATCH_SIZE
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from faststream.kafka import KafkaBroker

from crm_shared import Outbox, OutboxRelay, create_mongo_client
from crm_shared.settings import ServiceSettings


async def relay_forever(bootstrap: str, mongodb_uri: str, database: str, batch_size: int) -> None:
    settings = ServiceSettings(
        service_name="relay-under-test", mongodb_uri=mongodb_uri, kafka_bootstrap_servers=bootstrap
    )
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    await broker.start()

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Any:
        return await broker.publish(value, topic, key=key, headers=headers, no_confirm=True)

    outbox = Outbox(create_mongo_client(settings)[database], source="relay-under-test")
    relay = OutboxRelay(outbox, publish, batch_size=batch_size, poll_interval_seconds=0.05)
    print("relay started", flush=True)
    await relay.run()


if __name__ == "__main__":
    bootstrap_servers, uri, database_name, batch = sys.argv[1:5]
    asyncio.run(relay_forever(bootstrap_servers, uri, database_name, int(batch)))

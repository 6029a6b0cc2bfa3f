"""Runs an outbox relay as its own process, so a test can kill it with SIGKILL mid-batch.

usage: python relay_process.py BOOTSTRAP_SERVERS MONGODB_URI DATABASE BATCH_SIZE LEASE_OWNER
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from typing import Any

from faststream.kafka import KafkaBroker

from crm_shared import Outbox, OutboxRelay, create_mongo_client
from crm_shared.leases import NamedLease
from crm_shared.outbox import OUTBOX_RELAY_LEASE
from crm_shared.settings import ServiceSettings

# Short, so that a replica standing by takes over soon after the process is killed.
LEASE = timedelta(seconds=2)


async def relay_forever(
    bootstrap: str, mongodb_uri: str, database: str, batch_size: int, lease_owner: str
) -> None:
    settings = ServiceSettings(
        service_name="relay-under-test", mongodb_uri=mongodb_uri, kafka_bootstrap_servers=bootstrap
    )
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    await broker.start()

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Any:
        return await broker.publish(value, topic, key=key, headers=headers, no_confirm=True)

    outbox_database = create_mongo_client(settings)[database]
    outbox = Outbox(outbox_database, source="relay-under-test")
    lease = NamedLease(outbox_database, OUTBOX_RELAY_LEASE, owner=lease_owner, lease=LEASE)
    relay = OutboxRelay(
        outbox, publish, batch_size=batch_size, poll_interval_seconds=0.05, lease=lease
    )
    print("relay started", flush=True)
    await relay.run()


if __name__ == "__main__":
    bootstrap_servers, uri, database_name, batch, owner = sys.argv[1:6]
    asyncio.run(relay_forever(bootstrap_servers, uri, database_name, int(batch), owner))

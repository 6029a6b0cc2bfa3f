"""An outbox relay process that stops between publishing and marking, to be SIGKILLed there.

usage: python holding_relay.py BOOTSTRAP_SERVERS MONGODB_URI DATABASE BATCH_SIZE HOLD_AFTER

After HOLD_AFTER records were published and acknowledged by the broker, it prints `held` and
never returns from the publish call, so the batch is on the topic but not marked published.
HOLD_AFTER 0 relays without holding.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable
from typing import Any

from faststream.kafka import KafkaBroker

from crm_shared import Outbox, OutboxRelay, create_mongo_client
from crm_shared.settings import ServiceSettings


async def relay_forever(
    bootstrap: str, mongodb_uri: str, database: str, batch_size: int, hold_after: int
) -> None:
    settings = ServiceSettings(
        service_name="relay-under-test", mongodb_uri=mongodb_uri, kafka_bootstrap_servers=bootstrap
    )
    broker = KafkaBroker(bootstrap, enable_idempotence=True, acks="all")
    await broker.start()
    acks: list[Awaitable[Any]] = []

    async def publish(topic: str, key: bytes, value: bytes, headers: dict[str, str]) -> Any:
        ack = await broker.publish(value, topic, key=key, headers=headers, no_confirm=True)
        acks.append(ack)
        if len(acks) == hold_after:
            await asyncio.gather(*acks)
            print("held", flush=True)
            await asyncio.Event().wait()
        return ack

    outbox = Outbox(create_mongo_client(settings)[database], source="relay-under-test")
    relay = OutboxRelay(outbox, publish, batch_size=batch_size, poll_interval_seconds=0.05)
    print("relay started", flush=True)
    await relay.run()


if __name__ == "__main__":
    bootstrap_servers, uri, database_name, batch, hold = sys.argv[1:6]
    asyncio.run(relay_forever(bootstrap_servers, uri, database_name, int(batch), int(hold)))

"""Fault: the outbox relay's process SIGKILLed between publishing a batch and marking it, twice,
while a writer keeps adding events.

A writer commits events to an outbox in transactions of 25, one every 100 ms, from before the
first relay starts until after the last one did. A relay
process (`holding_relay.py`) publishes them and, after a given number of records, stops inside
a publish call once the broker acknowledged everything so far: its current batch is on the topic
and not marked published. It is SIGKILLed there, twice, and a relay is started again each time.
Afterwards, counted exactly:

- every event written is on the topic (none lost);
- the events on the topic but not marked published at a kill (`republished_k`) are published
  again by the next relay, and nothing else is: the topic holds exactly
  `written + sum(republished_k)` messages. That is at-least-once, with the duplicates bounded
  by what was in flight at each kill.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pymongo import AsyncMongoClient

from crm_shared import CandidateCreated, Outbox, Session, TopicSpec, in_transaction
from faults.support import read_to_end, wait_until
from helpers import unique

pytestmark = pytest.mark.faults

HOLDING_RELAY = Path(__file__).with_name("holding_relay.py")
PER_TRANSACTION = 25
# The writer stops by itself here if the test never tells it to.
MAX_EVENTS = 5000
BATCH_SIZE = 50
# Records the first and the second relay publish before they hold (mid-batch, not on a batch's
# edge, so part of a batch is on the topic when the process dies).
HOLD_AFTER = (230, 180)


@pytest.fixture
async def topic(kafka_bootstrap_servers: str) -> AsyncIterator[TopicSpec]:
    """A topic of the test's own, which no service consumes."""
    spec = TopicSpec(
        name=f"{unique('relayfault').replace('_', '')}.created",
        payload=CandidateCreated,
        schema_version=1,
        key="candidate id",
        partitions=3,
        description="relay fault test topic",
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(spec.name, spec.partitions, 1)])
        yield spec
    finally:
        await admin.close()


async def write_steadily(
    client: AsyncMongoClient[dict[str, Any]],
    outbox: Outbox,
    spec: TopicSpec,
    written: list[str],
    stop: asyncio.Event,
) -> None:
    """Commits PER_TRANSACTION events every 100 ms until `stop` is set."""
    for start in range(0, MAX_EVENTS, PER_TRANSACTION):
        if stop.is_set():
            return
        envelopes = [
            outbox.envelope(
                spec,
                tenant_id="relay-fault",
                subject=f"cand-{n}",
                data=CandidateCreated(
                    candidate_id=f"cand-{n}",
                    first_name="Test",
                    last_name=str(n),
                    emails=[f"cand-{n}@example.org"],
                    source="sourced",
                ),
            )
            for n in range(start, start + PER_TRANSACTION)
        ]

        async def add_all(session: Session, batch: list[Any] = envelopes) -> None:
            for envelope in batch:
                await outbox.add(envelope, session=session)

        await in_transaction(client, add_all)
        written.extend(str(envelope.id) for envelope in envelopes)
        await asyncio.sleep(0.1)


async def start_relay(
    bootstrap: str, mongodb_uri: str, database: str, hold_after: int, log: Path
) -> asyncio.subprocess.Process:
    with log.open("ab") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            str(HOLDING_RELAY),
            bootstrap,
            mongodb_uri,
            database,
            str(BATCH_SIZE),
            str(hold_after),
            stdout=output,
            stderr=output,
        )


async def test_relay_killed_between_publish_and_mark_loses_nothing_and_repeats_only_that(
    tmp_path: Path, kafka_bootstrap_servers: str, mongodb_uri: str, topic: TopicSpec
) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    database_name = unique("relay_fault")
    outbox = Outbox(client[database_name], source="test")
    await outbox.ensure_indexes()
    records = client[database_name]["outbox"]
    written: list[str] = []
    log = tmp_path / "relay.log"
    stop_writing = asyncio.Event()
    writing = asyncio.create_task(write_steadily(client, outbox, topic, written, stop_writing))
    republished: list[int] = []
    written_at_last_kill = 0
    relay: asyncio.subprocess.Process | None = None
    began = time.monotonic()
    try:
        for hold_after in HOLD_AFTER:
            relay = await start_relay(
                kafka_bootstrap_servers, mongodb_uri, database_name, hold_after, log
            )

            def held(n: int = len(republished)) -> bool:
                return log.read_text().count("held") > n

            await wait_until(
                held,
                60,
                "the relay to hold between publish and mark",
                lambda: log.read_text()[-2000:],
            )
            relay.send_signal(signal.SIGKILL)
            await asyncio.wait_for(relay.wait(), 10)
            on_topic = {
                headers["event-id"]
                for _, headers in await read_to_end(
                    kafka_bootstrap_servers, topic.name, lambda _e, _h: True
                )
            }
            marked = {
                record["event_id"]
                for record in await records.find({"published": True}, {"event_id": 1}).to_list()
            }
            # The kill came between publishing and marking: published records not marked.
            assert marked <= on_topic
            assert on_topic - marked
            republished.append(len(on_topic - marked))
            written_at_last_kill = len(written)
            print(
                f"kill at {time.monotonic() - began:.1f}s: written {len(written)}, "
                f"on topic {len(on_topic)}, marked {len(marked)}"
            )
        relay = await start_relay(kafka_bootstrap_servers, mongodb_uri, database_name, 0, log)
        await asyncio.sleep(3)
        stop_writing.set()
        await asyncio.wait_for(writing, 30)
        # The writer went on through both kills.
        assert MAX_EVENTS > len(written) > written_at_last_kill

        async def drained() -> bool:
            return await records.count_documents({"published": False}) == 0

        await wait_until(drained, 60, "the relay to drain the outbox")
        delivered = Counter(
            headers["event-id"]
            for _, headers in await read_to_end(
                kafka_bootstrap_servers, topic.name, lambda _e, _h: True
            )
        )
        assert set(delivered) == set(written)
        assert sum(delivered.values()) == len(written) + sum(republished)
        print(
            f"written {len(written)}, distinct on topic {len(delivered)}, messages "
            f"{sum(delivered.values())}, republished after kills {republished}, "
            f"{time.monotonic() - began:.1f}s"
        )
    finally:
        writing.cancel()
        if relay is not None and relay.returncode is None:
            relay.kill()
            await relay.wait()
        await client.close()

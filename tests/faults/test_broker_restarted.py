"""Fault: the Kafka broker stopped for 15 s and started again while candidates are created.

The test runs a broker of its own (the session's is shared) and the candidates service as a
uvicorn process. Two clients create 300 distinct people through POST /candidates at a steady
pace; after 60 answers the broker is stopped, kept down 15 s, and started again on the same
log directory. A create commits the record and its `candidate.created` to the outbox in one
transaction and does not wait for Kafka, so it keeps answering 201 while the broker is down;
the relay publishes the backlog when the broker is back. Afterwards, exactly: every create
answered 201, once, and `candidate.created` names exactly the candidates answered 201 (counted
distinct: the relay publishes at least once).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crm_devstack.infra import KafkaBroker, free_ports
from crm_shared import ensure_topics
from faults.support import (
    CreateLoad,
    ServiceProcess,
    candidate_ids_on_topic,
    service_env,
    wait_until,
)
from helpers import unique

pytestmark = pytest.mark.faults

PEOPLE = 300
STOP_AFTER = 60
OUTAGE_SECONDS = 15


@pytest.fixture
async def own_broker(tmp_path: Path) -> AsyncIterator[KafkaBroker]:
    """A broker of the test's own, with every catalog topic."""
    port, controller_port = free_ports(2)
    broker = await KafkaBroker(tmp_path / "kafka", port, controller_port).start_async()
    try:
        await ensure_topics(broker.bootstrap_servers)
        yield broker
    finally:
        broker.stop()


async def test_broker_down_for_15s_loses_no_event_of_an_answered_create(
    tmp_path: Path, mongodb_uri: str, own_broker: KafkaBroker
) -> None:
    bootstrap = own_broker.bootstrap_servers
    tenant, run = unique("tenant"), unique("run")
    candidates = ServiceProcess(
        "candidates",
        tmp_path,
        service_env(
            "candidates", kafka=bootstrap, mongodb_uri=mongodb_uri, database=unique("candidates")
        ),
    )
    began = time.monotonic()
    try:
        await candidates.start()
        load = CreateLoad(candidates.url, tenant, run, PEOPLE, workers=2, pace_seconds=0.1)
        creating = asyncio.create_task(load.run_all())
        await wait_until(
            lambda: load.answered >= STOP_AFTER or creating.done(),
            90,
            f"{STOP_AFTER} people answered",
            load.explain,
        )
        await asyncio.to_thread(own_broker.stop)
        at_stop = load.answered
        stopped_at = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        during_outage = load.answered - at_stop
        print(
            f"broker stopped at {at_stop} answered ({stopped_at - began:.1f}s), "
            f"{during_outage} answered while it was down"
        )
        await own_broker.start_async()
        print(f"broker back after {time.monotonic() - stopped_at:.1f}s down")
        await asyncio.wait_for(creating, 120)
        # Creates went on while the broker was down, and none failed.
        assert during_outage > 0
        assert dict(load.outcomes) == {"201": PEOPLE}
        answered_201 = set(load.created.values())
        assert len(answered_201) == PEOPLE

        async def all_published() -> bool:
            return len(await candidate_ids_on_topic(bootstrap, tenant)) >= PEOPLE

        await wait_until(all_published, 90, "every candidate.created on the topic")
        on_topic = await candidate_ids_on_topic(bootstrap, tenant)
        assert set(on_topic) == answered_201
        print(
            f"answers {dict(load.outcomes)}, candidate.created distinct {len(on_topic)} "
            f"total {sum(on_topic.values())}, {time.monotonic() - began:.1f}s"
        )
    finally:
        candidates.stop()

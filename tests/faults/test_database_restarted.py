"""Fault: the database (SecantusDB on disk) SIGKILLed under a stream of creates, and restarted.

The candidates service runs as a uvicorn process on a SecantusDB of the test's own that keeps its
data on disk, with a 3 s MongoDB operation timeout. Two clients create 300 distinct people
through POST /candidates at a steady pace, each request sent once. After 60 answers the
database process is SIGKILLed, left down 8 s, and started again on the same storage. Afterwards:

- no acknowledged write is lost: every candidate answered 201 is in the database after the
  restart, and its `candidate.created` is on Kafka (counted distinct: at-least-once relay);
- every request answered, within the operation timeout and a margin (no hang), and each one
  that failed failed with a 503 or 504 problem+json, never a 500 or a dropped connection;
- the service recovered without a restart of its own: creates after the outage answer 201.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from crm_candidates.config import CandidatesSettings
from crm_shared import create_mongo_client
from faults.conftest import MongoFactory
from faults.support import (
    CreateLoad,
    ServiceProcess,
    candidate_ids_on_topic,
    service_env,
    sigkill,
    wait_until,
)
from helpers import unique

pytestmark = pytest.mark.faults

PEOPLE = 300
KILL_AFTER = 60
OUTAGE_SECONDS = 8
OPERATION_TIMEOUT_SECONDS = 3.0


async def test_database_killed_under_creates_loses_no_acknowledged_write(
    tmp_path: Path, kafka_bootstrap_servers: str, own_mongodb: MongoFactory
) -> None:
    mongodb = await own_mongodb(on_disk=True)
    database_name = unique("candidates")
    tenant, run = unique("tenant"), unique("run")
    candidates = ServiceProcess(
        "candidates",
        tmp_path,
        service_env(
            "candidates",
            kafka=kafka_bootstrap_servers,
            mongodb_uri=mongodb.mongodb_uri,
            database=database_name,
            MONGODB_OPERATION_TIMEOUT_SECONDS=str(OPERATION_TIMEOUT_SECONDS),
            READINESS_TIMEOUT_SECONDS="1",
        ),
    )
    began = time.monotonic()
    try:
        await candidates.start()
        load = CreateLoad(
            candidates.url, tenant, run, PEOPLE, workers=2, retry=False, pace_seconds=0.05
        )
        creating = asyncio.create_task(load.run_all())
        await wait_until(
            lambda: load.answered >= KILL_AFTER or creating.done(),
            90,
            f"{KILL_AFTER} people answered",
            load.explain,
        )
        sigkill(mongodb.process)
        at_kill = load.answered
        await asyncio.sleep(OUTAGE_SECONDS)
        failed_during_outage = len(load.failures)
        await mongodb.start_async()
        restarted_at = load.answered + len(load.failures)
        await asyncio.wait_for(creating, 120)
        print(
            f"killed at {at_kill} answered ({time.monotonic() - began:.1f}s); "
            f"answers {dict(load.outcomes)}; slowest {load.slowest_by_outcome}"
        )

        # Every request answered: none outlived the outage by more than a bounded wait (a
        # create's transaction is retried by the driver while the database is away, each
        # statement giving up after the operation timeout); each failure a 503 or 504 problem.
        assert load.slowest < OUTAGE_SECONDS + 30
        assert set(load.outcomes) <= {"201", "503", "504"}, load.failures[:5]
        assert failed_during_outage > 0
        for _, status, body in load.failures:
            problem = json.loads(body) if body.endswith("}") else {}
            assert problem.get("status", status) == status, body
            assert "urn:recruitcrm:problem:" in body, body
        # Creates after the restart succeed again.
        assert load.answered + len(load.failures) == PEOPLE
        assert load.answered > restarted_at - failed_during_outage

        mongo = create_mongo_client(CandidatesSettings(mongodb_uri=mongodb.mongodb_uri))
        try:
            stored = {
                record["_id"]
                for record in await mongo[database_name]["candidates"]
                .find({"tenant_id": tenant}, {"_id": 1})
                .to_list()
            }
        finally:
            await mongo.close()
        acknowledged = set(load.created.values())
        # No acknowledged write lost; a 503 or 504 may have committed (both say so).
        assert acknowledged <= stored
        assert len(stored) - len(acknowledged) <= load.outcomes["503"] + load.outcomes["504"]

        async def all_published() -> bool:
            on_topic = await candidate_ids_on_topic(kafka_bootstrap_servers, tenant)
            return acknowledged <= set(on_topic)

        await wait_until(all_published, 90, "candidate.created of every acknowledged create")
        on_topic = await candidate_ids_on_topic(kafka_bootstrap_servers, tenant)
        assert set(on_topic) == stored
        print(
            f"acknowledged {len(acknowledged)}, stored {len(stored)}, failed "
            f"{len(load.failures)}, candidate.created distinct {len(on_topic)} total "
            f"{sum(on_topic.values())}, {time.monotonic() - began:.1f}s"
        )
    finally:
        candidates.stop()

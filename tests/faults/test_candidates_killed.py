"""Fault: the candidates service SIGKILLed twice, and restarted, under a stream of creates.

300 distinct people are created through POST /candidates by four clients; a request that gets
no answer (the process died under it, or is not up yet) is sent again, which is safe because a
create is an identity upsert: the person already on file is answered 200 with their record.
The process is SIGKILLed after 100 and after 200 people were answered, and started again at
once. Afterwards:

- exactly the 300 people exist, one record each, and every answer named that record;
- `candidate.created` on Kafka names exactly those 300 candidates. A candidate's event may be
  on the topic more than once (the outbox relay publishes at least once: a process killed
  between publishing and marking publishes again after the restart), so candidate ids are
  counted distinct.
"""

from __future__ import annotations

import asyncio
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
    wait_until,
)
from helpers import unique

pytestmark = pytest.mark.faults

PEOPLE = 300
KILL_AFTER = (100, 200)


async def test_candidates_killed_under_creates_keeps_one_record_and_one_event_per_person(
    tmp_path: Path, kafka_bootstrap_servers: str, own_mongodb: MongoFactory
) -> None:
    mongodb = await own_mongodb()
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
        ),
    )
    settings = CandidatesSettings(mongodb_uri=mongodb.mongodb_uri)
    mongo = create_mongo_client(settings)
    try:
        began = time.monotonic()
        await candidates.start()
        print(f"started in {time.monotonic() - began:.1f}s")
        load = CreateLoad(candidates.url, tenant, run, PEOPLE, workers=4, request_timeout=15)
        creating = asyncio.create_task(load.run_all())
        for kill_after in KILL_AFTER:

            def reached(n: int = kill_after) -> bool:
                return load.answered >= n or creating.done()

            await wait_until(
                reached,
                90,
                f"{kill_after} people answered",
                load.explain,
            )
            candidates.kill()
            answered_at_kill = load.answered
            print(f"killed at {answered_at_kill} answered, {time.monotonic() - began:.1f}s")
            # The kill came mid-stream, not after it.
            assert answered_at_kill < PEOPLE
            await candidates.start()
        await asyncio.wait_for(creating, 120)
        print(f"all answered at {time.monotonic() - began:.1f}s")

        records = (
            await mongo[database_name]["candidates"]
            .find({"tenant_id": tenant}, {"_id": 1, "emails": 1})
            .to_list()
        )
        # Exactly the distinct people, one record each, and every answer named it.
        assert len(load.created) == PEOPLE
        assert len(records) == PEOPLE
        assert {r["_id"] for r in records} == set(load.created.values())
        assert len({r["emails"][0] for r in records}) == PEOPLE

        async def all_published() -> bool:
            return len(await candidate_ids_on_topic(kafka_bootstrap_servers, tenant)) >= PEOPLE

        await wait_until(all_published, 60, "every candidate.created on the topic")
        on_topic = await candidate_ids_on_topic(kafka_bootstrap_servers, tenant)
        assert set(on_topic) == set(load.created.values())
        print(
            f"people {PEOPLE}, records {len(records)}, answers {dict(load.outcomes)}, "
            f"answered 201 first {sum(load.first_answer_created.values())}, "
            f"candidate.created distinct {len(on_topic)} total {sum(on_topic.values())}"
        )
    finally:
        candidates.stop()
        await mongo.close()

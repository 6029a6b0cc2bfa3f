"""The platform's shared metrics against a real database: every command a service's client
sends is timed by name and outcome, and a sampler keeps sampling through failures."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from pymongo.errors import OperationFailure

from crm_shared import ServiceSettings, create_mongo_client
from crm_shared.metrics import DatabaseCommandMetrics, PeriodicSampler
from helpers import unique

pytestmark = pytest.mark.integration


def commands(registry: CollectorRegistry, command: str, outcome: str) -> float:
    return (
        registry.get_sample_value(
            "crm_mongodb_command_duration_seconds_count", {"command": command, "outcome": outcome}
        )
        or 0
    )


async def test_each_command_is_timed_by_name_and_outcome(mongodb_uri: str) -> None:
    registry = CollectorRegistry()
    settings = ServiceSettings(service_name="metrics-test", mongodb_uri=mongodb_uri)
    mongo = create_mongo_client(settings, listeners=[DatabaseCommandMetrics(registry)])
    try:
        collection = mongo[unique("metrics")]["things"]
        await collection.insert_one({"_id": "a"})
        await collection.insert_one({"_id": "b"})
        assert await collection.find_one({"_id": "a"}) == {"_id": "a"}
        with pytest.raises(OperationFailure):
            await mongo.admin.command("noSuchCommandAnywhere")
    finally:
        await mongo.close()
    assert commands(registry, "insert", "succeeded") == 2
    assert commands(registry, "find", "succeeded") == 1
    assert commands(registry, "noSuchCommandAnywhere", "failed") == 1
    total = registry.get_sample_value(
        "crm_mongodb_command_duration_seconds_sum", {"command": "insert", "outcome": "succeeded"}
    )
    assert total is not None
    assert total > 0


async def test_a_sampler_keeps_sampling_after_a_failure_and_stops_when_told() -> None:
    calls: list[int] = []

    async def sample() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("the database is away")

    sampler = PeriodicSampler("test-sampler", sample, every_seconds=0.01)
    sampler.start()
    for _ in range(200):
        if len(calls) >= 3:
            break
        await asyncio.sleep(0.01)
    await sampler.stop()
    assert len(calls) >= 3
    stopped_at = len(calls)
    await asyncio.sleep(0.05)
    assert len(calls) == stopped_at

"""How the consumer benchmarks time our side (bench/consumer.py, `BatchTiming`): from the measured
group's assignment (the first record available to it) to its last record applied, per group, so
that several groups on one topic are neither counted together nor timed by the first to finish."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, cast

import pytest

from bench.consumer import BatchTiming, GroupJoins
from crm_shared import IdempotentConsumer

pytestmark = pytest.mark.unit


@dataclass
class _Spec:
    name: str


@dataclass
class _Subscription:
    spec: _Spec
    name: str


class _Consumer:
    """The part of `IdempotentConsumer` the timing uses; each batch takes `delays[group]`."""

    def __init__(self, delays: dict[str, float]) -> None:
        self.groups = [("opened", f"svc.{name}") for name in delays] + [("sent", "svc.other")]
        self.delays = delays

    def group_for(self, name: str) -> str:
        return f"svc.{name}"

    async def process_batch(self, subscription: _Subscription, records: list[Any]) -> list[Any]:
        await asyncio.sleep(self.delays.get(subscription.name, 0))
        return []


async def test_the_measured_group_is_timed_from_its_assignment_to_its_last_record() -> None:
    consumer = _Consumer({"scores": 0.05, "reports": 0.2})
    joins = GroupJoins()
    timing = BatchTiming(cast(IdempotentConsumer, consumer), "opened", joins, ["scores"])
    joins.at = {"svc.scores": time.perf_counter(), "svc.reports": time.perf_counter()}
    waiting = asyncio.create_task(timing.rate(4))

    await asyncio.sleep(0.1)  # the records are there; the first fetch takes this long
    batches = [
        consumer.process_batch(_Subscription(_Spec("opened"), "scores"), [1, 2, 3, 4]),
        consumer.process_batch(_Subscription(_Spec("opened"), "reports"), [1, 2]),
        consumer.process_batch(_Subscription(_Spec("sent"), "other"), [1, 2, 3, 4, 5]),
    ]
    await asyncio.gather(*batches)
    assert not waiting.done()  # the reports' group has 2 of 4: the benchmark still waits
    await consumer.process_batch(_Subscription(_Spec("opened"), "reports"), [3, 4])
    rate = await waiting

    # 4 records over the fetch's 0.1 s and the scores' batch of 0.05 s: not the batch alone,
    # nor until the reports' group's last batch (0.5 s).
    assert 4 / 0.35 < rate < 4 / 0.15
    assert timing.records == {"svc.scores": 4, "svc.reports": 4}
    assert "scores (timed)" in timing.describe()

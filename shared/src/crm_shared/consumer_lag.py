"""Consumer lag and dead-letter depth, sampled from Kafka for `/metrics` and `/readyz`.

A group's lag on a partition is the partition's end offset minus the group's committed offset
(from the start of the partition when the group has committed nothing yet: it reads from the
earliest). A dead-letter topic's depth is how many records it retains (end minus beginning
offsets). Both are asked of the broker, as an operator's tool would, so they count what the
group has committed, not what one process holds in memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped,unused-ignore]
from prometheus_client import CollectorRegistry, Gauge

from crm_shared.contracts.envelope import utc_now
from crm_shared.worker import STOP_WAIT_SECONDS, cancel_within

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LagSample:
    """One look at the groups' lag and the dead-letter topics' depth."""

    # (group, topic, partition) -> records the group has yet to commit past.
    lag: dict[tuple[str, str, int], int] = field(default_factory=dict)
    # dead-letter topic -> records it retains.
    dead_letters: dict[str, int] = field(default_factory=dict)
    sampled_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        """What `/readyz` shows: the lag per group (summed over partitions) and each non-empty
        dead-letter topic's depth."""
        per_group: dict[str, int] = {}
        for (group, _, _), behind in self.lag.items():
            per_group[group] = per_group.get(group, 0) + behind
        return {
            "lag": per_group,
            "dead_letters": {topic: depth for topic, depth in self.dead_letters.items() if depth},
            "sampled_at": None if self.sampled_at is None else self.sampled_at.isoformat(),
        }


def lag_of(committed: int | None, beginning: int, end: int) -> int:
    """Records of a partition a group has not yet committed past."""
    start = beginning if committed is None or committed < 0 else max(committed, beginning)
    return max(0, end - start)


class ConsumerLagSampler:
    """Every `every_seconds`, asks Kafka for each (topic, group) pair's lag per partition and
    for each dead-letter topic's depth, and keeps the last answer as metrics and `latest`."""

    def __init__(
        self,
        bootstrap_servers: str,
        groups: Callable[[], Sequence[tuple[str, str]]],
        dead_letter_topics: Callable[[], Sequence[str]],
        *,
        every_seconds: float,
        client_id: str,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._groups = groups
        self._dead_letter_topics = dead_letter_topics
        self._every = every_seconds
        self._client_id = client_id
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.latest = LagSample()
        registry = registry if registry is not None else CollectorRegistry()
        self._lag_metric = Gauge(
            "crm_consumer_lag_records",
            "Records of a partition the consumer group has not committed past, at the last sample",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self._dead_letter_metric = Gauge(
            "crm_dead_letter_records",
            "Records a dead-letter topic retains, at the last sample",
            ["topic"],
            registry=registry,
        )

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self._bootstrap, client_id=f"{self._client_id}-lag"
            )
            offsets = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id=f"{self._client_id}-lag",
                enable_auto_commit=False,
            )
            await admin.start()
            try:
                await offsets.start()
            except BaseException:
                await admin.close()
                raise
            self._admin, self._offsets = admin, offsets
        return self._admin, self._offsets

    async def _partitions(
        self, admin: AIOKafkaAdminClient, topics: set[str]
    ) -> list[TopicPartition]:
        described = await admin.describe_topics(sorted(topics))
        return [
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            if not topic.get("error_code")
            for partition in topic["partitions"]
        ]

    async def sample(self) -> LagSample:
        """Asks Kafka once; updates the metrics and `latest`."""
        pairs = list(self._groups())
        dead_letter_topics = set(self._dead_letter_topics())
        if not pairs and not dead_letter_topics:
            # A process that subscribes to nothing opens no Kafka clients for it.
            self.latest = LagSample(sampled_at=utc_now())
            return self.latest
        admin, offsets = await self._clients()
        partitions = await self._partitions(
            admin, {topic for topic, _ in pairs} | dead_letter_topics
        )
        beginnings = await offsets.beginning_offsets(partitions)
        ends = await offsets.end_offsets(partitions)
        by_topic: dict[str, list[TopicPartition]] = {}
        for partition in partitions:
            by_topic.setdefault(partition.topic, []).append(partition)
        lag: dict[tuple[str, str, int], int] = {}
        for topic, group in pairs:
            own = by_topic.get(topic, [])
            if not own:
                continue
            committed = await admin.list_consumer_group_offsets(group, partitions=own)
            for partition in own:
                at = committed.get(partition)
                behind = lag_of(
                    None if at is None else at.offset, beginnings[partition], ends[partition]
                )
                lag[(group, topic, partition.partition)] = behind
                self._lag_metric.labels(group, topic, str(partition.partition)).set(behind)
        dead_letters = {
            topic: sum(ends[p] - beginnings[p] for p in by_topic.get(topic, []))
            for topic in sorted(dead_letter_topics)
        }
        for topic, depth in dead_letters.items():
            self._dead_letter_metric.labels(topic).set(depth)
        self.latest = LagSample(lag=lag, dead_letters=dead_letters, sampled_at=utc_now())
        return self.latest

    async def _sample_forever(self) -> None:
        while True:
            try:
                async with asyncio.timeout(max(self._every, 5.0)):
                    await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # Kafka being away is the relay's and readiness's to report; the last sample stands.
                logger.debug("consumer lag sample failed: %r", error)
            await asyncio.sleep(self._every)

    def start(self) -> None:
        """Samples in the background until `stop`."""
        if self._task is None:
            self._task = asyncio.create_task(self._sample_forever(), name="consumer-lag")

    async def stop(self) -> None:
        """Stops sampling and closes its Kafka clients."""
        if self._task is not None:
            await cancel_within([self._task], STOP_WAIT_SECONDS, "consumer-lag")
            self._task = None
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        closing: list[asyncio.Task[Any]] = []
        if admin is not None:
            closing.append(asyncio.create_task(admin.close()))
        if offsets is not None:
            closing.append(asyncio.create_task(offsets.stop()))
        if closing:
            # With Kafka away a close can hang on its requests: it is abandoned after a while.
            await asyncio.wait(closing, timeout=STOP_WAIT_SECONDS)

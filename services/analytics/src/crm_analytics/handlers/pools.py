"""Subscribers that keep pool health: talent pool membership (`pool.stage_changed`,
`pool.stage_renamed`) and ATS application outcomes, each topic in a consumer group of its own
(new groups, so pool health was built from each topic's earliest retained event)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaRouter

from crm_analytics.application.pool_health import PoolHealthFolder
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    POOL_STAGE_CHANGED,
    POOL_STAGE_RENAMED,
    EventEnvelope,
    IdempotentConsumer,
    Session,
    TopicSpec,
)

# (topic, consumer group, description); the group names are deployed state
# (tests/unit/shared/test_consumer_groups.py).
SUBSCRIPTIONS: tuple[tuple[TopicSpec, str, str], ...] = (
    (
        POOL_STAGE_CHANGED,
        "pool_health_pool_stage_changed",
        "A candidate added to, moved in or removed from a talent pool (pool health).",
    ),
    (POOL_STAGE_RENAMED, "pool_health_pool_stage_renamed", "A pool stage renamed (pool health)."),
    (
        ATS_APPLICATION_CREATED,
        "pool_health_ats_application_created",
        "An ATS application, open until decided (silver medallists).",
    ),
    (
        ATS_APPLICATION_STAGE_CHANGED,
        "pool_health_ats_application_stage_changed",
        "An ATS application moved, or reopened (silver medallists).",
    ),
    (
        ATS_APPLICATION_REJECTED,
        "pool_health_ats_application_rejected",
        "An ATS application rejected, and the stage it reached (silver medallists).",
    ),
    (
        ATS_APPLICATION_HIRED,
        "pool_health_ats_application_hired",
        "A hire (silver medallists hired since are no longer available).",
    ),
)


@dataclass(frozen=True)
class PoolHealthSubscribers:
    """One batch subscriber per topic, folding each batch into pool health."""

    folder: PoolHealthFolder

    async def on_batch(self, envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        await self.folder.record_batch(envelopes, session)

    def subscribe(self, consumer: IdempotentConsumer, router: KafkaRouter) -> None:
        """Subscribes every topic, each in its declared consumer group."""
        for spec, group, description in SUBSCRIPTIONS:
            consumer.subscribe_batch(
                router, spec, self.on_batch, group=group, description=description
            )

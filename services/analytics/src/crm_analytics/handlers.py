"""Kafka subscribers of the analytics service: each event updates the tenant's counters once."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.repository import CounterRepository
from crm_shared import CANDIDATE_CREATED, Database, EventEnvelope, IdempotentConsumer, Session


def build_router(consumer: IdempotentConsumer, database: Database) -> KafkaRouter:
    """The analytics service's subscribers, applying each event exactly once via `consumer`."""
    router = KafkaRouter()

    async def on_candidate_created(envelope: EventEnvelope[Any], session: Session) -> None:
        counters = CounterRepository(database, envelope.tenant_id)
        await counters.increment(TenantMetric.CANDIDATES_CREATED, session=session)

    consumer.subscribe(
        router,
        CANDIDATE_CREATED,
        on_candidate_created,
        description="Counts candidates created per tenant.",
    )
    return router

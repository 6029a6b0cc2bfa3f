"""Kafka subscribers of the analytics service: each event updates the tenant's counters once,
and a candidate's activities update their engagement score, published as `engagement.scored`."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.handlers.activity import ActivitySubscribers
from crm_shared import IdempotentConsumer


def build_router(consumer: IdempotentConsumer, recorder: ActivityRecorder) -> KafkaRouter:
    """The analytics service's subscribers, applying each event exactly once via `consumer`."""
    router = KafkaRouter()
    ActivitySubscribers(recorder).subscribe(consumer, router)
    return router

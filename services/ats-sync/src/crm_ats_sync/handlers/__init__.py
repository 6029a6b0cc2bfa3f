"""Kafka subscribers of the ats-sync service."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.handlers.candidates import candidate_subscribers
from crm_shared import IdempotentConsumer


def build_router(consumer: IdempotentConsumer, storage: AtsStorage) -> KafkaRouter:
    """The ats-sync service's subscribers."""
    router = KafkaRouter()
    candidate_subscribers(storage).subscribe(consumer, router)
    return router

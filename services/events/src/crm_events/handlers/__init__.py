"""Kafka subscribers of the events service."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from crm_events.application.storage import EventsStorage
from crm_events.handlers.candidates import candidate_subscribers
from crm_shared import IdempotentConsumer


def build_router(consumer: IdempotentConsumer, storage: EventsStorage) -> KafkaRouter:
    """The events service's subscribers."""
    router = KafkaRouter()
    candidate_subscribers(storage).subscribe(consumer, router)
    return router

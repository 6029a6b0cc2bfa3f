"""Kafka subscribers of the ats-sync service."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from crm_ats_sync.application.candidates import CandidateFacts
from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.handlers.candidates import candidate_subscribers
from crm_shared import CONSENT_CHANGED, IdempotentConsumer


def build_router(consumer: IdempotentConsumer, storage: AtsStorage) -> KafkaRouter:
    """The ats-sync service's subscribers."""
    router = KafkaRouter()
    candidate_subscribers(storage).subscribe(consumer, router)
    consumer.subscribe(
        router,
        CONSENT_CHANGED,
        CandidateFacts(storage).consent_changed,
        group="on_consent_changed",
        description="Keeps whether each candidate's data may be sent to the ATS (the "
        "`data_processing` consent a push needs).",
    )
    return router

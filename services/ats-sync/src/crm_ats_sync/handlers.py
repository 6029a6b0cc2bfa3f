"""Kafka subscribers of the ats-sync service."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_shared import (
    CANDIDATE_CREATED,
    CANDIDATE_UPDATED,
    CandidateDirectory,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    Session,
)


def build_router(consumer: IdempotentConsumer, database: Database) -> KafkaRouter:
    """The ats-sync service's subscribers."""
    router = KafkaRouter()

    async def on_candidate_created(envelope: EventEnvelope[Any], session: Session) -> None:
        await CandidateDirectory(database, envelope.tenant_id).learn(envelope.data, session=session)

    async def on_candidate_updated(envelope: EventEnvelope[Any], session: Session) -> None:
        await CandidateDirectory(database, envelope.tenant_id).learn(envelope.data, session=session)

    consumer.subscribe(
        router,
        CANDIDATE_CREATED,
        on_candidate_created,
        description="Learns candidates' emails, to match ATS applicants to them.",
    )
    consumer.subscribe(
        router,
        CANDIDATE_UPDATED,
        on_candidate_updated,
        description="Keeps the email-to-candidate directory current.",
    )
    return router

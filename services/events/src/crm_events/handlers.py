"""Kafka subscribers of the events service."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_events.repository import EventRepository
from crm_shared import (
    CANDIDATE_CREATED,
    CANDIDATE_UPDATED,
    CandidateDirectory,
    CandidateProfile,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    Session,
)


def build_router(consumer: IdempotentConsumer, database: Database) -> KafkaRouter:
    """The events service's subscribers."""
    router = KafkaRouter()

    async def know_candidate(envelope: EventEnvelope[Any], session: Session) -> None:
        profile: CandidateProfile = envelope.data
        emails = await CandidateDirectory(database, envelope.tenant_id).learn(
            profile, session=session
        )
        events = EventRepository(database, envelope.tenant_id)
        for email in emails:
            await events.link_candidate(email, profile.candidate_id, session=session)

    async def on_candidate_created(envelope: EventEnvelope[Any], session: Session) -> None:
        await know_candidate(envelope, session)

    async def on_candidate_updated(envelope: EventEnvelope[Any], session: Session) -> None:
        await know_candidate(envelope, session)

    consumer.subscribe(
        router,
        CANDIDATE_CREATED,
        on_candidate_created,
        description="Learns which email belongs to which candidate, to match registrants.",
    )
    consumer.subscribe(
        router,
        CANDIDATE_UPDATED,
        on_candidate_updated,
        description="Keeps the email-to-candidate directory current.",
    )
    return router

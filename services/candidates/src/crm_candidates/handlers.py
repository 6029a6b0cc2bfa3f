"""Kafka subscribers of the candidates service."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_candidates.commands import CandidateWriter
from crm_candidates.domain.models import Candidate, CandidateSource
from crm_candidates.repository import CandidateRepository, SegmentRepository
from crm_shared import (
    EVENT_REGISTERED,
    Database,
    EventEnvelope,
    EventRegistered,
    IdempotentConsumer,
    MongoClient,
    Outbox,
    Session,
    normalise_email,
)

# Records created from other services' events name the service as their creator.
EVENTS_SERVICE_USER = "service:events"


def build_router(
    consumer: IdempotentConsumer, mongo: MongoClient, database: Database, outbox: Outbox
) -> KafkaRouter:
    """The candidates service's subscribers."""
    router = KafkaRouter()

    async def on_event_registered(envelope: EventEnvelope[Any], session: Session) -> None:
        registration: EventRegistered = envelope.data
        candidates = CandidateRepository(database, envelope.tenant_id)
        email = normalise_email(registration.email)
        if registration.candidate_id is not None:
            return
        if await candidates.find_by_emails([email], session=session) is not None:
            return
        writer = CandidateWriter(
            mongo, outbox, candidates, SegmentRepository(database, envelope.tenant_id)
        )
        await writer.add(
            Candidate(
                tenant_id=envelope.tenant_id,
                created_by=EVENTS_SERVICE_USER,
                first_name=registration.first_name,
                last_name=registration.last_name,
                emails=[email],
                source=CandidateSource.EVENT,
            ),
            session=session,
        )

    consumer.subscribe(
        router,
        EVENT_REGISTERED,
        on_event_registered,
        description="Creates a candidate for an event registrant nobody knew yet (matched by "
        "email, so a known person is never duplicated).",
    )
    return router

"""Kafka subscribers of the analytics service: each event updates the tenant's counters once."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.repository import CounterRepository
from crm_shared import (
    ATS_APPLICATION_CREATED,
    CANDIDATE_CREATED,
    EVENT_REGISTERED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_SENT,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    MessageClicked,
    MessageOpened,
    Session,
)


def build_router(consumer: IdempotentConsumer, database: Database) -> KafkaRouter:
    """The analytics service's subscribers, applying each event exactly once via `consumer`."""
    router = KafkaRouter()

    def counters(envelope: EventEnvelope[Any]) -> CounterRepository:
        return CounterRepository(database, envelope.tenant_id)

    async def on_candidate_created(envelope: EventEnvelope[Any], session: Session) -> None:
        await counters(envelope).increment(TenantMetric.CANDIDATES_CREATED, session=session)

    async def on_message_sent(envelope: EventEnvelope[Any], session: Session) -> None:
        await counters(envelope).increment(TenantMetric.MESSAGES_SENT, session=session)

    async def on_message_opened(envelope: EventEnvelope[Any], session: Session) -> None:
        opened: MessageOpened = envelope.data
        if not opened.automated:
            await counters(envelope).increment_once(
                TenantMetric.MESSAGES_OPENED, opened.message_id, session=session
            )

    async def on_message_clicked(envelope: EventEnvelope[Any], session: Session) -> None:
        clicked: MessageClicked = envelope.data
        await counters(envelope).increment_once(
            TenantMetric.MESSAGES_CLICKED, clicked.message_id, session=session
        )

    async def on_event_registered(envelope: EventEnvelope[Any], session: Session) -> None:
        await counters(envelope).increment(TenantMetric.EVENT_REGISTRATIONS, session=session)

    async def on_ats_application_created(envelope: EventEnvelope[Any], session: Session) -> None:
        await counters(envelope).increment(TenantMetric.APPLICATIONS, session=session)

    for spec, handler, description in (
        (CANDIDATE_CREATED, on_candidate_created, "Counts candidates created per tenant."),
        (MESSAGE_SENT, on_message_sent, "Counts messages sent per tenant."),
        (MESSAGE_OPENED, on_message_opened, "Counts messages opened by a person (not a bot)."),
        (MESSAGE_CLICKED, on_message_clicked, "Counts messages with at least one click."),
        (EVENT_REGISTERED, on_event_registered, "Counts event registrations per tenant."),
        (ATS_APPLICATION_CREATED, on_ats_application_created, "Counts ATS applications."),
    ):
        consumer.subscribe(router, spec, handler, description=description)
    return router

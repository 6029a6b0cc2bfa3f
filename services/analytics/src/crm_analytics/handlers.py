"""Kafka subscribers of the analytics service: each event updates the tenant's counters once,
and a candidate's activities update their engagement score, published as `engagement.scored`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from faststream.kafka import KafkaRouter

from crm_analytics.domain.engagement import ActivityKind, Contribution, EngagementModel
from crm_analytics.domain.metrics import TenantMetric
from crm_analytics.publishers import to_engagement_scored
from crm_analytics.repository import CounterRepository, EngagementRepository
from crm_shared import (
    ATS_APPLICATION_CREATED,
    CANDIDATE_CREATED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    Database,
    EventCheckedIn,
    EventEnvelope,
    EventRegistered,
    IdempotentConsumer,
    MessageClicked,
    MessageOpened,
    MessageReplied,
    Outbox,
    Session,
    utc_now,
)


def build_router(
    consumer: IdempotentConsumer, database: Database, outbox: Outbox, model: EngagementModel
) -> KafkaRouter:
    """The analytics service's subscribers, applying each event exactly once via `consumer`."""
    router = KafkaRouter()

    def counters(envelope: EventEnvelope[Any]) -> CounterRepository:
        return CounterRepository(database, envelope.tenant_id)

    async def engaged(
        envelope: EventEnvelope[Any],
        candidate_id: str,
        kind: ActivityKind,
        reference: str,
        occurred_at: datetime,
        session: Session,
    ) -> None:
        """Counts the activity in the candidate's score (once) and publishes the new score."""
        engagement = EngagementRepository(database, envelope.tenant_id)
        contribution = Contribution(
            candidate_id=candidate_id,
            kind=kind,
            reference=reference,
            occurred_at=occurred_at,
            event_id=str(envelope.id),
        )
        if not await engagement.add(contribution, session=session):
            return
        contributions = await engagement.of(candidate_id, session=session)
        now = utc_now()
        score = round(model.score(contributions, now), 4)
        await engagement.save_score(candidate_id, score, now, session=session)
        await to_engagement_scored(
            outbox,
            tenant_id=envelope.tenant_id,
            candidate_id=candidate_id,
            score=score,
            last_activity_at=max(c.occurred_at for c in contributions),
            contributions={k: round(v, 4) for k, v in model.by_kind(contributions, now).items()},
            session=session,
        )

    async def on_candidate_created(envelope: EventEnvelope[Any], session: Session) -> None:
        await counters(envelope).increment(TenantMetric.CANDIDATES_CREATED, session=session)

    async def on_message_sent(envelope: EventEnvelope[Any], session: Session) -> None:
        await counters(envelope).increment(TenantMetric.MESSAGES_SENT, session=session)

    async def on_message_opened(envelope: EventEnvelope[Any], session: Session) -> None:
        opened: MessageOpened = envelope.data
        if opened.automated:
            return  # a prefetcher or bot: neither an opener nor engagement
        await counters(envelope).increment_once(
            TenantMetric.MESSAGES_OPENED, opened.message_id, session=session
        )
        await engaged(
            envelope,
            opened.candidate_id,
            ActivityKind.MESSAGE_OPENED,
            opened.message_id,
            envelope.time,
            session,
        )

    async def on_message_clicked(envelope: EventEnvelope[Any], session: Session) -> None:
        clicked: MessageClicked = envelope.data
        if clicked.automated:
            return  # a link scanner, not the candidate: neither a click nor engagement
        await counters(envelope).increment_once(
            TenantMetric.MESSAGES_CLICKED, clicked.message_id, session=session
        )
        await engaged(
            envelope,
            clicked.candidate_id,
            ActivityKind.MESSAGE_CLICKED,
            clicked.message_id,
            envelope.time,
            session,
        )

    async def on_message_replied(envelope: EventEnvelope[Any], session: Session) -> None:
        replied: MessageReplied = envelope.data
        await engaged(
            envelope,
            replied.candidate_id,
            ActivityKind.MESSAGE_REPLIED,
            replied.message_id,
            replied.received_at,
            session,
        )

    async def on_event_registered(envelope: EventEnvelope[Any], session: Session) -> None:
        registration: EventRegistered = envelope.data
        await counters(envelope).increment(TenantMetric.EVENT_REGISTRATIONS, session=session)
        # A registrant nobody knew yet has no candidate id: there is nobody to score.
        if registration.candidate_id is not None:
            await engaged(
                envelope,
                registration.candidate_id,
                ActivityKind.EVENT_REGISTERED,
                registration.event_id,
                registration.registered_at,
                session,
            )

    async def on_event_checked_in(envelope: EventEnvelope[Any], session: Session) -> None:
        attendance: EventCheckedIn = envelope.data
        if attendance.candidate_id is not None:
            await engaged(
                envelope,
                attendance.candidate_id,
                ActivityKind.EVENT_CHECKED_IN,
                attendance.event_id,
                attendance.checked_in_at,
                session,
            )

    async def on_ats_application_created(envelope: EventEnvelope[Any], session: Session) -> None:
        await counters(envelope).increment(TenantMetric.APPLICATIONS, session=session)

    for spec, handler, description in (
        (CANDIDATE_CREATED, on_candidate_created, "Counts candidates created per tenant."),
        (MESSAGE_SENT, on_message_sent, "Counts messages sent per tenant."),
        (
            MESSAGE_OPENED,
            on_message_opened,
            "Counts messages opened by a person (not a bot); scores the candidate's engagement.",
        ),
        (
            MESSAGE_CLICKED,
            on_message_clicked,
            "Counts messages clicked by a person (not a scanner); scores engagement.",
        ),
        (MESSAGE_REPLIED, on_message_replied, "Scores the candidate's engagement."),
        (
            EVENT_REGISTERED,
            on_event_registered,
            "Counts event registrations per tenant; scores the candidate's engagement.",
        ),
        (EVENT_CHECKED_IN, on_event_checked_in, "Scores the candidate's engagement."),
        (ATS_APPLICATION_CREATED, on_ats_application_created, "Counts ATS applications."),
    ):
        consumer.subscribe(router, spec, handler, description=description)
    return router

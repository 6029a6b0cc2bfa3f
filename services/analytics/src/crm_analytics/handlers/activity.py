"""Subscribers to every event analytics counts or scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaRouter

from crm_analytics.application.activity import ActivityRecorder
from crm_shared import (
    ATS_APPLICATION_CREATED,
    CANDIDATE_CREATED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    EventEnvelope,
    IdempotentConsumer,
    Session,
)


@dataclass(frozen=True)
class ActivitySubscribers:
    """One subscriber per topic, each in the consumer group declared next to it."""

    recorder: ActivityRecorder

    async def on_candidate_created(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.recorder.candidate_created(envelope, session)

    async def on_message_sent(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.recorder.message_sent(envelope, session)

    async def on_message_opened(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.recorder.message_opened(envelope, session)

    async def on_message_clicked(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.recorder.message_clicked(envelope, session)

    async def on_message_replied(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.recorder.message_replied(envelope, session)

    async def on_event_registered(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.recorder.event_registered(envelope, session)

    async def on_event_checked_in(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.recorder.event_checked_in(envelope, session)

    async def on_ats_application_created(
        self, envelope: EventEnvelope[Any], session: Session
    ) -> None:
        await self.recorder.application_created(envelope, session)

    def subscribe(self, consumer: IdempotentConsumer, router: KafkaRouter) -> None:
        """Subscribes every handler, in the order the service always subscribed them."""
        for spec, group, handler, description in (
            (
                CANDIDATE_CREATED,
                "on_candidate_created",
                self.on_candidate_created,
                "Counts candidates created per tenant and learns the tenant's candidates (the "
                "engagement route answers 404 for any other).",
            ),
            (
                MESSAGE_SENT,
                "on_message_sent",
                self.on_message_sent,
                "Counts messages sent per tenant.",
            ),
            (
                MESSAGE_OPENED,
                "on_message_opened",
                self.on_message_opened,
                "Counts messages opened by a person (not a bot); scores the candidate's "
                "engagement.",
            ),
            (
                MESSAGE_CLICKED,
                "on_message_clicked",
                self.on_message_clicked,
                "Counts messages clicked by a person (not a scanner); scores engagement.",
            ),
            (
                MESSAGE_REPLIED,
                "on_message_replied",
                self.on_message_replied,
                "Scores the candidate's engagement.",
            ),
            (
                EVENT_REGISTERED,
                "on_event_registered",
                self.on_event_registered,
                "Counts event registrations per tenant; scores the candidate's engagement.",
            ),
            (
                EVENT_CHECKED_IN,
                "on_event_checked_in",
                self.on_event_checked_in,
                "Scores the candidate's engagement.",
            ),
            (
                ATS_APPLICATION_CREATED,
                "on_ats_application_created",
                self.on_ats_application_created,
                "Counts ATS applications.",
            ),
        ):
            consumer.subscribe(router, spec, handler, group=group, description=description)

"""Subscribers that keep the message reports: the message topics and consent changes, each in a
consumer group of its own (apart from the counters' groups, so the reports were built from each
topic's earliest retained event when they were introduced)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaRouter

from crm_analytics.application.message_reports import MessageReportFolder
from crm_shared import (
    CONSENT_CHANGED,
    MESSAGE_BOUNCED,
    MESSAGE_CLICKED,
    MESSAGE_COMPLAINED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    EventEnvelope,
    IdempotentConsumer,
    Session,
    TopicSpec,
)

# (topic, consumer group, description); the group names are deployed state
# (tests/unit/shared/test_consumer_groups.py).
SUBSCRIPTIONS: tuple[tuple[TopicSpec, str, str], ...] = (
    (
        MESSAGE_SENT,
        "report_message_sent",
        "A message sent: its broadcast (and variant) or sequence step, and its template.",
    ),
    (MESSAGE_OPENED, "report_message_opened", "A message opened, by a person or a machine."),
    (MESSAGE_CLICKED, "report_message_clicked", "A link followed, by a person or a machine."),
    (MESSAGE_BOUNCED, "report_message_bounced", "A message bounced, hard or soft."),
    (MESSAGE_REPLIED, "report_message_replied", "A reply to a message."),
    (MESSAGE_COMPLAINED, "report_message_complained", "A spam complaint about a message."),
    (
        CONSENT_CHANGED,
        "report_consent_changed",
        "An unsubscribe from a message's link (a consent withdrawn naming the message).",
    ),
)


@dataclass(frozen=True)
class MessageReportSubscribers:
    """One batch subscriber per topic, folding each batch into the message reports."""

    folder: MessageReportFolder

    async def on_batch(self, envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        await self.folder.record_batch(envelopes, session)

    def subscribe(self, consumer: IdempotentConsumer, router: KafkaRouter) -> None:
        """Subscribes every topic, each in its declared consumer group."""
        for spec, group, description in SUBSCRIPTIONS:
            consumer.subscribe_batch(
                router, spec, self.on_batch, group=group, description=description
            )

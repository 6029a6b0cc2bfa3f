"""Kafka subscribers of the analytics service: each event updates the tenant's counters once,
a candidate's activities update their engagement score, published as `engagement.scored`, and
the event, registrant and ATS topics keep the recruiting event reports, and the message
topics the message reports."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.event_reports import EventReportFolder
from crm_analytics.application.merges import MergeFollower
from crm_analytics.application.message_reports import MessageReportFolder
from crm_analytics.application.pool_health import PoolHealthFolder
from crm_analytics.handlers.activity import ActivitySubscribers
from crm_analytics.handlers.event_reports import EventReportSubscribers
from crm_analytics.handlers.merges import MergeSubscribers
from crm_analytics.handlers.message_reports import MessageReportSubscribers
from crm_analytics.handlers.pools import PoolHealthSubscribers
from crm_shared import IdempotentConsumer


def build_router(
    consumer: IdempotentConsumer,
    recorder: ActivityRecorder,
    folder: EventReportFolder,
    merges: MergeFollower,
    messages: MessageReportFolder,
    pools: PoolHealthFolder,
) -> KafkaRouter:
    """The analytics service's subscribers, applying each event exactly once via `consumer`."""
    router = KafkaRouter()
    ActivitySubscribers(recorder).subscribe(consumer, router)
    EventReportSubscribers(folder).subscribe(consumer, router)
    MergeSubscribers(merges).subscribe(consumer, router)
    MessageReportSubscribers(messages).subscribe(consumer, router)
    PoolHealthSubscribers(pools).subscribe(consumer, router)
    return router

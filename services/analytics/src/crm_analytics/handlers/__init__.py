"""Kafka subscribers of the analytics service: each event updates the tenant's counters once,
a candidate's activities update their engagement score, published as `engagement.scored`, and
the event, registrant and ATS topics keep the recruiting event reports, the message
topics the message reports, and the enrolment topics the enrolment reports."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from crm_analytics.application.activity import ActivityRecorder
from crm_analytics.application.enrolment_reports import EnrolmentReportFolder
from crm_analytics.application.event_reports import EventReportFolder
from crm_analytics.application.merges import MergeFollower
from crm_analytics.application.message_reports import MessageReportFolder
from crm_analytics.application.pool_health import PoolHealthFolder
from crm_analytics.handlers import (
    activity,
    enrolment_reports,
    event_reports,
    message_reports,
    pools,
)
from crm_analytics.handlers.merges import MergeSubscribers
from crm_shared import IdempotentConsumer


def build_router(
    consumer: IdempotentConsumer,
    recorder: ActivityRecorder,
    folder: EventReportFolder,
    merges: MergeFollower,
    messages: MessageReportFolder,
    health: PoolHealthFolder,
    enrolments: EnrolmentReportFolder,
) -> KafkaRouter:
    """The analytics service's subscribers, applying each event exactly once via `consumer`."""
    router = KafkaRouter()
    consumer.subscribe_batches(router, activity.SUBSCRIPTIONS, recorder.record_batch)
    consumer.subscribe_batches(router, event_reports.SUBSCRIPTIONS, folder.record_batch)
    MergeSubscribers(merges).subscribe(consumer, router)
    consumer.subscribe_batches(router, message_reports.SUBSCRIPTIONS, messages.record_batch)
    consumer.subscribe_batches(router, pools.SUBSCRIPTIONS, health.record_batch)
    consumer.subscribe_batches(router, enrolment_reports.SUBSCRIPTIONS, enrolments.record_batch)
    return router

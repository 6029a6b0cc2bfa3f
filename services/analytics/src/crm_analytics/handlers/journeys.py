"""Subscribers that keep the candidates' journeys (funnels and attribution): every topic a
funnel step, a touch or a breakdown comes from, each in a consumer group of its own (apart from
the counters' and reports' groups, so the journeys were built from each topic's earliest
retained event when they were introduced)."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from crm_analytics.application.journeys import JourneyFolder
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    CANDIDATE_CREATED,
    EVENT_ATTENDED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    EVENT_WAITLISTED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    POOL_STAGE_CHANGED,
    SEGMENT_ENTERED,
    IdempotentConsumer,
    TopicSpec,
)

# (topic, consumer group, description); the group names are deployed state
# (tests/unit/shared/test_consumer_groups.py).
SUBSCRIPTIONS: tuple[tuple[TopicSpec, str, str], ...] = (
    (
        CANDIDATE_CREATED,
        "journey_candidate_created",
        "A candidate sourced: when, their source (a touch) and their address digests.",
    ),
    (
        MESSAGE_SENT,
        "journey_message_sent",
        "Which broadcast or sequence step sent a message, to credit its opens and clicks.",
    ),
    (MESSAGE_OPENED, "journey_message_opened", "A human open: engaged, and a mail touch."),
    (MESSAGE_CLICKED, "journey_message_clicked", "A human click: engaged, and a mail touch."),
    (MESSAGE_REPLIED, "journey_message_replied", "A reply: responded."),
    (EVENT_REGISTERED, "journey_event_registered", "A registration: responded, the event."),
    (EVENT_WAITLISTED, "journey_event_waitlisted", "A waitlisted registration: responded."),
    (EVENT_CHECKED_IN, "journey_event_checked_in", "A check-in: an event touch."),
    (EVENT_ATTENDED, "journey_event_attended", "An attendee settled: an event touch."),
    (
        ATS_APPLICATION_CREATED,
        "journey_ats_application_created",
        "An application (not a prospect): applied, and an outcome to attribute; one starting "
        "in an interview stage: interviewed.",
    ),
    (
        ATS_APPLICATION_STAGE_CHANGED,
        "journey_ats_application_stage_changed",
        "A move into an interview stage: interviewed.",
    ),
    (
        ATS_APPLICATION_REJECTED,
        "journey_ats_application_rejected",
        "A rejection at an interview stage (the furthest reached): interviewed.",
    ),
    (
        ATS_APPLICATION_HIRED,
        "journey_ats_application_hired",
        "A hire: hired, and an outcome to attribute.",
    ),
    (POOL_STAGE_CHANGED, "journey_pool_stage_changed", "A pool the candidate was added to."),
    (SEGMENT_ENTERED, "journey_segment_entered", "A segment the candidate entered."),
)


def build_journey_router(consumer: IdempotentConsumer, folder: JourneyFolder) -> KafkaRouter:
    """The journeys' subscribers, applying each event exactly once via `consumer`."""
    router = KafkaRouter()
    consumer.subscribe_batches(router, SUBSCRIPTIONS, folder.record_batch)
    return router

"""Kafka subscribers of the candidates service: each decodes its event (the idempotent consumer
does) and calls one use case of `application/` in the consumer's transaction; the ATS
applications' subscribers (a backfill announces thousands), the timeline's (a broadcast's
`message.sent` arrive by the thousand) and the engagement scores' (its opens score their
recipients by the thousand) apply a fetched batch at once.

An event about a candidate this service does not hold is ignored with a log line rather than
dead-lettered (see `application/facts.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faststream.kafka import KafkaRouter

from crm_candidates.application.ats_applications import AtsApplications
from crm_candidates.application.change_requests import ChangeRequests
from crm_candidates.application.facts import CandidateFacts
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    ATS_CANDIDATE_PUSHED,
    CANDIDATE_CHANGE_REQUESTED,
    CONSENT_CHANGED,
    ENGAGEMENT_SCORED,
    ENROLMENT_ENDED,
    ENROLMENT_STARTED,
    EVENT_ATTENDED,
    EVENT_CHECKED_IN,
    EVENT_NO_SHOW,
    EVENT_REGISTERED,
    EVENT_REGISTRATION_CANCELLED,
    EVENT_WAITLISTED,
    MESSAGE_BOUNCED,
    MESSAGE_CLICKED,
    MESSAGE_COMPLAINED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    MESSAGE_SUPPRESSED,
    POOL_STAGE_CHANGED,
    SEQUENCE_SAVED,
    EventEnvelope,
    IdempotentConsumer,
    Session,
    TopicSpec,
)

Handler = Callable[[EventEnvelope[Any], Session], Awaitable[None]]

ATS_TOPICS = (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_STAGE_CHANGED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_HIRED,
)
TIMELINE_TOPICS = (
    MESSAGE_SENT,
    MESSAGE_OPENED,
    MESSAGE_CLICKED,
    MESSAGE_REPLIED,
    MESSAGE_BOUNCED,
    POOL_STAGE_CHANGED,
    CONSENT_CHANGED,
    ENROLMENT_STARTED,
    ENROLMENT_ENDED,
    MESSAGE_SUPPRESSED,
)


ATS_DESCRIPTION = (
    "Keeps the candidate's ATS status and stage (latest change wins) and their timeline (a new "
    "application of a person nobody knew creates the candidate, source `ats_import`, unless "
    "their address was erased); re-evaluates their segments. A fetched batch is applied at once."
)


def build_router(
    consumer: IdempotentConsumer,
    facts: CandidateFacts,
    ats_applications: AtsApplications,
    change_requests: ChangeRequests,
) -> KafkaRouter:
    """The candidates service's subscribers."""
    router = KafkaRouter()
    for spec, handler, name, description in subscriptions(facts, change_requests):
        consumer.subscribe(router, spec, handler, group=name, description=description)
    for spec in ATS_TOPICS:
        consumer.subscribe_batch(
            router,
            spec,
            ats_applications.apply,
            group=_handler_name(spec),
            description=ATS_DESCRIPTION,
        )
    for spec in TIMELINE_TOPICS:
        consumer.subscribe_batch(
            router,
            spec,
            facts.timeline_events,
            group=_handler_name(spec),
            description="Adds the events to the candidates' activity timelines; a fetched "
            "batch is applied at once.",
        )
    consumer.subscribe_batch(
        router,
        ENGAGEMENT_SCORED,
        facts.engagement_scores,
        group="on_engagement_scored",
        description="Keeps the candidate's engagement score and last activity; re-evaluates "
        "their segments. A fetched batch is applied at once.",
    )
    return router


def subscriptions(
    facts: CandidateFacts, change_requests: ChangeRequests
) -> list[tuple[TopicSpec, Handler, str, str]]:
    """(topic, use case, handler name, description) of every per-event subscription."""
    return [
        (
            CANDIDATE_CHANGE_REQUESTED,
            change_requests.apply,
            "on_candidate_change_requested",
            "Adds or removes tags and moves the candidate in a talent pool as asked "
            "(by a sequence step), through the same commands as the API, on the surviving "
            "record of a merged candidate; a request naming an unknown candidate, pool or "
            "stage is dead-lettered.",
        ),
        (
            EVENT_REGISTERED,
            facts.event_registered,
            "on_event_registered",
            "Records the registration on the candidate (creating a candidate for a registrant "
            "nobody knew, matched by email) and in their timeline; re-evaluates their segments.",
        ),
        (
            EVENT_REGISTRATION_CANCELLED,
            facts.event_registration_cancelled,
            "on_event_registration_cancelled",
            "Takes the event out of the candidate's registered events (unless they registered "
            "again since) and records the cancellation in their timeline; re-evaluates their "
            "segments.",
        ),
        (
            EVENT_WAITLISTED,
            facts.event_waitlisted,
            "on_event_waitlisted",
            "Matches or creates the waitlisted registrant as a candidate (they showed interest) "
            "and records the waitlisting in their timeline.",
        ),
        (
            EVENT_CHECKED_IN,
            facts.event_checked_in,
            "on_event_checked_in",
            "Records event attendance on the candidate and in their timeline; re-evaluates "
            "their segments.",
        ),
        (
            EVENT_ATTENDED,
            facts.event_attended,
            "on_event_attended",
            "Records the attendance a completed event confirms on the candidate and in their "
            "timeline; re-evaluates their segments.",
        ),
        (
            EVENT_NO_SHOW,
            facts.event_no_show,
            "on_event_no_show",
            "Records on the candidate (and in their timeline) that they did not come to an "
            "event they registered for; re-evaluates their segments.",
        ),
        (
            ATS_CANDIDATE_PUSHED,
            facts.ats_candidate_pushed,
            "on_ats_candidate_pushed",
            "Keeps where the candidate was pushed to an ATS, with the ATS's ids (`ats_links`), "
            "and adds it to their timeline.",
        ),
        (
            SEQUENCE_SAVED,
            facts.sequence_saved,
            "on_sequence_saved",
            "Keeps which segments each live sequence enrols from, so a segment in use is not "
            "deleted.",
        ),
        (
            MESSAGE_COMPLAINED,
            facts.message_complained,
            _handler_name(MESSAGE_COMPLAINED),
            "Adds a spam complaint to the candidate's timeline and withdraws their marketing "
            "consent (source `spam_complaint`, the message as evidence); re-evaluates their "
            "segments.",
        ),
    ]


def _handler_name(spec: TopicSpec) -> str:
    # The consumer group (and marker prefix) of the subscription: part of the deployed state,
    # pinned by tests/unit/shared/test_consumer_groups.py.
    return f"on_{spec.name.replace('.', '_')}"

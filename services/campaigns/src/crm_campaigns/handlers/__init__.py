"""Kafka edge of the campaigns service: the FastStream subscribers, thin, calling application/."""

from __future__ import annotations

from faststream.kafka import KafkaRouter

from crm_campaigns.handlers.activity import ACTIVITY_SUBSCRIPTIONS
from crm_campaigns.handlers.audiences import AUDIENCE_SUBSCRIPTIONS
from crm_campaigns.handlers.candidates import CANDIDATE_SUBSCRIPTIONS
from crm_campaigns.handlers.consent_mail import build_consent_mail_router
from crm_campaigns.handlers.event_mail import build_event_mail_router
from crm_campaigns.handlers.jobs import JOB_SUBSCRIPTIONS
from crm_campaigns.handlers.subscriptions import subscribe
from crm_shared import Database, IdempotentConsumer

__all__ = ["build_consent_mail_router", "build_event_mail_router", "build_router"]


def build_router(consumer: IdempotentConsumer, database: Database) -> KafkaRouter:
    """The subscribers that keep the service's projections and drive sequences from outside."""
    router = KafkaRouter()
    for subscriptions in (
        CANDIDATE_SUBSCRIPTIONS,
        AUDIENCE_SUBSCRIPTIONS,
        ACTIVITY_SUBSCRIPTIONS,
        JOB_SUBSCRIPTIONS,
    ):
        subscribe(consumer, router, database, subscriptions)
    return router

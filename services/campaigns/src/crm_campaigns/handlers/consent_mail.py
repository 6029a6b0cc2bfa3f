"""The subscriber that mails consent confirmation links (double opt-in, re-permission)."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_campaigns.application.consent_mail import mail_consent_confirmation
from crm_campaigns.application.transactional import TransactionalMailer
from crm_shared import (
    CONSENT_CONFIRMATION_REQUESTED,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    Session,
)


def build_consent_mail_router(
    consumer: IdempotentConsumer, database: Database, mailer: TransactionalMailer
) -> KafkaRouter:
    """The subscriber that mails consent confirmation links."""
    router = KafkaRouter()

    async def on_consent_confirmation_requested(
        envelope: EventEnvelope[Any], session: Session
    ) -> None:
        await mail_consent_confirmation(database, mailer, envelope, session)

    consumer.subscribe(
        router,
        CONSENT_CONFIRMATION_REQUESTED,
        on_consent_confirmation_requested,
        group="on_consent_confirmation_requested",
        # The mail leaves before the transaction commits: a failed batch would mail its other
        # events' recipients again, so each event is its own batch.
        max_records=1,
        description="Mails a consent confirmation link (double opt-in, re-permission); "
        "transactional, so marketing consent does not apply, erased addresses do.",
    )
    return router

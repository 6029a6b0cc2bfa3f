"""The subscribers that mail an event's registrants: confirmations, changes, cancellations,
reminders and waitlist notices."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_campaigns.adapters.senders import Senders
from crm_campaigns.adapters.smtp import MailTransport
from crm_campaigns.application.event_mail import (
    confirm_registration,
    remind_registrant,
    tell_registrant,
    tell_waitlisted,
)
from crm_shared import (
    EVENT_INVITATION_CHANGED,
    EVENT_REGISTERED,
    EVENT_REMINDER_REQUESTED,
    EVENT_WAITLISTED,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    Session,
)


def build_event_mail_router(
    consumer: IdempotentConsumer, database: Database, transport: MailTransport, senders: Senders
) -> KafkaRouter:
    """The subscribers that mail registrants their confirmation and their event's changes."""
    router = KafkaRouter()

    async def mail_event_confirmation(envelope: EventEnvelope[Any], session: Session) -> None:
        await confirm_registration(database, transport, senders, envelope, session)

    async def mail_event_invitation_changed(envelope: EventEnvelope[Any], session: Session) -> None:
        await tell_registrant(database, transport, senders, envelope, session)

    # The mail leaves before the transaction commits: a failed batch would mail its other
    # events' recipients again, so each event is its own batch.
    consumer.subscribe(
        router,
        EVENT_REGISTERED,
        mail_event_confirmation,
        group="mail_event_confirmation",
        max_records=1,
        description="Mails a registrant the confirmation with the calendar invitation "
        "(transactional: marketing consent does not apply, erasures and suppressions do).",
    )
    consumer.subscribe(
        router,
        EVENT_INVITATION_CHANGED,
        mail_event_invitation_changed,
        group="mail_event_invitation_changed",
        max_records=1,
        description="Mails a registrant that their event moved or was cancelled, with the new "
        "calendar invitation (same UID, higher SEQUENCE; METHOD:CANCEL when cancelled).",
    )

    async def mail_event_reminder(envelope: EventEnvelope[Any], session: Session) -> None:
        await remind_registrant(database, transport, senders, envelope, session)

    consumer.subscribe(
        router,
        EVENT_REMINDER_REQUESTED,
        mail_event_reminder,
        group="mail_event_reminder",
        max_records=1,
        description="Mails a registrant the reminder of their event (24 h, 1 h before, as the "
        "event says), with the calendar invitation.",
    )

    async def mail_event_waitlisted(envelope: EventEnvelope[Any], session: Session) -> None:
        await tell_waitlisted(database, transport, senders, envelope, session)

    consumer.subscribe(
        router,
        EVENT_WAITLISTED,
        mail_event_waitlisted,
        group="mail_event_waitlisted",
        max_records=1,
        description="Mails a registrant that they are on the waitlist of a full event (no "
        "calendar invitation: their place is not confirmed).",
    )
    return router

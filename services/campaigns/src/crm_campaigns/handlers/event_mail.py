"""The subscribers that mail an event's registrants: confirmations, changes, cancellations,
reminders and waitlist notices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from faststream.kafka import KafkaRouter

from crm_campaigns.application.event_mail import (
    confirm_registration,
    remind_registrant,
    tell_registrant,
    tell_waitlisted,
)
from crm_campaigns.application.transactional import TransactionalMailer
from crm_shared import (
    EVENT_INVITATION_CHANGED,
    EVENT_REGISTERED,
    EVENT_REMINDER_REQUESTED,
    EVENT_WAITLISTED,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    Session,
    TopicSpec,
)

# The mail leaves before the transaction commits: a failed batch would mail its other events'
# recipients again, so each event is its own batch (`max_records=1`).
EventMailUseCase = Callable[
    [Database, TransactionalMailer, EventEnvelope[Any], Session], Awaitable[None]
]
EVENT_MAILS: tuple[tuple[TopicSpec, EventMailUseCase, str, str], ...] = (
    (
        EVENT_REGISTERED,
        confirm_registration,
        "mail_event_confirmation",
        "Mails a registrant the confirmation with the calendar invitation "
        "(transactional: marketing consent does not apply, erasures and suppressions do).",
    ),
    (
        EVENT_INVITATION_CHANGED,
        tell_registrant,
        "mail_event_invitation_changed",
        "Mails a registrant that their event moved or was cancelled, with the new "
        "calendar invitation (same UID, higher SEQUENCE; METHOD:CANCEL when cancelled).",
    ),
    (
        EVENT_REMINDER_REQUESTED,
        remind_registrant,
        "mail_event_reminder",
        "Mails a registrant the reminder of their event (24 h, 1 h before, as the "
        "event says), with the calendar invitation.",
    ),
    (
        EVENT_WAITLISTED,
        tell_waitlisted,
        "mail_event_waitlisted",
        "Mails a registrant that they are on the waitlist of a full event (no "
        "calendar invitation: their place is not confirmed).",
    ),
)


def build_event_mail_router(
    consumer: IdempotentConsumer, database: Database, mailer: TransactionalMailer
) -> KafkaRouter:
    """The subscribers that mail registrants their confirmation and their event's changes."""
    router = KafkaRouter()
    for topic, use_case, group, description in EVENT_MAILS:
        consumer.subscribe(
            router,
            topic,
            partial(use_case, database, mailer),
            group=group,
            max_records=1,
            description=description,
        )
    return router

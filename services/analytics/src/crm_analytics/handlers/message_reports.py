"""Subscribers that keep the message reports: the message topics and consent changes, each in a
consumer group of its own (apart from the counters' groups, so the reports were built from each
topic's earliest retained event when they were introduced)."""

from __future__ import annotations

from crm_shared import (
    CONSENT_CHANGED,
    MESSAGE_BOUNCED,
    MESSAGE_CLICKED,
    MESSAGE_COMPLAINED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    MESSAGE_SUPPRESSED,
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
        MESSAGE_SUPPRESSED,
        "report_message_suppressed",
        "A message a send rule stopped before delivery: its broadcast or sequence step.",
    ),
    (
        CONSENT_CHANGED,
        "report_consent_changed",
        "An unsubscribe from a message's link (a consent withdrawn naming the message).",
    ),
)

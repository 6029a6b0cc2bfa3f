"""Subscribers to every event analytics counts or scores."""

from __future__ import annotations

from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    CANDIDATE_CREATED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    TopicSpec,
)

# (topic, consumer group, description) of every subscription, in the order the service always
# subscribed them. The group names are deployed state (tests/unit/shared/test_consumer_groups.py).
SUBSCRIPTIONS: tuple[tuple[TopicSpec, str, str], ...] = (
    (
        CANDIDATE_CREATED,
        "on_candidate_created",
        "Counts candidates created per tenant and learns the tenant's candidates (the "
        "engagement route answers 404 for any other).",
    ),
    (MESSAGE_SENT, "on_message_sent", "Counts messages sent per tenant."),
    (
        MESSAGE_OPENED,
        "on_message_opened",
        "Counts messages opened by a person (not a bot); scores the candidate's engagement.",
    ),
    (
        MESSAGE_CLICKED,
        "on_message_clicked",
        "Counts messages clicked by a person (not a scanner); scores engagement.",
    ),
    (MESSAGE_REPLIED, "on_message_replied", "Scores the candidate's engagement."),
    (
        EVENT_REGISTERED,
        "on_event_registered",
        "Counts event registrations per tenant; scores the candidate's engagement.",
    ),
    (EVENT_CHECKED_IN, "on_event_checked_in", "Scores the candidate's engagement."),
    (ATS_APPLICATION_CREATED, "on_ats_application_created", "Counts ATS applications."),
    (ATS_APPLICATION_HIRED, "on_ats_application_hired", "Counts ATS hires."),
)

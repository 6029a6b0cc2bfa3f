"""Subscribers that keep the enrolment reports: the enrolment topics, each in a consumer group
of its own (so the reports were built from each topic's earliest retained event when they were
introduced)."""

from __future__ import annotations

from crm_shared import ENROLMENT_ENDED, ENROLMENT_STARTED, TopicSpec

# (topic, consumer group, description); the group names are deployed state
# (tests/unit/shared/test_consumer_groups.py).
SUBSCRIPTIONS: tuple[tuple[TopicSpec, str, str], ...] = (
    (
        ENROLMENT_STARTED,
        "report_enrolment_started",
        "A candidate entered a nurture sequence: its sequence and when.",
    ),
    (
        ENROLMENT_ENDED,
        "report_enrolment_ended",
        "An enrolment completed or exited early: when, and why.",
    ),
)

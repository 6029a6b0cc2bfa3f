"""Subscribers that keep the recruiting event reports: the event, registrant and ATS topics,
each in a consumer group of its own (apart from the counters' groups, so the reports were
built from each topic's earliest retained event when they were introduced)."""

from __future__ import annotations

from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    EVENT_ATTENDED,
    EVENT_CHECKED_IN,
    EVENT_INVITATION_CHANGED,
    EVENT_NO_SHOW,
    EVENT_REGISTERED,
    EVENT_REGISTRATION_CANCELLED,
    EVENT_WAITLISTED,
    TopicSpec,
)

# (topic, consumer group, description); the group names are deployed state
# (tests/unit/shared/test_consumer_groups.py).
SUBSCRIPTIONS: tuple[tuple[TopicSpec, str, str], ...] = (
    (
        EVENT_REGISTERED,
        "report_event_registered",
        "A registration holding a seat (promoted and walk-ins too), and the event's start.",
    ),
    (EVENT_WAITLISTED, "report_event_waitlisted", "A registration on the waitlist."),
    (
        EVENT_REGISTRATION_CANCELLED,
        "report_event_registration_cancelled",
        "A cancelled registration.",
    ),
    (EVENT_CHECKED_IN, "report_event_checked_in", "A registration checked in."),
    (EVENT_ATTENDED, "report_event_attended", "An attendee of a completed event."),
    (EVENT_NO_SHOW, "report_event_no_show", "A no-show of a completed event."),
    (
        EVENT_INVITATION_CHANGED,
        "report_event_invitation_changed",
        "An event moved (its start) or was cancelled.",
    ),
    (
        ATS_APPLICATION_CREATED,
        "report_ats_application_created",
        "An application, to tell which events' registrants applied.",
    ),
    (
        ATS_APPLICATION_HIRED,
        "report_ats_application_hired",
        "A hire, to tell which events' registrants were hired.",
    ),
)

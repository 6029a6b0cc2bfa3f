"""Subscribers for what candidates did elsewhere: events, ATS applications, replies, opens and
clicks; they enrol, record signals for branches, or end enrolments early. And what became of a
step's change elsewhere: a refusal is recorded on the enrolment."""

from __future__ import annotations

from crm_campaigns.application.enrolments import (
    end_for_applicant,
    end_for_hire,
    enrol_attendee,
    enrol_for_outcome,
    enrol_rejected_applicant,
    record_click,
    record_human_open,
    record_refused_change,
    record_registration,
    record_reply,
)
from crm_campaigns.handlers.subscriptions import Subscription, payload, timed_payload
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    CANDIDATE_CHANGE_REFUSED,
    EVENT_ATTENDED,
    EVENT_CHECKED_IN,
    EVENT_NO_SHOW,
    EVENT_REGISTERED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
)

ACTIVITY_SUBSCRIPTIONS = (
    Subscription(
        CANDIDATE_CHANGE_REFUSED,
        "on_candidate_change_refused",
        payload(record_refused_change),
        description="Records on its enrolment why a tag or move-stage step did nothing (the "
        "candidates service refused its change).",
    ),
    Subscription(
        EVENT_CHECKED_IN,
        "on_event_checked_in",
        payload(enrol_attendee),
        description="Enrols a candidate who attended an event in the sequences it triggers.",
    ),
    Subscription(
        EVENT_ATTENDED,
        "on_event_attended",
        payload(enrol_for_outcome),
        description="Enrols an attendee of a completed event in the sequences that follow up "
        "on attendance.",
    ),
    Subscription(
        EVENT_NO_SHOW,
        "on_event_no_show",
        payload(enrol_for_outcome),
        description="Enrols a no-show of a completed event in the sequences that follow up on "
        "no-shows.",
    ),
    Subscription(
        ATS_APPLICATION_REJECTED,
        "on_ats_application_rejected",
        payload(enrol_rejected_applicant),
        description="Enrols a candidate rejected in the ATS (at a qualifying stage) in sequences.",
    ),
    Subscription(
        ATS_APPLICATION_CREATED,
        "on_ats_application_created",
        payload(end_for_applicant),
        description="Ends a candidate's active enrolments once they applied in the ATS.",
    ),
    Subscription(
        ATS_APPLICATION_HIRED,
        "on_ats_application_hired",
        payload(end_for_hire),
        description="Ends a candidate's active enrolments once they were hired.",
    ),
    Subscription(
        MESSAGE_REPLIED,
        "on_message_replied",
        payload(record_reply),
        description="Records a reply for branches; ends enrolments of sequences that exit on it.",
    ),
    Subscription(
        MESSAGE_OPENED,
        "on_message_opened",
        timed_payload(record_human_open),
        description="Records a (human) open for sequence branches.",
    ),
    Subscription(
        MESSAGE_CLICKED,
        "on_message_clicked",
        timed_payload(record_click),
        description="Records a click for sequence branches.",
    ),
    Subscription(
        EVENT_REGISTERED,
        "on_event_registered",
        payload(record_registration),
        description="Records an event registration for sequence branches.",
    ),
)

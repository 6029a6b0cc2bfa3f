"""The consumer group of every subscription, pinned: a group's name is deployed state.

A group keeps its committed offsets and names its processed-event markers; renaming one (or the
handler that once gave it its name) would start the handler from the topic's beginning and
apply every retained event again. Changing this list must be a deliberate migration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from crm_analytics.config import AnalyticsSettings
from crm_analytics.main import create_app as create_analytics
from crm_ats_sync.config import AtsSyncSettings
from crm_ats_sync.main import create_app as create_ats_sync
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.main import create_app as create_campaigns
from crm_candidates.config import CandidatesSettings
from crm_candidates.main import create_app as create_candidates
from crm_events.config import EventsSettings
from crm_events.main import create_app as create_events
from crm_shared import IdempotentConsumer
from helpers import ats_secret_keys
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.unit

SECRETS: dict[str, Any] = {
    "internal_token_public_key": INTERNAL_TOKEN_PUBLIC_KEY,
    "link_signing_secret": "unit-tests-link-signing-secret-0123456789",
    "log_json": False,
}

# (consumer group, topic), sorted; the names every deployed consumer has committed offsets under.
GROUPS = [
    ("crm.analytics.journey_ats_application_created", "ats.application_created"),
    ("crm.analytics.journey_ats_application_hired", "ats.application_hired"),
    ("crm.analytics.journey_ats_application_rejected", "ats.application_rejected"),
    ("crm.analytics.journey_ats_application_stage_changed", "ats.application_stage_changed"),
    ("crm.analytics.journey_candidate_created", "candidate.created"),
    ("crm.analytics.journey_event_attended", "event.attended"),
    ("crm.analytics.journey_event_checked_in", "event.checked_in"),
    ("crm.analytics.journey_event_registered", "event.registered"),
    ("crm.analytics.journey_event_waitlisted", "event.waitlisted"),
    ("crm.analytics.journey_message_clicked", "message.clicked"),
    ("crm.analytics.journey_message_opened", "message.opened"),
    ("crm.analytics.journey_message_replied", "message.replied"),
    ("crm.analytics.journey_message_sent", "message.sent"),
    ("crm.analytics.journey_pool_stage_changed", "pool.stage_changed"),
    ("crm.analytics.journey_segment_entered", "segment.entered"),
    ("crm.analytics.on_ats_application_created", "ats.application_created"),
    ("crm.analytics.on_ats_application_hired", "ats.application_hired"),
    ("crm.analytics.on_candidate_created", "candidate.created"),
    ("crm.analytics.on_candidate_erased", "candidate.erased"),
    ("crm.analytics.on_candidate_merged", "candidate.merged"),
    ("crm.analytics.on_candidate_unmerged", "candidate.unmerged"),
    ("crm.analytics.on_event_checked_in", "event.checked_in"),
    ("crm.analytics.on_event_registered", "event.registered"),
    ("crm.analytics.on_message_clicked", "message.clicked"),
    ("crm.analytics.on_message_opened", "message.opened"),
    ("crm.analytics.on_message_replied", "message.replied"),
    ("crm.analytics.on_message_sent", "message.sent"),
    ("crm.analytics.pool_health_ats_application_created", "ats.application_created"),
    ("crm.analytics.pool_health_ats_application_hired", "ats.application_hired"),
    ("crm.analytics.pool_health_ats_application_rejected", "ats.application_rejected"),
    (
        "crm.analytics.pool_health_ats_application_stage_changed",
        "ats.application_stage_changed",
    ),
    ("crm.analytics.pool_health_pool_stage_changed", "pool.stage_changed"),
    ("crm.analytics.pool_health_pool_stage_renamed", "pool.stage_renamed"),
    ("crm.analytics.report_ats_application_created", "ats.application_created"),
    ("crm.analytics.report_ats_application_hired", "ats.application_hired"),
    ("crm.analytics.report_consent_changed", "consent.changed"),
    ("crm.analytics.report_enrolment_ended", "enrolment.ended"),
    ("crm.analytics.report_enrolment_started", "enrolment.started"),
    ("crm.analytics.report_event_attended", "event.attended"),
    ("crm.analytics.report_event_checked_in", "event.checked_in"),
    ("crm.analytics.report_event_invitation_changed", "event.invitation_changed"),
    ("crm.analytics.report_event_no_show", "event.no_show"),
    ("crm.analytics.report_event_registered", "event.registered"),
    ("crm.analytics.report_event_registration_cancelled", "event.registration_cancelled"),
    ("crm.analytics.report_event_waitlisted", "event.waitlisted"),
    ("crm.analytics.report_message_bounced", "message.bounced"),
    ("crm.analytics.report_message_clicked", "message.clicked"),
    ("crm.analytics.report_message_complained", "message.complained"),
    ("crm.analytics.report_message_opened", "message.opened"),
    ("crm.analytics.report_message_replied", "message.replied"),
    ("crm.analytics.report_message_sent", "message.sent"),
    ("crm.analytics.report_message_suppressed", "message.suppressed"),
    ("crm.ats-sync.on_candidate_created", "candidate.created"),
    ("crm.ats-sync.on_candidate_erased", "candidate.erased"),
    ("crm.ats-sync.on_candidate_merged", "candidate.merged"),
    ("crm.ats-sync.on_candidate_unmerged", "candidate.unmerged"),
    ("crm.ats-sync.on_candidate_updated", "candidate.updated"),
    ("crm.ats-sync.on_consent_changed", "consent.changed"),
    ("crm.campaigns.mail_event_confirmation", "event.registered"),
    ("crm.campaigns.mail_event_invitation_changed", "event.invitation_changed"),
    ("crm.campaigns.mail_event_reminder", "event.reminder_requested"),
    ("crm.campaigns.mail_event_waitlisted", "event.waitlisted"),
    ("crm.campaigns.mail_user_invitation", "user.invited"),
    ("crm.campaigns.mail_weekly_report", "report.compiled"),
    ("crm.campaigns.on_ats_application_created", "ats.application_created"),
    ("crm.campaigns.on_ats_application_hired", "ats.application_hired"),
    ("crm.campaigns.on_ats_application_rejected", "ats.application_rejected"),
    ("crm.campaigns.on_candidate_change_refused", "candidate.change_refused"),
    ("crm.campaigns.on_candidate_created", "candidate.created"),
    (
        "crm.campaigns.on_candidate_custom_fields_backfilled",
        "candidate.custom_fields_backfilled",
    ),
    ("crm.campaigns.on_candidate_erased", "candidate.erased"),
    ("crm.campaigns.on_candidate_erased_suppress", "candidate.erased"),
    ("crm.campaigns.on_candidate_merged", "candidate.merged"),
    ("crm.campaigns.on_candidate_unmerged", "candidate.unmerged"),
    ("crm.campaigns.on_candidate_updated", "candidate.updated"),
    ("crm.campaigns.on_consent_changed", "consent.changed"),
    ("crm.campaigns.on_consent_confirmation_requested", "consent.confirmation_requested"),
    ("crm.campaigns.on_custom_field_changed", "profile.custom_field_changed"),
    ("crm.campaigns.on_event_attended", "event.attended"),
    ("crm.campaigns.on_event_checked_in", "event.checked_in"),
    ("crm.campaigns.on_event_no_show", "event.no_show"),
    ("crm.campaigns.on_event_registered", "event.registered"),
    ("crm.campaigns.on_job_changed", "job.changed"),
    ("crm.campaigns.on_list_archived", "list.archived"),
    ("crm.campaigns.on_list_member_added", "list.member_added"),
    ("crm.campaigns.on_list_member_removed", "list.member_removed"),
    ("crm.campaigns.on_message_clicked", "message.clicked"),
    ("crm.campaigns.on_message_opened", "message.opened"),
    ("crm.campaigns.on_message_replied", "message.replied"),
    ("crm.campaigns.on_pool_saved", "pool.saved"),
    ("crm.campaigns.on_pool_stage_changed", "pool.stage_changed"),
    ("crm.campaigns.on_pool_stage_renamed", "pool.stage_renamed"),
    ("crm.campaigns.on_segment_entered", "segment.entered"),
    ("crm.campaigns.on_segment_exited", "segment.exited"),
    ("crm.candidates.on_ats_application_created", "ats.application_created"),
    ("crm.candidates.on_ats_application_hired", "ats.application_hired"),
    ("crm.candidates.on_ats_application_rejected", "ats.application_rejected"),
    ("crm.candidates.on_ats_application_stage_changed", "ats.application_stage_changed"),
    ("crm.candidates.on_ats_candidate_pushed", "ats.candidate_pushed"),
    ("crm.candidates.on_candidate_change_requested", "candidate.change_requested"),
    ("crm.candidates.on_consent_changed", "consent.changed"),
    ("crm.candidates.on_engagement_scored", "engagement.scored"),
    ("crm.candidates.on_enrolment_ended", "enrolment.ended"),
    ("crm.candidates.on_enrolment_started", "enrolment.started"),
    ("crm.candidates.on_event_attended", "event.attended"),
    ("crm.candidates.on_event_checked_in", "event.checked_in"),
    ("crm.candidates.on_event_no_show", "event.no_show"),
    ("crm.candidates.on_event_registered", "event.registered"),
    ("crm.candidates.on_event_registration_cancelled", "event.registration_cancelled"),
    ("crm.candidates.on_event_waitlisted", "event.waitlisted"),
    ("crm.candidates.on_message_bounced", "message.bounced"),
    ("crm.candidates.on_message_clicked", "message.clicked"),
    ("crm.candidates.on_message_complained", "message.complained"),
    ("crm.candidates.on_message_opened", "message.opened"),
    ("crm.candidates.on_message_replied", "message.replied"),
    ("crm.candidates.on_message_sent", "message.sent"),
    ("crm.candidates.on_message_suppressed", "message.suppressed"),
    ("crm.candidates.on_pool_stage_changed", "pool.stage_changed"),
    ("crm.candidates.on_sequence_saved", "sequence.saved"),
    ("crm.events.on_candidate_created", "candidate.created"),
    ("crm.events.on_candidate_erased", "candidate.erased"),
    ("crm.events.on_candidate_merged", "candidate.merged"),
    ("crm.events.on_candidate_unmerged", "candidate.unmerged"),
    ("crm.events.on_candidate_updated", "candidate.updated"),
]

SERVICES: list[Callable[[], FastAPI]] = [
    lambda: create_analytics(AnalyticsSettings(**SECRETS)),
    lambda: create_ats_sync(AtsSyncSettings(ats_secret_keys=ats_secret_keys(), **SECRETS)),
    lambda: create_campaigns(
        CampaignsSettings(tracking_secret="unit-tests-tracking-secret-0123456789", **SECRETS)
    ),
    lambda: create_candidates(CandidatesSettings(**SECRETS)),
    lambda: create_events(EventsSettings(**SECRETS)),
]


def declared_groups() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for create in SERVICES:
        consumer: IdempotentConsumer = create().state.platform.require_consumer()
        found.extend((group, topic) for topic, group in consumer.groups)
    return sorted(found)


def test_every_consumer_group_keeps_its_deployed_name() -> None:
    assert declared_groups() == GROUPS


def test_the_broker_subscribes_exactly_the_declared_groups() -> None:
    for create in SERVICES:
        platform = create().state.platform
        subscribed = sorted(subscriber.group_id for subscriber in platform.broker.subscribers)
        declared = sorted(group for _, group in platform.require_consumer().groups)
        assert subscribed == declared

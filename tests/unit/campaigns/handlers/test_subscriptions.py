"""The subscribers' names are their consumer groups and processed-event marker prefixes: a rename
would replay a topic from its beginning, so they are pinned here."""

from __future__ import annotations

from typing import Any, cast

import pytest
from faststream.kafka import KafkaRouter

from crm_campaigns.handlers import build_router
from crm_shared import BatchHandler, Database, EventHandler, IdempotentConsumer, TopicSpec

pytestmark = pytest.mark.unit

SUBSCRIBERS = {
    ("ats.application_created", "on_ats_application_created"),
    ("ats.application_hired", "on_ats_application_hired"),
    ("ats.application_rejected", "on_ats_application_rejected"),
    ("candidate.change_refused", "on_candidate_change_refused"),
    ("candidate.created", "on_candidate_created"),
    ("candidate.custom_fields_backfilled", "on_candidate_custom_fields_backfilled"),
    ("candidate.erased", "on_candidate_erased_suppress"),
    ("candidate.merged", "on_candidate_merged"),
    ("candidate.unmerged", "on_candidate_unmerged"),
    ("candidate.updated", "on_candidate_updated"),
    ("consent.changed", "on_consent_changed"),
    ("profile.custom_field_changed", "on_custom_field_changed"),
    ("event.attended", "on_event_attended"),
    ("event.checked_in", "on_event_checked_in"),
    ("event.no_show", "on_event_no_show"),
    ("event.registered", "on_event_registered"),
    ("job.changed", "on_job_changed"),
    ("list.archived", "on_list_archived"),
    ("list.member_added", "on_list_member_added"),
    ("list.member_removed", "on_list_member_removed"),
    ("message.clicked", "on_message_clicked"),
    ("message.opened", "on_message_opened"),
    ("message.replied", "on_message_replied"),
    ("pool.saved", "on_pool_saved"),
    ("pool.stage_changed", "on_pool_stage_changed"),
    ("pool.stage_renamed", "on_pool_stage_renamed"),
    ("segment.entered", "on_segment_entered"),
    ("segment.exited", "on_segment_exited"),
}


class RecordingConsumer:
    def __init__(self) -> None:
        self.subscribed: list[tuple[str, str]] = []

    def subscribe(
        self,
        router: KafkaRouter,
        spec: TopicSpec,
        handler: EventHandler,
        *,
        group: str,
        description: str,
    ) -> None:
        assert description
        self.subscribed.append((spec.name, group))

    def subscribe_batch(
        self,
        router: KafkaRouter,
        spec: TopicSpec,
        handler: BatchHandler,
        *,
        group: str,
        description: str,
    ) -> None:
        self.subscribe(
            router, spec, cast(EventHandler, handler), group=group, description=description
        )


def test_every_subscriber_keeps_its_topic_and_name() -> None:
    consumer = RecordingConsumer()
    build_router(cast(IdempotentConsumer, consumer), cast(Database, cast(Any, None)))
    assert sorted(consumer.subscribed) == sorted(SUBSCRIBERS)

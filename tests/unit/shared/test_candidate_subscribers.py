"""The candidates-topic subscribers services share: their handler names are consumer groups and
idempotency keys, so they must never change; each topic reaches its step."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import pytest
from faststream.kafka import KafkaRouter

from crm_shared import (
    CANDIDATE_CREATED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_UPDATED,
    IdempotentConsumer,
    TopicSpec,
)
from crm_shared.candidate_subscribers import CandidateSubscribers, CandidateTopicDescriptions

pytestmark = pytest.mark.unit


class RecordingSteps:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    async def know(self, tenant_id: str, profile: Any, *, as_of: Any, session: Any) -> None:
        self.calls.append(("know", tenant_id, profile))

    async def fold_merged(self, tenant_id: str, merged: Any, *, session: Any) -> None:
        self.calls.append(("fold_merged", tenant_id, merged))

    async def unfold_unmerged(self, tenant_id: str, unmerged: Any, *, session: Any) -> None:
        self.calls.append(("unfold_unmerged", tenant_id, unmerged))


class RecordingConsumer:
    def __init__(self) -> None:
        self.subscribed: list[tuple[str, str, str]] = []
        self.handlers: dict[str, Any] = {}

    def subscribe(
        self, router: Any, topic: TopicSpec, handler: Any, *, group: str, description: str
    ) -> None:
        self.subscribed.append((topic.name, group, description))
        self.handlers[topic.name] = handler


class Envelope:
    def __init__(self, tenant_id: str, data: str) -> None:
        self.tenant_id = tenant_id
        self.data = data
        self.time = datetime(2026, 12, 4, tzinfo=UTC)


def subscribers(steps: RecordingSteps) -> CandidateSubscribers:
    return CandidateSubscribers(steps, CandidateTopicDescriptions("m", "u", "c", "up"))


def test_the_handler_names_and_order_never_change() -> None:
    consumer = RecordingConsumer()
    subscribers(RecordingSteps()).subscribe(cast(IdempotentConsumer, consumer), KafkaRouter())
    assert consumer.subscribed == [
        (CANDIDATE_MERGED.name, "on_candidate_merged", "m"),
        (CANDIDATE_UNMERGED.name, "on_candidate_unmerged", "u"),
        (CANDIDATE_CREATED.name, "on_candidate_created", "c"),
        (CANDIDATE_UPDATED.name, "on_candidate_updated", "up"),
    ]


async def test_each_topic_reaches_its_step_with_the_envelopes_tenant() -> None:
    steps = RecordingSteps()
    consumer = RecordingConsumer()
    subscribers(steps).subscribe(cast(IdempotentConsumer, consumer), KafkaRouter())
    for topic in (CANDIDATE_CREATED, CANDIDATE_UPDATED, CANDIDATE_MERGED, CANDIDATE_UNMERGED):
        await consumer.handlers[topic.name](Envelope("acme", topic.name), None)
    assert steps.calls == [
        ("know", "acme", CANDIDATE_CREATED.name),
        ("know", "acme", CANDIDATE_UPDATED.name),
        ("fold_merged", "acme", CANDIDATE_MERGED.name),
        ("unfold_unmerged", "acme", CANDIDATE_UNMERGED.name),
    ]

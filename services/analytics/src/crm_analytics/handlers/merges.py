"""Subscribers to candidate merges and their undo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaRouter

from crm_analytics.application.merges import MergeFollower
from crm_shared import (
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    EventEnvelope,
    IdempotentConsumer,
    Session,
)


@dataclass(frozen=True)
class MergeSubscribers:
    follower: MergeFollower

    async def on_candidate_merged(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.follower.fold(envelope.tenant_id, envelope.data, session=session)

    async def on_candidate_unmerged(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.follower.unfold(envelope.tenant_id, envelope.data, session=session)

    def subscribe(self, consumer: IdempotentConsumer, router: KafkaRouter) -> None:
        consumer.subscribe(
            router,
            CANDIDATE_MERGED,
            self.on_candidate_merged,
            group="on_candidate_merged",
            description="Counts the merged record's activities in the survivor's engagement "
            "score, and a late activity of the merged id too.",
        )
        consumer.subscribe(
            router,
            CANDIDATE_UNMERGED,
            self.on_candidate_unmerged,
            group="on_candidate_unmerged",
            description="Gives each record back its own activities and scores both again.",
        )

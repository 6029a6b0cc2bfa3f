"""Subscribers to the candidates service's events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaRouter

from crm_ats_sync.application.candidates import (
    fold_merged_candidate,
    know_candidate,
    unfold_unmerged_candidate,
)
from crm_ats_sync.application.storage import AtsStorage
from crm_shared import (
    CANDIDATE_CREATED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_UPDATED,
    EventEnvelope,
    IdempotentConsumer,
    Session,
)


@dataclass(frozen=True)
class CandidateSubscribers:
    """One subscriber per candidates topic; each handler's name is its consumer group."""

    storage: AtsStorage

    async def on_candidate_created(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await know_candidate(self.storage, envelope.tenant_id, envelope.data, session=session)

    async def on_candidate_updated(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await know_candidate(self.storage, envelope.tenant_id, envelope.data, session=session)

    async def on_candidate_merged(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await fold_merged_candidate(
            self.storage, envelope.tenant_id, envelope.data, session=session
        )

    async def on_candidate_unmerged(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await unfold_unmerged_candidate(
            self.storage, envelope.tenant_id, envelope.data, session=session
        )

    def subscribe(self, consumer: IdempotentConsumer, router: KafkaRouter) -> None:
        """Subscribes every handler, in the order the service always subscribed them."""
        consumer.subscribe(
            router,
            CANDIDATE_MERGED,
            self.on_candidate_merged,
            description="Moves a merged candidate's applications and addresses to the survivor.",
        )
        consumer.subscribe(
            router,
            CANDIDATE_UNMERGED,
            self.on_candidate_unmerged,
            description="Moves back the applications a merge moved; relearns both addresses.",
        )
        consumer.subscribe(
            router,
            CANDIDATE_CREATED,
            self.on_candidate_created,
            description="Learns candidates' emails, to match ATS applicants to them.",
        )
        consumer.subscribe(
            router,
            CANDIDATE_UPDATED,
            self.on_candidate_updated,
            description="Keeps the email-to-candidate directory current.",
        )

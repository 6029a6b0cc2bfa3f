"""Subscribers to the candidates service's events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faststream.kafka import KafkaRouter

from crm_events.application.candidates import (
    fold_merged_candidate,
    know_candidate,
    unfold_unmerged_candidate,
)
from crm_events.application.storage import EventsStorage
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

    storage: EventsStorage

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
            description="Moves a merged candidate's registrations and addresses to the survivor.",
        )
        consumer.subscribe(
            router,
            CANDIDATE_UNMERGED,
            self.on_candidate_unmerged,
            description="Moves back the registrations a merge moved; relearns both addresses.",
        )
        consumer.subscribe(
            router,
            CANDIDATE_CREATED,
            self.on_candidate_created,
            description="Learns which email belongs to which candidate, to match registrants; "
            "announces the attendance of walk-ins nobody knew before.",
        )
        consumer.subscribe(
            router,
            CANDIDATE_UPDATED,
            self.on_candidate_updated,
            description="Keeps the email-to-candidate directory current.",
        )

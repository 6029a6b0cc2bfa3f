"""The subscribers with which a service keeps its own copy of candidates current.

Events and ats-sync (and any service matching outside people to candidates) learn profiles
from `candidate.created` / `candidate.updated` and follow merges and unmerges; only what each
step does differs. The handlers' names are their consumer groups and idempotency keys, so they
are declared here once and never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from faststream.kafka import KafkaRouter

from crm_shared.consumer import IdempotentConsumer
from crm_shared.contracts.catalog import (
    CANDIDATE_CREATED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_UPDATED,
)
from crm_shared.contracts.envelope import EventEnvelope
from crm_shared.contracts.events import CandidateMerged, CandidateProfile, CandidateUnmerged
from crm_shared.mongo import Session


class CandidateProjectionSteps(Protocol):
    """What a service does with each candidates-service event."""

    async def know(
        self, tenant_id: str, profile: CandidateProfile, *, as_of: datetime, session: Session
    ) -> None:
        """A candidate was created or changed; `as_of` is when the candidates service published
        it. `candidate.created` and `candidate.updated` are consumed apart, so a profile can
        arrive after a newer one: what a step keeps of the profile must not go back to it."""
        ...

    async def fold_merged(
        self, tenant_id: str, merged: CandidateMerged, *, session: Session
    ) -> None:
        """Two candidates were merged: what belonged to the folded one goes to the survivor."""
        ...

    async def unfold_unmerged(
        self, tenant_id: str, unmerged: CandidateUnmerged, *, session: Session
    ) -> None:
        """A merge was undone: what it moved goes back."""
        ...


@dataclass(frozen=True)
class CandidateTopicDescriptions:
    """What each subscriber does, for the service's AsyncAPI document."""

    merged: str
    unmerged: str
    created: str
    updated: str


@dataclass(frozen=True)
class CandidateSubscribers:
    """One subscriber per candidates topic; each handler's name is its consumer group."""

    steps: CandidateProjectionSteps
    descriptions: CandidateTopicDescriptions

    async def on_candidate_created(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.steps.know(
            envelope.tenant_id, envelope.data, as_of=envelope.time, session=session
        )

    async def on_candidate_updated(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.steps.know(
            envelope.tenant_id, envelope.data, as_of=envelope.time, session=session
        )

    async def on_candidate_merged(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.steps.fold_merged(envelope.tenant_id, envelope.data, session=session)

    async def on_candidate_unmerged(self, envelope: EventEnvelope[Any], session: Session) -> None:
        await self.steps.unfold_unmerged(envelope.tenant_id, envelope.data, session=session)

    def subscribe(self, consumer: IdempotentConsumer, router: KafkaRouter) -> None:
        """Subscribes every handler, in the order the services always subscribed them."""
        described = self.descriptions
        consumer.subscribe(
            router,
            CANDIDATE_MERGED,
            self.on_candidate_merged,
            group="on_candidate_merged",
            description=described.merged,
        )
        consumer.subscribe(
            router,
            CANDIDATE_UNMERGED,
            self.on_candidate_unmerged,
            group="on_candidate_unmerged",
            description=described.unmerged,
        )
        consumer.subscribe(
            router,
            CANDIDATE_CREATED,
            self.on_candidate_created,
            group="on_candidate_created",
            description=described.created,
        )
        consumer.subscribe(
            router,
            CANDIDATE_UPDATED,
            self.on_candidate_updated,
            group="on_candidate_updated",
            description=described.updated,
        )

"""The subscribers with which a service keeps its own copy of candidates current.

Events and ats-sync (and any service matching outside people to candidates) learn profiles
from `candidate.created` / `candidate.updated` and follow merges and unmerges; only what each
step does differs. The handlers' names are their consumer groups and idempotency keys, so they
are declared here once and never renamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from faststream.kafka import KafkaRouter

from crm_shared.consumer import IdempotentConsumer, by_tenant
from crm_shared.contracts.catalog import (
    CANDIDATE_CREATED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_UPDATED,
)
from crm_shared.contracts.envelope import EventEnvelope
from crm_shared.contracts.events import CandidateMerged, CandidateUnmerged
from crm_shared.directory import ProfileChange
from crm_shared.mongo import Session


class CandidateProjectionSteps(Protocol):
    """What a service does with each candidates-service event."""

    async def know(
        self, tenant_id: str, changes: Sequence[ProfileChange], *, session: Session
    ) -> None:
        """Candidates were created or changed: one tenant's profiles from a fetched batch, in
        the order they were published; the state left must be that of each applied in turn."""
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

    async def on_candidate_created(
        self, envelopes: Sequence[EventEnvelope[Any]], session: Session
    ) -> None:
        await self._know(envelopes, session)

    async def on_candidate_updated(
        self, envelopes: Sequence[EventEnvelope[Any]], session: Session
    ) -> None:
        await self._know(envelopes, session)

    async def _know(self, envelopes: Sequence[EventEnvelope[Any]], session: Session) -> None:
        for tenant_id, events in by_tenant(envelopes).items():
            changes = [ProfileChange(event.data, event.time) for event in events]
            await self.steps.know(tenant_id, changes, session=session)

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
        consumer.subscribe_batch(
            router,
            CANDIDATE_CREATED,
            self.on_candidate_created,
            group="on_candidate_created",
            description=described.created,
        )
        consumer.subscribe_batch(
            router,
            CANDIDATE_UPDATED,
            self.on_candidate_updated,
            group="on_candidate_updated",
            description=described.updated,
        )

"""Kafka subscribers of the ats-sync service."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_ats_sync.repository import AtsRepository
from crm_shared import (
    CANDIDATE_CREATED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_UPDATED,
    CandidateDirectory,
    CandidateMerged,
    CandidateUnmerged,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    Session,
)


def build_router(consumer: IdempotentConsumer, database: Database) -> KafkaRouter:
    """The ats-sync service's subscribers."""
    router = KafkaRouter()

    async def on_candidate_created(envelope: EventEnvelope[Any], session: Session) -> None:
        await CandidateDirectory(database, envelope.tenant_id).learn(envelope.data, session=session)

    async def on_candidate_updated(envelope: EventEnvelope[Any], session: Session) -> None:
        await CandidateDirectory(database, envelope.tenant_id).learn(envelope.data, session=session)

    async def on_candidate_merged(envelope: EventEnvelope[Any], session: Session) -> None:
        merged: CandidateMerged = envelope.data
        folded, survivor = merged.merged_candidate_id, merged.survivor_candidate_id
        directory = CandidateDirectory(database, envelope.tenant_id)
        await directory.reassign(folded, survivor, session=session)
        await directory.learn(merged.survivor, session=session)
        await AtsRepository(database, envelope.tenant_id).fold_into(
            folded, survivor, merged.merge_id, session=session
        )

    async def on_candidate_unmerged(envelope: EventEnvelope[Any], session: Session) -> None:
        unmerged: CandidateUnmerged = envelope.data
        directory = CandidateDirectory(database, envelope.tenant_id)
        await directory.learn(unmerged.restored, session=session)
        await directory.learn(unmerged.survivor, session=session)
        await AtsRepository(database, envelope.tenant_id).unfold(unmerged.merge_id, session=session)

    consumer.subscribe(
        router,
        CANDIDATE_MERGED,
        on_candidate_merged,
        description="Moves a merged candidate's applications and addresses to the survivor.",
    )
    consumer.subscribe(
        router,
        CANDIDATE_UNMERGED,
        on_candidate_unmerged,
        description="Moves back the applications a merge moved; relearns both addresses.",
    )
    consumer.subscribe(
        router,
        CANDIDATE_CREATED,
        on_candidate_created,
        description="Learns candidates' emails, to match ATS applicants to them.",
    )
    consumer.subscribe(
        router,
        CANDIDATE_UPDATED,
        on_candidate_updated,
        description="Keeps the email-to-candidate directory current.",
    )
    return router

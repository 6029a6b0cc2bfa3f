"""Kafka subscribers of the events service."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_events.publishers import announce_attendance
from crm_events.repository import EventRepository
from crm_shared import (
    CANDIDATE_CREATED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_UPDATED,
    CandidateDirectory,
    CandidateMerged,
    CandidateProfile,
    CandidateUnmerged,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    Outbox,
    Session,
)


def build_router(consumer: IdempotentConsumer, database: Database, outbox: Outbox) -> KafkaRouter:
    """The events service's subscribers."""
    router = KafkaRouter()

    async def know_candidate(envelope: EventEnvelope[Any], session: Session) -> None:
        profile: CandidateProfile = envelope.data
        emails = await CandidateDirectory(database, envelope.tenant_id).learn(
            profile, session=session
        )
        events = EventRepository(database, envelope.tenant_id)
        for email in emails:
            await events.link_candidate(email, profile.candidate_id, session=session)
        # Attendees checked in before they were known are announced now.
        for registration in await events.unannounced_attendance(
            profile.candidate_id, session=session
        ):
            event = await events.get(registration.event_id, session=session)
            if event is not None:
                await announce_attendance(outbox, events, event, registration, session=session)

    async def on_candidate_created(envelope: EventEnvelope[Any], session: Session) -> None:
        await know_candidate(envelope, session)

    async def on_candidate_updated(envelope: EventEnvelope[Any], session: Session) -> None:
        await know_candidate(envelope, session)

    async def on_candidate_merged(envelope: EventEnvelope[Any], session: Session) -> None:
        merged: CandidateMerged = envelope.data
        folded, survivor = merged.merged_candidate_id, merged.survivor_candidate_id
        directory = CandidateDirectory(database, envelope.tenant_id)
        await directory.reassign(folded, survivor, session=session)
        await directory.learn(merged.survivor, session=session)
        await EventRepository(database, envelope.tenant_id).fold_into(
            folded, survivor, merged.merge_id, session=session
        )

    async def on_candidate_unmerged(envelope: EventEnvelope[Any], session: Session) -> None:
        unmerged: CandidateUnmerged = envelope.data
        directory = CandidateDirectory(database, envelope.tenant_id)
        await directory.learn(unmerged.restored, session=session)
        await directory.learn(unmerged.survivor, session=session)
        await EventRepository(database, envelope.tenant_id).unfold(
            unmerged.merge_id, session=session
        )

    consumer.subscribe(
        router,
        CANDIDATE_MERGED,
        on_candidate_merged,
        description="Moves a merged candidate's registrations and addresses to the survivor.",
    )
    consumer.subscribe(
        router,
        CANDIDATE_UNMERGED,
        on_candidate_unmerged,
        description="Moves back the registrations a merge moved; relearns both addresses.",
    )
    consumer.subscribe(
        router,
        CANDIDATE_CREATED,
        on_candidate_created,
        description="Learns which email belongs to which candidate, to match registrants; "
        "announces the attendance of walk-ins nobody knew before.",
    )
    consumer.subscribe(
        router,
        CANDIDATE_UPDATED,
        on_candidate_updated,
        description="Keeps the email-to-candidate directory current.",
    )
    return router

"""Kafka subscribers of the candidates service."""

from __future__ import annotations

import logging
from typing import Any

from faststream.kafka import KafkaRouter

from crm_candidates.commands import CandidateWriter, PoolCommands
from crm_candidates.domain.models import Candidate, CandidateSource
from crm_candidates.domain.pools import UnknownStageError, resolve_stage
from crm_candidates.domain.profile import changed_tags
from crm_candidates.repository import CandidateRepository, PoolRepository, SegmentRepository
from crm_shared import (
    CANDIDATE_CHANGE_REQUESTED,
    EVENT_REGISTERED,
    CandidateChangeRequested,
    Database,
    EventEnvelope,
    EventRegistered,
    IdempotentConsumer,
    MongoClient,
    Outbox,
    Session,
    UndecodableEventError,
    normalise_email,
)

# Records created from other services' events name the service as their creator.
EVENTS_SERVICE_USER = "service:events"
# How far a change request follows merges (A into B into C ...) to the surviving record.
MAX_MERGE_HOPS = 10

logger = logging.getLogger(__name__)


def build_router(
    consumer: IdempotentConsumer, mongo: MongoClient, database: Database, outbox: Outbox
) -> KafkaRouter:
    """The candidates service's subscribers."""
    router = KafkaRouter()

    async def on_event_registered(envelope: EventEnvelope[Any], session: Session) -> None:
        registration: EventRegistered = envelope.data
        candidates = CandidateRepository(database, envelope.tenant_id)
        email = normalise_email(registration.email)
        if registration.candidate_id is not None:
            return
        if await candidates.find_by_emails([email], session=session) is not None:
            return
        writer = CandidateWriter(
            mongo, outbox, candidates, SegmentRepository(database, envelope.tenant_id)
        )
        await writer.add(
            Candidate(
                tenant_id=envelope.tenant_id,
                created_by=EVENTS_SERVICE_USER,
                first_name=registration.first_name,
                last_name=registration.last_name,
                emails=[email],
                source=CandidateSource.EVENT,
            ),
            session=session,
        )

    async def on_candidate_change_requested(envelope: EventEnvelope[Any], session: Session) -> None:
        request: CandidateChangeRequested = envelope.data
        tenant_id = envelope.tenant_id
        candidates = CandidateRepository(database, tenant_id)
        writer = CandidateWriter(mongo, outbox, candidates, SegmentRepository(database, tenant_id))
        pools = PoolRepository(database, tenant_id)
        # Everything is checked before anything changes: a request naming something the tenant
        # does not have can never succeed, so it is unusable (dead-lettered, not retried).
        candidate = await candidates.get(request.candidate_id, session=session)
        if candidate is None:
            raise UndecodableEventError(f"no candidate {request.candidate_id} in the tenant")
        # A request may have been asked for a record merged since: it applies to the survivor.
        for _ in range(MAX_MERGE_HOPS):
            if candidate is None or candidate.merged_into is None:
                break
            candidate = await candidates.get(candidate.merged_into, session=session)
        if candidate is None or not candidate.is_active:
            logger.info(
                "change requested for candidate %s, which is no longer active: nothing to do",
                request.candidate_id,
            )
            return
        candidate_id = candidate.id
        if (request.pool_id is None) != (request.stage is None):
            raise UndecodableEventError("a pool move needs both pool_id and stage")
        pool = None
        if request.pool_id is not None:
            pool = await pools.get(request.pool_id, session=session)
            if pool is None:
                raise UndecodableEventError(f"no pool {request.pool_id} in the tenant")
            try:
                stage = resolve_stage(pool, request.stage)
            except UnknownStageError as unknown:
                raise UndecodableEventError(str(unknown)) from None
        if request.add_tags or request.remove_tags:
            await writer.change_in(
                candidate_id,
                lambda candidate: candidate.model_copy(
                    update={
                        "tags": changed_tags(
                            candidate.tags, add=request.add_tags, remove=request.remove_tags
                        )
                    }
                ),
                session=session,
            )
        if pool is not None:
            await PoolCommands(mongo, outbox, pools, writer).place_in(
                pool, candidate_id, stage, by=request.requested_by, session=session
            )

    consumer.subscribe(
        router,
        CANDIDATE_CHANGE_REQUESTED,
        on_candidate_change_requested,
        description="Adds or removes tags and moves the candidate in a talent pool as asked "
        "(by a sequence step), through the same commands as the API, on the surviving record "
        "of a merged candidate; a request naming an unknown candidate, pool or stage is "
        "dead-lettered.",
    )

    consumer.subscribe(
        router,
        EVENT_REGISTERED,
        on_event_registered,
        description="Creates a candidate for an event registrant nobody knew yet (matched by "
        "email, so a known person is never duplicated).",
    )
    return router

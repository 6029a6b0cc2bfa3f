"""Kafka subscribers of the candidates service.

Facts from other services (event registrations and attendance, ATS applications, engagement
scores) are projected onto the candidate document, re-evaluating only that candidate's segment
memberships in the handler's transaction; every event about a candidate also becomes an entry
of the candidate's activity timeline.

An event about a candidate this service does not hold (never known, erased, or in another
tenant) is ignored with a log line rather than dead-lettered: the message itself is valid, no
retry or replay can make the candidate appear, and a dead-letter queue filling with such events
would hide the messages that really need a person. Erased people must not reappear in a
timeline either, which is why nothing is kept for them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from faststream.kafka import KafkaRouter

from crm_candidates.application.candidates import CandidateWriter
from crm_candidates.application.pools import PoolCommands
from crm_candidates.domain.models import AtsStatus, Candidate, CandidateSource, unique_in_order
from crm_candidates.domain.pools import UnknownStageError, resolve_stage_following_renames
from crm_candidates.domain.profile import changed_tags
from crm_candidates.domain.timeline import timeline_entry
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.pools import PoolRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.sequence_references import SequenceReferenceRepository
from crm_candidates.repositories.timeline import TimelineRepository
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    CANDIDATE_CHANGE_REQUESTED,
    CONSENT_CHANGED,
    ENGAGEMENT_SCORED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    MESSAGE_BOUNCED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    POOL_STAGE_CHANGED,
    SEQUENCE_SAVED,
    AtsApplicationChange,
    AtsApplicationCreated,
    CandidateChangeRequested,
    Database,
    EngagementScored,
    EventCheckedIn,
    EventEnvelope,
    EventRegistered,
    IdempotentConsumer,
    MessageOpened,
    MongoClient,
    Outbox,
    SequenceSaved,
    Session,
    TopicSpec,
    UndecodableEventError,
    normalise_email,
)

# Records created from other services' events name the service as their creator.
EVENTS_SERVICE_USER = "service:events"
# How far a change request follows merges (A into B into C ...) to the surviving record.
MAX_MERGE_HOPS = 10

logger = logging.getLogger(__name__)

ATS_STATUS_BY_TOPIC = {
    ATS_APPLICATION_CREATED.name: AtsStatus.APPLIED,
    ATS_APPLICATION_STAGE_CHANGED.name: AtsStatus.IN_PROCESS,
    ATS_APPLICATION_REJECTED.name: AtsStatus.REJECTED,
    ATS_APPLICATION_HIRED.name: AtsStatus.HIRED,
}

logger = logging.getLogger(__name__)

Handler = Callable[[EventEnvelope[Any], Session], Awaitable[None]]


def build_router(
    consumer: IdempotentConsumer, mongo: MongoClient, database: Database, outbox: Outbox
) -> KafkaRouter:
    """The candidates service's subscribers."""
    router = KafkaRouter()

    def writer(tenant_id: str) -> CandidateWriter:
        return CandidateWriter(
            mongo,
            outbox,
            CandidateRepository(database, tenant_id),
            SegmentRepository(database, tenant_id),
        )

    async def find(
        envelope: EventEnvelope[Any],
        candidate_id: str | None,
        email: str | None,
        *,
        session: Session,
    ) -> Candidate | None:
        candidates = CandidateRepository(database, envelope.tenant_id)
        found = None
        if candidate_id is not None:
            found = await candidates.get(candidate_id, session=session)
        elif email:
            found = await candidates.find_by_emails([normalise_email(email)], session=session)
        if found is None:
            logger.info(
                "ignoring %s %s: no candidate %s in tenant %s",
                envelope.type,
                envelope.id,
                candidate_id or "with that email",
                envelope.tenant_id,
            )
        return found

    async def on_timeline(
        envelope: EventEnvelope[Any], candidate_id: str, session: Session
    ) -> None:
        timeline = TimelineRepository(database, envelope.tenant_id)
        await timeline.record(timeline_entry(envelope, candidate_id), session=session)

    async def on_event_registered(envelope: EventEnvelope[Any], session: Session) -> None:
        registration: EventRegistered = envelope.data
        candidates = CandidateRepository(database, envelope.tenant_id)
        candidate: Candidate | None
        if registration.candidate_id is not None:
            candidate = await find(envelope, registration.candidate_id, None, session=session)
        else:
            email = normalise_email(registration.email)
            candidate = await candidates.find_by_emails([email], session=session)
            if candidate is None:
                # A registrant nobody knew becomes a candidate (matched by email, so a known
                # person is never duplicated).
                candidate = Candidate(
                    tenant_id=envelope.tenant_id,
                    created_by=EVENTS_SERVICE_USER,
                    first_name=registration.first_name,
                    last_name=registration.last_name,
                    emails=[email],
                    source=CandidateSource.EVENT,
                    events_registered=[registration.event_id],
                )
                await writer(envelope.tenant_id).add(candidate, session=session)
        if candidate is None:
            return
        await writer(envelope.tenant_id).project(
            candidate,
            lambda c: {
                "events_registered": unique_in_order([*c.events_registered, registration.event_id])
            },
            session=session,
        )
        await on_timeline(envelope, candidate.id, session)

    async def on_event_checked_in(envelope: EventEnvelope[Any], session: Session) -> None:
        attendance: EventCheckedIn = envelope.data
        candidate = await find(envelope, attendance.candidate_id, attendance.email, session=session)
        if candidate is None:
            return
        await writer(envelope.tenant_id).project(
            candidate,
            lambda c: {
                "events_attended": unique_in_order([*c.events_attended, attendance.event_id])
            },
            session=session,
        )
        await on_timeline(envelope, candidate.id, session)

    async def on_ats_application(envelope: EventEnvelope[Any], session: Session) -> None:
        change: AtsApplicationCreated | AtsApplicationChange = envelope.data
        candidate = await find(envelope, change.candidate_id, change.email, session=session)
        if candidate is None:
            return
        if isinstance(change, AtsApplicationChange):
            occurred_at, stage = change.occurred_at, change.stage
        else:
            occurred_at, stage = change.applied_at or envelope.time, change.stage
        status = ATS_STATUS_BY_TOPIC[envelope.type]

        def facts(current: Candidate) -> dict[str, Any]:
            # The latest change of any of the candidate's applications wins; an older one
            # arriving late (another application, a replay) does not roll the status back.
            if current.ats_changed_at is not None and occurred_at < current.ats_changed_at:
                return {}
            return {"ats_status": status, "ats_stage": stage, "ats_changed_at": occurred_at}

        await writer(envelope.tenant_id).project(candidate, facts, session=session)
        await on_timeline(envelope, candidate.id, session)

    async def on_sequence_saved(envelope: EventEnvelope[Any], session: Session) -> None:
        saved: SequenceSaved = envelope.data
        await SequenceReferenceRepository(database, envelope.tenant_id).save(
            saved.sequence_id,
            name=saved.name,
            live=saved.status != "archived",
            version=saved.version,
            segment_ids=saved.trigger_segment_ids,
            session=session,
        )

    async def on_engagement_scored(envelope: EventEnvelope[Any], session: Session) -> None:
        scored: EngagementScored = envelope.data
        candidate = await find(envelope, scored.candidate_id, None, session=session)
        if candidate is None:
            return
        last_activity_at: datetime | None = scored.last_activity_at
        await writer(envelope.tenant_id).project(
            candidate,
            lambda c: {"engagement_score": scored.score, "last_activity_at": last_activity_at},
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
                stage = resolve_stage_following_renames(pool, request.stage)
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

    async def on_timeline_event(envelope: EventEnvelope[Any], session: Session) -> None:
        candidate_id: str = envelope.data.candidate_id
        if isinstance(envelope.data, MessageOpened) and envelope.data.automated:
            return  # a prefetcher or bot, not the candidate
        if await find(envelope, candidate_id, None, session=session) is not None:
            await on_timeline(envelope, candidate_id, session)

    subscriptions: list[tuple[TopicSpec, Handler, str, str]] = [
        (
            EVENT_REGISTERED,
            on_event_registered,
            "on_event_registered",
            "Records the registration on the candidate (creating a candidate for a registrant "
            "nobody knew, matched by email) and in their timeline; re-evaluates their segments.",
        ),
        (
            EVENT_CHECKED_IN,
            on_event_checked_in,
            "on_event_checked_in",
            "Records event attendance on the candidate and in their timeline; re-evaluates "
            "their segments.",
        ),
        (
            SEQUENCE_SAVED,
            on_sequence_saved,
            "on_sequence_saved",
            "Keeps which segments each live sequence enrols from, so a segment in use is not "
            "deleted.",
        ),
        (
            ENGAGEMENT_SCORED,
            on_engagement_scored,
            "on_engagement_scored",
            "Keeps the candidate's engagement score and last activity; re-evaluates their "
            "segments.",
        ),
    ]
    for spec in (
        ATS_APPLICATION_CREATED,
        ATS_APPLICATION_STAGE_CHANGED,
        ATS_APPLICATION_REJECTED,
        ATS_APPLICATION_HIRED,
    ):
        subscriptions.append(
            (
                spec,
                on_ats_application,
                f"on_{spec.name.replace('.', '_')}",
                "Keeps the candidate's ATS status and stage (latest change wins) and their "
                "timeline; re-evaluates their segments.",
            )
        )
    for spec in (
        MESSAGE_SENT,
        MESSAGE_OPENED,
        MESSAGE_CLICKED,
        MESSAGE_REPLIED,
        MESSAGE_BOUNCED,
        POOL_STAGE_CHANGED,
        CONSENT_CHANGED,
    ):
        subscriptions.append(
            (
                spec,
                on_timeline_event,
                f"on_{spec.name.replace('.', '_')}",
                "Adds the event to the candidate's activity timeline.",
            )
        )
    for spec, handler, name, description in subscriptions:
        consumer.subscribe(router, spec, _named(handler, name), description=description)
    return router


def _named(handler: Handler, name: str) -> Handler:
    # Each subscription has its own consumer group, derived from the handler's name.
    async def named(envelope: EventEnvelope[Any], session: Session) -> None:
        await handler(envelope, session)

    named.__name__ = named.__qualname__ = name
    return named

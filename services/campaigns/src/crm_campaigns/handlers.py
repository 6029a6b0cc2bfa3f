"""Kafka subscribers of the campaigns service."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_campaigns.domain.models import Enrolment, ExitReason, Recipient
from crm_campaigns.repository import (
    EnrolmentRepository,
    RecipientRepository,
    SegmentMemberRepository,
    SequenceRepository,
)
from crm_shared import (
    ATS_APPLICATION_CREATED,
    CANDIDATE_CREATED,
    CANDIDATE_UPDATED,
    SEGMENT_ENTERED,
    SEGMENT_EXITED,
    AtsApplicationCreated,
    CandidateProfile,
    Database,
    EventEnvelope,
    IdempotentConsumer,
    SegmentEntered,
    SegmentExited,
    Session,
    current_trace_context,
)


def build_router(consumer: IdempotentConsumer, database: Database) -> KafkaRouter:
    """The campaigns service's subscribers."""
    router = KafkaRouter()

    async def project_candidate(envelope: EventEnvelope[Any], session: Session) -> None:
        profile: CandidateProfile = envelope.data
        await RecipientRepository(database, envelope.tenant_id).upsert(
            Recipient(
                candidate_id=profile.candidate_id,
                tenant_id=envelope.tenant_id,
                first_name=profile.first_name,
                last_name=profile.last_name,
                email=profile.emails[0] if profile.emails else None,
                current_title=profile.current_title,
                current_company=profile.current_company,
                location=profile.location,
                marketing_consent=profile.marketing_consent,
                time_zone=profile.time_zone,
            ),
            session=session,
        )

    async def on_candidate_created(envelope: EventEnvelope[Any], session: Session) -> None:
        await project_candidate(envelope, session)

    async def on_candidate_updated(envelope: EventEnvelope[Any], session: Session) -> None:
        await project_candidate(envelope, session)

    async def on_segment_entered(envelope: EventEnvelope[Any], session: Session) -> None:
        entered: SegmentEntered = envelope.data
        await SegmentMemberRepository(database, envelope.tenant_id).enter(
            entered.segment_id, entered.candidate_id, session=session
        )
        sequences = SequenceRepository(database, envelope.tenant_id)
        enrolments = EnrolmentRepository(database, envelope.tenant_id)
        carrier = current_trace_context()
        for sequence in await sequences.triggered_by_segment(entered.segment_id, session=session):
            enrolment = Enrolment(
                tenant_id=envelope.tenant_id,
                sequence_id=sequence.id,
                candidate_id=entered.candidate_id,
            )
            await enrolments.enrol(enrolment, carrier, session=session)

    async def on_segment_exited(envelope: EventEnvelope[Any], session: Session) -> None:
        exited: SegmentExited = envelope.data
        await SegmentMemberRepository(database, envelope.tenant_id).exit(
            exited.segment_id, exited.candidate_id, session=session
        )

    async def on_ats_application_created(envelope: EventEnvelope[Any], session: Session) -> None:
        application: AtsApplicationCreated = envelope.data
        if application.candidate_id is None:
            return
        await EnrolmentRepository(database, envelope.tenant_id).exit_active(
            application.candidate_id, ExitReason.APPLIED, session=session
        )

    consumer.subscribe(
        router,
        CANDIDATE_CREATED,
        on_candidate_created,
        description="Keeps the recipient projection (name, email, consent) of new candidates.",
    )
    consumer.subscribe(
        router,
        CANDIDATE_UPDATED,
        on_candidate_updated,
        description="Keeps the recipient projection current when a candidate changes.",
    )
    consumer.subscribe(
        router,
        SEGMENT_ENTERED,
        on_segment_entered,
        description="Enrols a candidate entering a segment in the sequences it triggers.",
    )
    consumer.subscribe(
        router,
        SEGMENT_EXITED,
        on_segment_exited,
        description="Keeps the segment membership projection current.",
    )
    consumer.subscribe(
        router,
        ATS_APPLICATION_CREATED,
        on_ats_application_created,
        description="Ends a candidate's active enrolments once they applied in the ATS.",
    )
    return router

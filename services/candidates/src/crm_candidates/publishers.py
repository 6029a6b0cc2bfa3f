"""Events the candidates service emits, staged in its outbox inside the entity's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_candidates.domain.consent import ConsentEntry
from crm_candidates.domain.custom_fields import CustomFieldDefinition
from crm_candidates.domain.models import Candidate, Merge, Segment
from crm_candidates.domain.pools import Pool, StageChange
from crm_shared import (
    CANDIDATE_CHANGE_REFUSED,
    CANDIDATE_CREATED,
    CANDIDATE_CUSTOM_FIELDS_BACKFILLED,
    CANDIDATE_ERASED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_UPDATED,
    CONSENT_CHANGED,
    CONSENT_CONFIRMATION_REQUESTED,
    CUSTOM_FIELD_CHANGED,
    POOL_SAVED,
    POOL_STAGE_CHANGED,
    POOL_STAGE_RENAMED,
    SEGMENT_ENTERED,
    SEGMENT_EXITED,
    CandidateChangeRefused,
    CandidateChangeRequested,
    CandidateCreated,
    CandidateCustomFieldsBackfilled,
    CandidateErased,
    CandidateMerged,
    CandidateProfile,
    CandidateUnmerged,
    CandidateUpdated,
    ConsentChanged,
    ConsentConfirmationRequested,
    CustomFieldChanged,
    EventEnvelope,
    Outbox,
    PoolSaved,
    PoolStageChanged,
    PoolStageRenamed,
    SegmentEntered,
    SegmentExited,
    Session,
    TopicSpec,
    utc_now,
)


async def to_candidate_created(outbox: Outbox, candidate: Candidate, *, session: Session) -> None:
    """Stages `candidate.created` for a newly stored candidate."""
    payload = CandidateCreated.model_validate(_carried(candidate))
    await outbox.stage(
        CANDIDATE_CREATED,
        tenant_id=candidate.tenant_id,
        subject=candidate.id,
        data=payload,
        session=session,
    )


async def to_candidates_created(
    outbox: Outbox, candidates: list[Candidate], *, session: Session
) -> None:
    """Stages `candidate.created` for each of several new candidates, with one write."""
    await _stage_profiles(outbox, CANDIDATE_CREATED, candidates, session)


async def to_candidate_updated(
    outbox: Outbox, candidate: Candidate, *, session: Session
) -> EventEnvelope[Any]:
    """Stages `candidate.updated` with the whole profile after the change."""
    envelope = outbox.envelope(
        CANDIDATE_UPDATED,
        tenant_id=candidate.tenant_id,
        subject=candidate.id,
        data=CandidateUpdated.model_validate(_carried(candidate)),
    )
    await outbox.add(envelope, session=session)
    return envelope


async def to_candidates_updated(
    outbox: Outbox, candidates: list[Candidate], *, session: Session
) -> list[EventEnvelope[Any]]:
    """Stages `candidate.updated` for each of several changed candidates, with one write."""
    return await _stage_profiles(outbox, CANDIDATE_UPDATED, candidates, session)


async def _stage_profiles(
    outbox: Outbox, topic: TopicSpec, candidates: list[Candidate], session: Session
) -> list[EventEnvelope[Any]]:
    """One event of `topic` per candidate carrying its whole profile, staged with one write."""
    envelopes = [
        outbox.envelope(
            topic,
            tenant_id=candidate.tenant_id,
            subject=candidate.id,
            data=topic.payload.model_validate(_carried(candidate)),
        )
        for candidate in candidates
    ]
    await outbox.add_many(envelopes, session=session)
    return envelopes


async def to_segment_entered(
    outbox: Outbox, segment: Segment, candidate_id: str, *, session: Session
) -> EventEnvelope[Any]:
    """Stages `segment.entered` for a candidate that started matching a segment."""
    envelope = segment_entered(outbox, segment, candidate_id)
    await outbox.add(envelope, session=session)
    return envelope


def segment_entered(outbox: Outbox, segment: Segment, candidate_id: str) -> EventEnvelope[Any]:
    """The `segment.entered` of a candidate that started matching a segment (not staged)."""
    payload = SegmentEntered(
        segment_id=segment.id, segment_name=segment.name, candidate_id=candidate_id
    )
    return outbox.envelope(
        SEGMENT_ENTERED, tenant_id=segment.tenant_id, subject=candidate_id, data=payload
    )


async def to_segment_exited(
    outbox: Outbox, segment: Segment, candidate_id: str, *, session: Session
) -> EventEnvelope[Any]:
    """Stages `segment.exited` for a candidate that stopped matching a segment."""
    envelope = segment_exited(outbox, segment, candidate_id)
    await outbox.add(envelope, session=session)
    return envelope


def segment_exited(outbox: Outbox, segment: Segment, candidate_id: str) -> EventEnvelope[Any]:
    """The `segment.exited` of a candidate that stopped matching a segment (not staged)."""
    payload = SegmentExited(
        segment_id=segment.id, segment_name=segment.name, candidate_id=candidate_id
    )
    return outbox.envelope(
        SEGMENT_EXITED, tenant_id=segment.tenant_id, subject=candidate_id, data=payload
    )


async def to_pool_stage_changed(
    outbox: Outbox, pool: Pool, change: StageChange, *, session: Session
) -> None:
    """Stages `pool.stage_changed` for a candidate added to, moved in or removed from a pool."""
    await outbox.add(_pool_stage_changed(outbox, pool, change), session=session)


async def to_pool_stages_changed(
    outbox: Outbox, pool: Pool, changes: list[StageChange], *, session: Session
) -> None:
    """`to_pool_stage_changed` of each of several changes in one pool, with one write."""
    await outbox.add_many(
        [_pool_stage_changed(outbox, pool, change) for change in changes], session=session
    )


def _pool_stage_changed(outbox: Outbox, pool: Pool, change: StageChange) -> EventEnvelope[Any]:
    payload = PoolStageChanged(
        pool_id=pool.id,
        pool_name=pool.name,
        candidate_id=change.candidate_id,
        from_stage=change.from_stage,
        to_stage=change.to_stage,
        moved_by=change.moved_by,
        moved_at=change.moved_at,
    )
    return outbox.envelope(
        POOL_STAGE_CHANGED, tenant_id=pool.tenant_id, subject=change.candidate_id, data=payload
    )


async def to_pool_saved(outbox: Outbox, pool: Pool, *, session: Session) -> None:
    """Stages `pool.saved`: the pool's name and stages as stored now."""
    payload = PoolSaved(
        pool_id=pool.id,
        name=pool.name,
        stages=list(pool.stages),
        version=pool.version,
        saved_at=utc_now(),
    )
    await outbox.stage(
        POOL_SAVED, tenant_id=pool.tenant_id, subject=pool.id, data=payload, session=session
    )


async def to_pool_stage_renamed(
    outbox: Outbox,
    pool: Pool,
    stage: str,
    new_name: str,
    *,
    by: str,
    at: datetime,
    session: Session,
) -> None:
    """Stages `pool.stage_renamed`: whatever knows the stage by name follows the new one."""
    payload = PoolStageRenamed(
        pool_id=pool.id,
        pool_name=pool.name,
        from_stage=stage,
        to_stage=new_name,
        renamed_by=by,
        renamed_at=at,
    )
    await outbox.stage(
        POOL_STAGE_RENAMED, tenant_id=pool.tenant_id, subject=pool.id, data=payload, session=session
    )


async def to_candidate_change_refused(
    outbox: Outbox,
    tenant_id: str,
    request_id: str,
    request: CandidateChangeRequested,
    reason: str,
    *,
    session: Session,
) -> None:
    """Stages `candidate.change_refused`: the request `request_id` changed nothing, because."""
    payload = CandidateChangeRefused(
        request_id=request_id,
        candidate_id=request.candidate_id,
        requested_by=request.requested_by,
        enrolment_id=request.enrolment_id,
        step=request.step,
        pool_id=request.pool_id,
        stage=request.stage,
        reason=reason,
        refused_at=utc_now(),
    )
    await outbox.stage(
        CANDIDATE_CHANGE_REFUSED,
        tenant_id=tenant_id,
        subject=request.candidate_id,
        data=payload,
        session=session,
    )


async def to_candidate_merged(
    outbox: Outbox, merge: Merge, survivor: Candidate, *, session: Session
) -> EventEnvelope[Any]:
    """Stages `candidate.merged`: every service re-keys the merged record's data to the survivor."""
    payload = CandidateMerged(
        merge_id=merge.id,
        survivor_candidate_id=merge.survivor_id,
        merged_candidate_id=merge.merged_id,
        survivor=CandidateProfile.model_validate(_carried(survivor)),
    )
    envelope = outbox.envelope(
        CANDIDATE_MERGED, tenant_id=merge.tenant_id, subject=merge.survivor_id, data=payload
    )
    await outbox.add(envelope, session=session)
    return envelope


async def to_candidate_unmerged(
    outbox: Outbox, merge: Merge, survivor: Candidate, restored: Candidate, *, session: Session
) -> EventEnvelope[Any]:
    """Stages `candidate.unmerged`: the merged record exists again with its own profile."""
    payload = CandidateUnmerged(
        merge_id=merge.id,
        survivor_candidate_id=merge.survivor_id,
        restored_candidate_id=merge.merged_id,
        survivor=CandidateProfile.model_validate(_carried(survivor)),
        restored=CandidateProfile.model_validate(_carried(restored)),
    )
    envelope = outbox.envelope(
        CANDIDATE_UNMERGED, tenant_id=merge.tenant_id, subject=merge.survivor_id, data=payload
    )
    await outbox.add(envelope, session=session)
    return envelope


def _carried(candidate: Candidate) -> dict[str, Any]:
    """What a candidate event carries: the profile, and whether the record is a live person."""
    return candidate.profile() | {"status": candidate.status.value}


def custom_fields_backfilled_envelope(
    outbox: Outbox, tenant_id: str, candidate_id: str, custom_fields: dict[str, Any]
) -> EventEnvelope[Any]:
    """`candidate.custom_fields_backfilled`: the custom field values a candidate holds, for a
    projection that never learnt them (a migration's; to be added, a batch at once)."""
    return outbox.envelope(
        CANDIDATE_CUSTOM_FIELDS_BACKFILLED,
        tenant_id=tenant_id,
        subject=candidate_id,
        data=CandidateCustomFieldsBackfilled(
            candidate_id=candidate_id, custom_fields=custom_fields
        ),
    )


def consent_changed_envelope(
    outbox: Outbox, entry: ConsentEntry, *, marketing_consent: bool
) -> EventEnvelope[Any]:
    """`consent.changed` for a new ledger entry, to be added (several at once, say)."""
    return outbox.envelope(
        CONSENT_CHANGED,
        tenant_id=entry.tenant_id,
        subject=entry.candidate_id,
        data=ConsentChanged(
            candidate_id=entry.candidate_id,
            purpose=entry.purpose.value,
            status=entry.status.value,
            lawful_basis=entry.lawful_basis.value,
            source=entry.source.value,
            expires_at=entry.expires_at,
            marketing_consent=marketing_consent,
            message_id=entry.message_id,
        ),
    )


async def to_consent_changed(
    outbox: Outbox, entry: ConsentEntry, *, marketing_consent: bool, session: Session
) -> None:
    """Stages `consent.changed` for a new ledger entry."""
    envelope = consent_changed_envelope(outbox, entry, marketing_consent=marketing_consent)
    await outbox.add(envelope, session=session)


async def to_consent_confirmation_requested(
    outbox: Outbox, tenant_id: str, request: ConsentConfirmationRequested, *, session: Session
) -> None:
    """Stages `consent.confirmation_requested`; campaigns mails the link."""
    await outbox.stage(
        CONSENT_CONFIRMATION_REQUESTED,
        tenant_id=tenant_id,
        subject=request.candidate_id,
        data=request,
        session=session,
    )


async def to_candidate_erased(
    outbox: Outbox,
    tenant_id: str,
    candidate_id: str,
    email_hashes: list[str],
    erased_at: datetime,
    *,
    session: Session,
) -> None:
    """Stages `candidate.erased` (digests of the addresses only, no personal data)."""
    await outbox.stage(
        CANDIDATE_ERASED,
        tenant_id=tenant_id,
        subject=candidate_id,
        data=CandidateErased(
            candidate_id=candidate_id, email_sha256=email_hashes, erased_at=erased_at
        ),
        session=session,
    )


async def to_custom_field_changed(
    outbox: Outbox, definition: CustomFieldDefinition, *, at: datetime, session: Session
) -> None:
    """Stages `profile.custom_field_changed` with the field's whole definition after a change:
    services that merge custom fields (campaigns' templates) check keys and types against it."""
    payload = CustomFieldChanged(
        key=definition.key,
        label=definition.label,
        type=definition.type.value,
        allowed_values=definition.allowed_values,
        deleted=definition.archived_at is not None,
        changed_at=at,
    )
    await outbox.stage(
        CUSTOM_FIELD_CHANGED,
        tenant_id=definition.tenant_id,
        subject=definition.id,
        data=payload,
        session=session,
    )

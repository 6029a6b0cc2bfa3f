"""The candidate's standing against a sequence's exit conditions: read before an enrolment
starts, before each of its steps, and after a merge (see `domain/exits.py`)."""

from __future__ import annotations

from crm_campaigns.domain.exits import CandidateStanding, exit_reason
from crm_campaigns.domain.models import (
    BranchCondition,
    Enrolment,
    EnrolmentRefused,
    ExitReason,
    Sequence,
)
from crm_campaigns.domain.suppression import ListReason
from crm_campaigns.repositories.applications import ApplicationRepository, ApplicationStatus
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.signals import SignalRepository
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_shared import Database, Session


async def standing_of(
    database: Database, tenant_id: str, candidate_id: str, *, session: Session
) -> CandidateStanding:
    """What campaigns knows of the candidate that exit conditions look at."""
    statuses = await ApplicationRepository(database, tenant_id).statuses(
        candidate_id, session=session
    )
    recipient = await RecipientRepository(database, tenant_id).get(candidate_id, session=session)
    unsubscribed = recipient is not None and await SuppressionRepository(
        database, tenant_id
    ).any_listed(recipient.email_sha256, ListReason.UNSUBSCRIBED, session=session)
    replied_at = await SignalRepository(database, tenant_id).latest_at(
        candidate_id, BranchCondition.REPLIED, session=session
    )
    return CandidateStanding(
        hired=ApplicationStatus.HIRED.value in statuses,
        applying=ApplicationStatus.ACTIVE.value in statuses,
        unsubscribed=unsubscribed,
        replied_at=replied_at,
    )


async def enrol_unless_excluded(
    database: Database,
    sequence: Sequence,
    candidate_id: str,
    trace_context: dict[str, str],
    *,
    enrolled_by: str,
    session: Session,
) -> Enrolment | EnrolmentRefused:
    """Enrols the candidate unless an exit condition of the sequence holds already (a hired
    person is not nurtured, whatever trigger fired) or its re-entry policy refuses."""
    tenant_id = sequence.tenant_id
    standing = await standing_of(database, tenant_id, candidate_id, session=session)
    excluded = exit_reason(sequence.exit_on, standing, enrolled_at=None)
    if excluded is not None:
        return EnrolmentRefused(excluded.value)
    return await EnrolmentRepository(database, tenant_id).enrol(
        sequence, candidate_id, trace_context, enrolled_by=enrolled_by, session=session
    )


async def end_excluded_enrolments(
    database: Database, tenant_id: str, candidate_id: str, *, session: Session
) -> None:
    """Ends each of the candidate's enrolments in progress whose sequence's exit conditions hold
    now (after a merge gave the record another record's hires, replies or enrolments)."""
    enrolments = EnrolmentRepository(database, tenant_id)
    running = await enrolments.in_progress_of(candidate_id, session=session)
    if not running:
        return
    standing = await standing_of(database, tenant_id, candidate_id, session=session)
    sequences = SequenceRepository(database, tenant_id)
    ending: dict[ExitReason, list[str]] = {}
    for enrolment in running:
        sequence = await sequences.get(enrolment.sequence_id, session=session)
        if sequence is None:
            continue
        reason = exit_reason(sequence.exit_on, standing, enrolled_at=enrolment.enrolled_at)
        if reason is not None:
            ending.setdefault(reason, []).append(sequence.id)
    for reason, sequence_ids in ending.items():
        await enrolments.exit_active(
            candidate_id, reason, sequence_ids=sequence_ids, session=session
        )

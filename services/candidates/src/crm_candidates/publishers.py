"""Events the candidates service emits, staged in its outbox inside the entity's transaction."""

from __future__ import annotations

from crm_candidates.domain.models import Candidate
from crm_shared import CANDIDATE_CREATED, CandidateCreated, Outbox, Session


async def to_candidate_created(outbox: Outbox, candidate: Candidate, *, session: Session) -> None:
    """Stages `candidate.created` for a newly stored candidate."""
    payload = CandidateCreated(
        candidate_id=candidate.id,
        first_name=candidate.first_name,
        last_name=candidate.last_name,
        emails=candidate.emails,
        phones=candidate.phones,
        headline=candidate.headline,
        current_title=candidate.current_title,
        current_company=candidate.current_company,
        location=candidate.location,
        skills=candidate.skills,
        tags=candidate.tags,
        source=candidate.source.value,
        owner_id=candidate.owner_id,
    )
    envelope = outbox.envelope(
        CANDIDATE_CREATED, tenant_id=candidate.tenant_id, subject=candidate.id, data=payload
    )
    await outbox.add(envelope, session=session)

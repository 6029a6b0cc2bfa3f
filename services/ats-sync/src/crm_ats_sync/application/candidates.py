"""What the ats-sync service learns from the candidates service: who an email belongs to, and
which candidates were merged or unmerged."""

from __future__ import annotations

from crm_ats_sync.application.storage import AtsStorage
from crm_shared import CandidateMerged, CandidateProfile, CandidateUnmerged, Session


async def know_candidate(
    storage: AtsStorage, tenant_id: str, profile: CandidateProfile, *, session: Session
) -> None:
    """Learns the candidate's addresses, to match ATS applicants to them."""
    await storage.directory(tenant_id).learn(profile, session=session)


async def fold_merged_candidate(
    storage: AtsStorage, tenant_id: str, merged: CandidateMerged, *, session: Session
) -> None:
    """Moves a merged candidate's applications and addresses to the survivor."""
    folded, survivor = merged.merged_candidate_id, merged.survivor_candidate_id
    directory = storage.directory(tenant_id)
    await directory.reassign(folded, survivor, session=session)
    await directory.learn(merged.survivor, session=session)
    await storage.applications(tenant_id).fold_into(
        folded, survivor, merged.merge_id, session=session
    )


async def unfold_unmerged_candidate(
    storage: AtsStorage, tenant_id: str, unmerged: CandidateUnmerged, *, session: Session
) -> None:
    """Moves back the applications a merge moved; relearns both candidates' addresses."""
    directory = storage.directory(tenant_id)
    await directory.learn(unmerged.restored, session=session)
    await directory.learn(unmerged.survivor, session=session)
    await storage.applications(tenant_id).unfold(unmerged.merge_id, session=session)

"""What the ats-sync service learns from the candidates service: who an email belongs to, and
which candidates were merged or unmerged."""

from __future__ import annotations

from dataclasses import dataclass

from crm_ats_sync.application.storage import AtsStorage
from crm_shared import CandidateMerged, CandidateProfile, CandidateUnmerged, Session
from crm_shared.directory import project_merge, project_unmerge


@dataclass(frozen=True)
class CandidateFacts:
    """The steps of the service's copy of candidates (`crm_shared.CandidateSubscribers`)."""

    storage: AtsStorage

    async def know(self, tenant_id: str, profile: CandidateProfile, *, session: Session) -> None:
        """Learns the candidate's addresses, to match ATS applicants to them."""
        await self.storage.directory(tenant_id).learn(profile, session=session)

    async def fold_merged(
        self, tenant_id: str, merged: CandidateMerged, *, session: Session
    ) -> None:
        """Moves a merged candidate's applications and addresses to the survivor."""
        await project_merge(self.storage.directory(tenant_id), merged, session=session)
        await self.storage.applications(tenant_id).fold_into(
            merged.merged_candidate_id,
            merged.survivor_candidate_id,
            merged.merge_id,
            session=session,
        )

    async def unfold_unmerged(
        self, tenant_id: str, unmerged: CandidateUnmerged, *, session: Session
    ) -> None:
        """Moves back the applications a merge moved; relearns both candidates' addresses."""
        await project_unmerge(self.storage.directory(tenant_id), unmerged, session=session)
        await self.storage.applications(tenant_id).unfold(unmerged.merge_id, session=session)

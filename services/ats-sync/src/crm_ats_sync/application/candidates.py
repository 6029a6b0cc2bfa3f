"""What the ats-sync service learns from the candidates service: who an email belongs to, who
may be pushed to an ATS (name, primary email, consent), and which candidates were merged or
unmerged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crm_ats_sync.application.storage import AtsStorage
from crm_ats_sync.domain.pushes import PUSH_CONSENT_PURPOSE
from crm_shared import (
    CandidateMerged,
    CandidateUnmerged,
    ConsentChanged,
    EventEnvelope,
    Session,
)
from crm_shared.directory import ProfileChange, project_merge, project_unmerge


@dataclass(frozen=True)
class CandidateFacts:
    """The steps of the service's copy of candidates (`crm_shared.CandidateSubscribers`)."""

    storage: AtsStorage

    async def know(
        self, tenant_id: str, changes: Sequence[ProfileChange], *, session: Session
    ) -> None:
        """Learns the candidates' addresses, to match ATS applicants to them (and links the
        applications stored under them before), and what a push sends: a batch of profiles in
        a few queries."""
        links = await self.storage.directory(tenant_id).learn_links(
            [change.profile for change in changes], session=session
        )
        # Applications stored before their person was a candidate (an ATS import: the
        # candidates service creates the person from the application's event) are linked now.
        await self.storage.applications(tenant_id).link_candidates(links, session=session)
        await self.storage.known_candidates(tenant_id).learn_profiles(changes, session=session)

    async def consent_changed(self, envelope: EventEnvelope[Any], session: Session) -> None:
        """Keeps whether the candidate's data may be sent to the ATS (the consent a push
        needs); other purposes are not ats-sync's concern."""
        changed: ConsentChanged = envelope.data
        if changed.purpose != PUSH_CONSENT_PURPOSE:
            return
        await self.storage.known_candidates(envelope.tenant_id).learn_consent(
            changed.candidate_id,
            granted=changed.status == "granted",
            expires_at=changed.expires_at,
            session=session,
        )

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

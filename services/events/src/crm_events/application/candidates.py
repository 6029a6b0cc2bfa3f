"""What the events service learns from the candidates service: who an email belongs to, and
which candidates were merged or unmerged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm_events.application.attendance import announce_attendance, announce_outcome
from crm_events.application.storage import EventsStorage
from crm_shared import CandidateMerged, CandidateProfile, CandidateUnmerged, Session
from crm_shared.directory import project_merge, project_unmerge


@dataclass(frozen=True)
class CandidateFacts:
    """The steps of the service's copy of candidates (`crm_shared.CandidateSubscribers`)."""

    storage: EventsStorage

    async def know(
        self, tenant_id: str, profile: CandidateProfile, *, as_of: datetime, session: Session
    ) -> None:
        """Learns the candidate's addresses, links their registrations and announces attendance
        and outcomes nobody could announce before (they came, or their event was completed,
        before they were known)."""
        emails = await self.storage.directory(tenant_id).learn(profile, session=session)
        events = self.storage.events(tenant_id)
        registrations = self.storage.registrations(tenant_id)
        for email in emails:
            await registrations.link_candidate(email, profile.candidate_id, session=session)
        for registration in await registrations.unannounced_attendance(
            profile.candidate_id, session=session
        ):
            event = await events.get(registration.event_id, session=session)
            if event is not None:
                await announce_attendance(
                    self.storage.outbox, registrations, event, registration, session=session
                )
        for registration in await registrations.unannounced_outcomes(
            profile.candidate_id, session=session
        ):
            event = await events.get(registration.event_id, session=session)
            if event is not None:
                await announce_outcome(
                    self.storage.outbox, registrations, event, registration, session=session
                )

    async def fold_merged(
        self, tenant_id: str, merged: CandidateMerged, *, session: Session
    ) -> None:
        """Moves a merged candidate's registrations and addresses to the survivor."""
        await project_merge(self.storage.directory(tenant_id), merged, session=session)
        await self.storage.registrations(tenant_id).fold_into(
            merged.merged_candidate_id,
            merged.survivor_candidate_id,
            merged.merge_id,
            session=session,
        )

    async def unfold_unmerged(
        self, tenant_id: str, unmerged: CandidateUnmerged, *, session: Session
    ) -> None:
        """Moves back the registrations a merge moved; relearns both candidates' addresses."""
        await project_unmerge(self.storage.directory(tenant_id), unmerged, session=session)
        await self.storage.registrations(tenant_id).unfold(unmerged.merge_id, session=session)

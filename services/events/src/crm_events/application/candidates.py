"""What the events service learns from the candidates service: who an email belongs to, and
which candidates were merged or unmerged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crm_events.application.attendance import announce_attendance, announce_outcome
from crm_events.application.storage import EventsStorage
from crm_events.domain.models import RecruitingEvent, Registration
from crm_shared import CandidateMerged, CandidateUnmerged, Session
from crm_shared.directory import ProfileChange, project_merge, project_unmerge


@dataclass(frozen=True)
class CandidateFacts:
    """The steps of the service's copy of candidates (`crm_shared.CandidateSubscribers`)."""

    storage: EventsStorage

    async def know(
        self, tenant_id: str, changes: Sequence[ProfileChange], *, session: Session
    ) -> None:
        """Learns the candidates' addresses, links their registrations and announces attendance
        and outcomes nobody could announce before (they came, or their event was completed,
        before they were known): for a batch of profiles, a few queries in all."""
        profiles = [change.profile for change in changes]
        links = await self.storage.directory(tenant_id).learn_links(profiles, session=session)
        registrations = self.storage.registrations(tenant_id)
        await registrations.link_candidates(links, session=session)
        candidate_ids = list(dict.fromkeys(profile.candidate_id for profile in profiles))
        events = self.storage.events(tenant_id)
        known_events: dict[str, RecruitingEvent | None] = {}

        async def event_of(registration: Registration) -> RecruitingEvent | None:
            if registration.event_id not in known_events:
                known_events[registration.event_id] = await events.get(
                    registration.event_id, session=session
                )
            return known_events[registration.event_id]

        for registration in await registrations.unannounced_attendance_of(
            candidate_ids, session=session
        ):
            if (event := await event_of(registration)) is not None:
                await announce_attendance(
                    self.storage.outbox, registrations, event, registration, session=session
                )
        for registration in await registrations.unannounced_outcomes_of(
            candidate_ids, session=session
        ):
            if (event := await event_of(registration)) is not None:
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

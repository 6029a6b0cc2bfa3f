"""What the events service learns from the candidates service: who an email belongs to, and
which candidates were merged or unmerged."""

from __future__ import annotations

from crm_events.application.attendance import announce_attendance
from crm_events.application.storage import EventsStorage
from crm_shared import CandidateMerged, CandidateProfile, CandidateUnmerged, Session


async def know_candidate(
    storage: EventsStorage, tenant_id: str, profile: CandidateProfile, *, session: Session
) -> None:
    """Learns the candidate's addresses, links their registrations and announces attendance
    nobody could announce before (they checked in before they were known)."""
    emails = await storage.directory(tenant_id).learn(profile, session=session)
    events = storage.events(tenant_id)
    registrations = storage.registrations(tenant_id)
    for email in emails:
        await registrations.link_candidate(email, profile.candidate_id, session=session)
    for registration in await registrations.unannounced_attendance(
        profile.candidate_id, session=session
    ):
        event = await events.get(registration.event_id, session=session)
        if event is not None:
            await announce_attendance(
                storage.outbox, registrations, event, registration, session=session
            )


async def fold_merged_candidate(
    storage: EventsStorage, tenant_id: str, merged: CandidateMerged, *, session: Session
) -> None:
    """Moves a merged candidate's registrations and addresses to the survivor."""
    folded, survivor = merged.merged_candidate_id, merged.survivor_candidate_id
    directory = storage.directory(tenant_id)
    await directory.reassign(folded, survivor, session=session)
    await directory.learn(merged.survivor, session=session)
    await storage.registrations(tenant_id).fold_into(
        folded, survivor, merged.merge_id, session=session
    )


async def unfold_unmerged_candidate(
    storage: EventsStorage, tenant_id: str, unmerged: CandidateUnmerged, *, session: Session
) -> None:
    """Moves back the registrations a merge moved; relearns both candidates' addresses."""
    directory = storage.directory(tenant_id)
    await directory.learn(unmerged.restored, session=session)
    await directory.learn(unmerged.survivor, session=session)
    await storage.registrations(tenant_id).unfold(unmerged.merge_id, session=session)

"""The recipient projection of candidates: profiles, merges, consent changes and erasures."""

from __future__ import annotations

from crm_campaigns.application.enrolments import end_enrolments
from crm_campaigns.domain.models import ExitReason, Recipient
from crm_campaigns.domain.suppression import ListReason, Suppression, email_sha256
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.messages import MessageRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_shared import (
    CandidateErased,
    CandidateMerged,
    CandidateProfile,
    CandidateUnmerged,
    ConsentChanged,
    Database,
    Session,
    is_erased,
)

MARKETING = "marketing"


async def project_profile(
    database: Database, tenant_id: str, profile: CandidateProfile, session: Session
) -> bool:
    """Stores the recipient; True when this change withdrew marketing consent."""
    if await is_erased(database, tenant_id, profile.candidate_id, session=session):
        return False  # a profile event still in flight when the person was erased
    recipients = RecipientRepository(database, tenant_id)
    before = await recipients.get(profile.candidate_id, session=session)
    await recipients.upsert(
        Recipient(
            candidate_id=profile.candidate_id,
            tenant_id=tenant_id,
            first_name=profile.first_name,
            last_name=profile.last_name,
            email=profile.emails[0] if profile.emails else None,
            current_title=profile.current_title,
            current_company=profile.current_company,
            location=profile.location,
            marketing_consent=profile.marketing_consent,
            active=profile.status == "active",
            time_zone=profile.time_zone,
            owner_id=profile.owner_id,
            email_sha256=[email_sha256(email) for email in profile.emails],
            skills=profile.skills,
        ),
        session=session,
    )
    return before is not None and before.marketing_consent and not profile.marketing_consent


async def update_profile(
    database: Database, tenant_id: str, profile: CandidateProfile, session: Session
) -> None:
    """Keeps the recipient current; a consent withdrawal ends enrolments."""
    if await project_profile(database, tenant_id, profile, session):
        await end_enrolments(
            database, tenant_id, profile.candidate_id, ExitReason.UNSUBSCRIBED, session
        )


async def fold_merged_candidate(
    database: Database, tenant_id: str, merged: CandidateMerged, session: Session
) -> None:
    """Moves a merged candidate's recipient, enrolments and messages to the survivor."""
    folded, survivor = merged.merged_candidate_id, merged.survivor_candidate_id
    await RecipientRepository(database, tenant_id).fold_into(folded, survivor, session=session)
    await project_profile(database, tenant_id, merged.survivor, session)
    await EnrolmentRepository(database, tenant_id).fold_into(
        folded, survivor, merged.merge_id, session=session
    )
    await MessageRepository(database, tenant_id).fold_into(
        folded, survivor, merged.merge_id, session=session
    )


async def restore_unmerged_candidates(
    database: Database, tenant_id: str, unmerged: CandidateUnmerged, session: Session
) -> None:
    """Moves back what a merge moved and projects both restored candidates."""
    await EnrolmentRepository(database, tenant_id).unfold(unmerged.merge_id, session=session)
    await MessageRepository(database, tenant_id).unfold(unmerged.merge_id, session=session)
    await project_profile(database, tenant_id, unmerged.survivor, session)
    await project_profile(database, tenant_id, unmerged.restored, session)


async def follow_consent_change(
    database: Database, tenant_id: str, changed: ConsentChanged, session: Session
) -> None:
    """A marketing consent withdrawn ends enrolments and suppresses the candidate's addresses;
    consent given again lifts the suppression."""
    if changed.purpose == MARKETING and (
        changed.status != "granted" or not changed.marketing_consent
    ):
        await end_enrolments(
            database, tenant_id, changed.candidate_id, ExitReason.UNSUBSCRIBED, session
        )
    await update_suppressions(database, tenant_id, changed, session)


async def update_suppressions(
    database: Database, tenant_id: str, changed: ConsentChanged, session: Session
) -> None:
    """An unsubscribe suppresses the candidate's addresses; consent given again lifts it."""
    if changed.purpose != MARKETING or changed.status == "expired":
        return  # a lapsed consent stops marketing mail through the projection, not the list
    recipient = await RecipientRepository(database, tenant_id).get(
        changed.candidate_id, session=session
    )
    if recipient is None:
        # Not projected yet; candidates publishes candidate.updated with the consent too,
        # and the send-time consent check stops marketing mail from it.
        return
    suppressions = SuppressionRepository(database, tenant_id)
    for digest in recipient.email_sha256:
        if changed.status == "withdrawn":
            entry = Suppression(
                tenant_id=tenant_id,
                email_sha256=digest,
                reason=ListReason.UNSUBSCRIBED,
                source=f"consent.changed:{changed.source}",
                candidate_id=changed.candidate_id,
                message_id=changed.message_id,
            )
            await suppressions.add(entry, session=session)
        else:
            # Consent given again (re-permission, preference centre) lifts the unsubscribe.
            await suppressions.remove(digest, ListReason.UNSUBSCRIBED, session=session)


async def suppress_erased_candidate(
    database: Database, tenant_id: str, erased: CandidateErased, session: Session
) -> None:
    """Suppresses every address of an erased candidate for good (by hash only)."""
    suppressions = SuppressionRepository(database, tenant_id)
    for digest in erased.email_sha256:
        entry = Suppression(
            tenant_id=tenant_id,
            email_sha256=digest,
            reason=ListReason.ERASED,
            source="candidate.erased",
        )
        await suppressions.add(entry, session=session)

"""The recipient projection of candidates: profiles, merges, consent changes and erasures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from crm_campaigns.application.enrolments import end_enrolments
from crm_campaigns.application.standing import end_excluded_enrolments
from crm_campaigns.domain.models import ExitReason, Recipient
from crm_campaigns.domain.suppression import ListReason, Suppression, email_sha256
from crm_campaigns.repositories.applications import ApplicationRepository
from crm_campaigns.repositories.collections import MERGED_CANDIDATES
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.messages import MessageRepository
from crm_campaigns.repositories.notifications import NotificationRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.signals import SignalRepository
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_shared import (
    CandidateCustomFieldsBackfilled,
    CandidateErased,
    CandidateMerged,
    CandidateUnmerged,
    ConsentChanged,
    Database,
    MergedIds,
    Session,
    erased_among,
)
from crm_shared.directory import ProfileChange

MARKETING = "marketing"


async def project_profiles(
    database: Database, tenant_id: str, changes: Sequence[ProfileChange], session: Session
) -> list[str]:
    """Stores the recipients of one tenant's profile changes with one read and one bulk write
    whatever their number, each change applied in turn unless the recipient holds a newer
    profile already; returns the candidates whose change withdrew marketing consent, in order.
    """
    candidate_ids = list(dict.fromkeys(change.profile.candidate_id for change in changes))
    # A profile event still in flight when the person was erased stores nothing.
    erased = await erased_among(database, tenant_id, candidate_ids, session=session)
    recipients = RecipientRepository(database, tenant_id)
    latest = await recipients.many(candidate_ids, session=session)
    changed: dict[str, Recipient] = {}
    withdrawn: list[str] = []
    for change in changes:
        candidate_id = change.profile.candidate_id
        before = latest.get(candidate_id)
        if candidate_id in erased or not is_newer(change, before):
            continue
        if before is not None and before.marketing_consent and not change.profile.marketing_consent:
            withdrawn.append(candidate_id)
        latest[candidate_id] = changed[candidate_id] = recipient_of(tenant_id, change)
    if changed:
        await recipients.upsert_many(list(changed.values()), session=session)
    return withdrawn


def is_newer(change: ProfileChange, stored: Recipient | None) -> bool:
    """Whether a change is at least as recent as the profile a recipient holds (one stored
    before the profiles' times were kept takes any)."""
    return stored is None or stored.profile_as_of is None or change.as_of >= stored.profile_as_of


def recipient_of(tenant_id: str, change: ProfileChange) -> Recipient:
    """What sending a message needs of a candidate's profile."""
    profile = change.profile
    return Recipient(
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
        custom_fields=profile.custom_fields,
        profile_as_of=change.as_of,
    )


async def update_profiles(
    database: Database, tenant_id: str, changes: Sequence[ProfileChange], session: Session
) -> None:
    """Keeps one tenant's recipients current from a batch of changes; a consent withdrawal
    ends the candidate's enrolments."""
    for candidate_id in await project_profiles(database, tenant_id, changes, session):
        await end_enrolments(database, tenant_id, candidate_id, ExitReason.UNSUBSCRIBED, session)


async def fill_custom_fields(
    database: Database,
    tenant_id: str,
    backfilled: CandidateCustomFieldsBackfilled,
    session: Session,
) -> None:
    """A candidate's custom field values as stored before the projection kept them: filled in
    only where the recipient never learnt custom fields. A recipient projected from a profile
    event holds that event's values, and every later change of the candidate comes with a
    profile event of its own, so filling only where none was learnt never undoes a change,
    whichever of the two arrives first; a recipient not projected yet gets the values with its
    `candidate.created`."""
    await RecipientRepository(database, tenant_id).fill_custom_fields(
        backfilled.candidate_id, backfilled.custom_fields, session=session
    )


async def fold_merged_candidate(
    database: Database, tenant_id: str, merged: CandidateMerged, at: datetime, session: Session
) -> None:
    """Moves a merged candidate's recipient, enrolments, messages, applications, signals and
    notifications to the survivor; then the survivor's enrolments meet what both records did
    (one of them hired or replied ends them)."""
    folded, survivor, merge_id = (
        merged.merged_candidate_id,
        merged.survivor_candidate_id,
        merged.merge_id,
    )
    await MergedIds(database[MERGED_CANDIDATES], tenant_id).record(
        folded, survivor, merge_id, session=session
    )
    await RecipientRepository(database, tenant_id).fold_into(folded, survivor, session=session)
    await project_profiles(database, tenant_id, [ProfileChange(merged.survivor, at)], session)
    await EnrolmentRepository(database, tenant_id).fold_into(
        folded, survivor, merge_id, session=session
    )
    await MessageRepository(database, tenant_id).fold_into(
        folded, survivor, merge_id, session=session
    )
    await ApplicationRepository(database, tenant_id).fold_into(
        folded, survivor, merge_id, session=session
    )
    await SignalRepository(database, tenant_id).fold_into(
        folded, survivor, merge_id, session=session
    )
    await NotificationRepository(database, tenant_id).fold_into(
        folded, survivor, merge_id, session=session
    )
    await end_excluded_enrolments(database, tenant_id, survivor, session=session)


async def restore_unmerged_candidates(
    database: Database, tenant_id: str, unmerged: CandidateUnmerged, at: datetime, session: Session
) -> None:
    """Moves back what a merge moved and projects both restored candidates."""
    await MergedIds(database[MERGED_CANDIDATES], tenant_id).forget(
        unmerged.merge_id, unmerged.restored_candidate_id, session=session
    )
    await EnrolmentRepository(database, tenant_id).unfold(unmerged.merge_id, session=session)
    await MessageRepository(database, tenant_id).unfold(unmerged.merge_id, session=session)
    await ApplicationRepository(database, tenant_id).unfold(unmerged.merge_id, session=session)
    await SignalRepository(database, tenant_id).unfold(unmerged.merge_id, session=session)
    await NotificationRepository(database, tenant_id).unfold(unmerged.merge_id, session=session)
    await project_profiles(
        database,
        tenant_id,
        [ProfileChange(unmerged.survivor, at), ProfileChange(unmerged.restored, at)],
        session,
    )


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

"""Kafka subscribers of the campaigns service.

Besides the recipient, segment, pool and stored list projections, these are what drives
sequences from outside: triggers that enrol (segment entered, pool stage reached, event
attended, rejected in the ATS), signals that branches look at (opens, clicks, replies,
registrations), and conditions that end enrolments early (replied, applied, hired,
unsubscribed).
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaRouter

from crm_campaigns.domain.models import (
    AtsRejectedTrigger,
    BranchCondition,
    ExitReason,
    PoolStageTrigger,
    Recipient,
    Sequence,
)
from crm_campaigns.domain.pool_stages import stage_now_called
from crm_campaigns.domain.sequences import Signal
from crm_campaigns.domain.suppression import ListReason, Suppression, email_sha256
from crm_campaigns.repositories.broadcasts import BroadcastRepository
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.lists import StoredListRepository
from crm_campaigns.repositories.messages import MessageRepository
from crm_campaigns.repositories.pools import PoolMemberRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.segments import SegmentMemberRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.signals import SignalRepository
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    CANDIDATE_CREATED,
    CANDIDATE_ERASED,
    CANDIDATE_MERGED,
    CANDIDATE_UNMERGED,
    CANDIDATE_UPDATED,
    CONSENT_CHANGED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    LIST_ARCHIVED,
    LIST_MEMBER_ADDED,
    LIST_MEMBER_REMOVED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    POOL_STAGE_CHANGED,
    POOL_STAGE_RENAMED,
    SEGMENT_ENTERED,
    SEGMENT_EXITED,
    AtsApplicationCreated,
    AtsApplicationHired,
    AtsApplicationRejected,
    CandidateErased,
    CandidateMerged,
    CandidateProfile,
    CandidateUnmerged,
    ConsentChanged,
    Database,
    EventCheckedIn,
    EventEnvelope,
    EventRegistered,
    IdempotentConsumer,
    ListArchived,
    ListMemberAdded,
    ListMemberRemoved,
    MessageClicked,
    MessageOpened,
    MessageReplied,
    PoolStageChanged,
    PoolStageRenamed,
    SegmentEntered,
    SegmentExited,
    Session,
    current_trace_context,
    is_erased,
)

MARKETING = "marketing"


def build_router(consumer: IdempotentConsumer, database: Database) -> KafkaRouter:
    """The campaigns service's subscribers."""
    router = KafkaRouter()

    async def project_candidate(envelope: EventEnvelope[Any], session: Session) -> bool:
        """Stores the recipient; True when this change withdrew marketing consent."""
        return await project_profile(envelope.tenant_id, envelope.data, session)

    async def project_profile(tenant_id: str, profile: CandidateProfile, session: Session) -> bool:
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
            ),
            session=session,
        )
        return before is not None and before.marketing_consent and not profile.marketing_consent

    async def enrol(
        tenant_id: str,
        sequences: list[Sequence],
        candidate_id: str,
        enrolled_by: str,
        session: Session,
    ) -> None:
        enrolments = EnrolmentRepository(database, tenant_id)
        carrier = current_trace_context()
        for sequence in sequences:
            await enrolments.enrol(
                sequence, candidate_id, carrier, enrolled_by=enrolled_by, session=session
            )

    async def end_enrolments(
        tenant_id: str, candidate_id: str, reason: ExitReason, session: Session
    ) -> None:
        """Ends the candidate's active enrolments in sequences that exit on `reason`."""
        enrolments = EnrolmentRepository(database, tenant_id)
        sequences = SequenceRepository(database, tenant_id)
        ending = []
        for sequence_id in await enrolments.active_sequences(candidate_id, session=session):
            sequence = await sequences.get(sequence_id, session=session)
            if sequence is None or reason in sequence.exit_on:
                ending.append(sequence_id)
        if ending:
            await enrolments.exit_active(candidate_id, reason, sequence_ids=ending, session=session)

    async def record_signal(
        tenant_id: str, candidate_id: str, signal: Signal, session: Session
    ) -> None:
        """Remembers what the candidate did and lets branches waiting on them look again."""
        await SignalRepository(database, tenant_id).record(candidate_id, signal, session=session)
        await EnrolmentRepository(database, tenant_id).wake_awaiting(candidate_id, session=session)

    async def on_candidate_created(envelope: EventEnvelope[Any], session: Session) -> None:
        await project_candidate(envelope, session)

    async def on_candidate_updated(envelope: EventEnvelope[Any], session: Session) -> None:
        if await project_candidate(envelope, session):
            profile: CandidateProfile = envelope.data
            await end_enrolments(
                envelope.tenant_id, profile.candidate_id, ExitReason.UNSUBSCRIBED, session
            )

    async def on_segment_entered(envelope: EventEnvelope[Any], session: Session) -> None:
        entered: SegmentEntered = envelope.data
        await SegmentMemberRepository(database, envelope.tenant_id).enter(
            entered.segment_id, entered.candidate_id, session=session
        )
        sequences = SequenceRepository(database, envelope.tenant_id)
        triggered = await sequences.triggered_by_segment(entered.segment_id, session=session)
        await enrol(
            envelope.tenant_id,
            triggered,
            entered.candidate_id,
            f"segment:{entered.segment_id}",
            session,
        )

    async def on_segment_exited(envelope: EventEnvelope[Any], session: Session) -> None:
        exited: SegmentExited = envelope.data
        await SegmentMemberRepository(database, envelope.tenant_id).exit(
            exited.segment_id, exited.candidate_id, session=session
        )

    async def on_pool_stage_changed(envelope: EventEnvelope[Any], session: Session) -> None:
        moved: PoolStageChanged = envelope.data
        members = PoolMemberRepository(database, envelope.tenant_id)
        if moved.to_stage is not None:
            # Renames come on their own topic: a move made before one may arrive after it.
            renames = await members.renames(moved.pool_id, session=session)
            moved = moved.model_copy(
                update={"to_stage": stage_now_called(moved.to_stage, moved.moved_at, renames)}
            )
        await members.place(moved.pool_id, moved.candidate_id, moved.to_stage, session=session)
        if moved.to_stage is None:
            return  # removed from the pool: nothing was reached
        sequences = SequenceRepository(database, envelope.tenant_id)
        # Stage names are matched as the candidates service does: ignoring case.
        triggered = [
            sequence
            for sequence in await sequences.triggered_by(
                "pool_stage_reached", pool_id=moved.pool_id, session=session
            )
            if isinstance(sequence.trigger, PoolStageTrigger)
            and sequence.trigger.stage.casefold() == moved.to_stage.casefold()
        ]
        await enrol(
            envelope.tenant_id,
            triggered,
            moved.candidate_id,
            f"pool:{moved.pool_id}:{moved.to_stage}",
            session,
        )

    async def on_list_member_added(envelope: EventEnvelope[Any], session: Session) -> None:
        added: ListMemberAdded = envelope.data
        if await is_erased(database, envelope.tenant_id, added.candidate_id, session=session):
            return  # added just before the person was erased: nobody to send to
        await StoredListRepository(database, envelope.tenant_id).record(
            added.list_id,
            added.candidate_id,
            member=True,
            changed_at=added.changed_at,
            session=session,
        )

    async def on_list_member_removed(envelope: EventEnvelope[Any], session: Session) -> None:
        removed: ListMemberRemoved = envelope.data
        await StoredListRepository(database, envelope.tenant_id).record(
            removed.list_id,
            removed.candidate_id,
            member=False,
            changed_at=removed.changed_at,
            session=session,
        )

    async def on_list_archived(envelope: EventEnvelope[Any], session: Session) -> None:
        archived: ListArchived = envelope.data
        await StoredListRepository(database, envelope.tenant_id).archive(
            archived.list_id, archived.archived_at, session=session
        )

    async def on_pool_stage_renamed(envelope: EventEnvelope[Any], session: Session) -> None:
        renamed: PoolStageRenamed = envelope.data
        tenant = envelope.tenant_id
        await PoolMemberRepository(database, tenant).rename_stage(renamed, session=session)
        await SequenceRepository(database, tenant).rename_pool_stage(renamed, session=session)
        await BroadcastRepository(database, tenant).rename_pool_stage(renamed, session=session)

    async def on_event_checked_in(envelope: EventEnvelope[Any], session: Session) -> None:
        attended: EventCheckedIn = envelope.data
        if attended.candidate_id is None:
            return  # not a candidate yet; the candidates service creates one from the check-in
        sequences = SequenceRepository(database, envelope.tenant_id)
        triggered = await sequences.triggered_by(
            "event_checked_in", event_id=attended.event_id, session=session
        ) + await sequences.triggered_by("event_checked_in", event_id=None, session=session)
        await enrol(
            envelope.tenant_id,
            triggered,
            attended.candidate_id,
            f"event:{attended.event_id}",
            session,
        )

    async def on_ats_application_rejected(envelope: EventEnvelope[Any], session: Session) -> None:
        rejected: AtsApplicationRejected = envelope.data
        if rejected.candidate_id is None:
            return
        sequences = SequenceRepository(database, envelope.tenant_id)
        triggered = [
            sequence
            for sequence in await sequences.triggered_by("ats_rejected", session=session)
            if isinstance(sequence.trigger, AtsRejectedTrigger)
            and sequence.trigger.admits(rejected.stage)
        ]
        await enrol(
            envelope.tenant_id,
            triggered,
            rejected.candidate_id,
            f"ats:{rejected.ats_application_id}",
            session,
        )

    async def on_ats_application_created(envelope: EventEnvelope[Any], session: Session) -> None:
        application: AtsApplicationCreated = envelope.data
        if application.candidate_id is not None:
            await end_enrolments(
                envelope.tenant_id, application.candidate_id, ExitReason.APPLIED, session
            )

    async def on_ats_application_hired(envelope: EventEnvelope[Any], session: Session) -> None:
        hired: AtsApplicationHired = envelope.data
        if hired.candidate_id is not None:
            await end_enrolments(envelope.tenant_id, hired.candidate_id, ExitReason.HIRED, session)

    async def on_consent_changed(envelope: EventEnvelope[Any], session: Session) -> None:
        changed: ConsentChanged = envelope.data
        if changed.purpose == MARKETING and (
            changed.status != "granted" or not changed.marketing_consent
        ):
            await end_enrolments(
                envelope.tenant_id, changed.candidate_id, ExitReason.UNSUBSCRIBED, session
            )
        await update_suppressions(envelope.tenant_id, changed, session)

    async def on_message_replied(envelope: EventEnvelope[Any], session: Session) -> None:
        replied: MessageReplied = envelope.data
        signal = Signal(BranchCondition.REPLIED, replied.received_at, message_id=replied.message_id)
        await record_signal(envelope.tenant_id, replied.candidate_id, signal, session)
        await end_enrolments(envelope.tenant_id, replied.candidate_id, ExitReason.REPLIED, session)

    async def on_message_opened(envelope: EventEnvelope[Any], session: Session) -> None:
        opened: MessageOpened = envelope.data
        if opened.automated:
            return  # a scanner or image proxy, not the candidate
        signal = Signal(BranchCondition.OPENED, envelope.time, message_id=opened.message_id)
        await record_signal(envelope.tenant_id, opened.candidate_id, signal, session)

    async def on_message_clicked(envelope: EventEnvelope[Any], session: Session) -> None:
        clicked: MessageClicked = envelope.data
        signal = Signal(BranchCondition.CLICKED, envelope.time, message_id=clicked.message_id)
        await record_signal(envelope.tenant_id, clicked.candidate_id, signal, session)

    async def on_event_registered(envelope: EventEnvelope[Any], session: Session) -> None:
        registered: EventRegistered = envelope.data
        if registered.candidate_id is None:
            return
        signal = Signal(
            BranchCondition.REGISTERED, registered.registered_at, event_id=registered.event_id
        )
        await record_signal(envelope.tenant_id, registered.candidate_id, signal, session)

    async def on_candidate_merged(envelope: EventEnvelope[Any], session: Session) -> None:
        merged: CandidateMerged = envelope.data
        tenant = envelope.tenant_id
        folded, survivor = merged.merged_candidate_id, merged.survivor_candidate_id
        await RecipientRepository(database, tenant).fold_into(folded, survivor, session=session)
        await project_profile(tenant, merged.survivor, session)
        await EnrolmentRepository(database, tenant).fold_into(
            folded, survivor, merged.merge_id, session=session
        )
        await MessageRepository(database, tenant).fold_into(
            folded, survivor, merged.merge_id, session=session
        )

    async def on_candidate_unmerged(envelope: EventEnvelope[Any], session: Session) -> None:
        unmerged: CandidateUnmerged = envelope.data
        tenant = envelope.tenant_id
        await EnrolmentRepository(database, tenant).unfold(unmerged.merge_id, session=session)
        await MessageRepository(database, tenant).unfold(unmerged.merge_id, session=session)
        await project_profile(tenant, unmerged.survivor, session)
        await project_profile(tenant, unmerged.restored, session)

    consumer.subscribe(
        router,
        CANDIDATE_MERGED,
        on_candidate_merged,
        description="Moves a merged candidate's recipient, enrolments and messages to the "
        "survivor (an enrolment in a sequence the survivor is in already ends).",
    )
    consumer.subscribe(
        router,
        CANDIDATE_UNMERGED,
        on_candidate_unmerged,
        description="Moves back what a merge moved and projects both restored candidates.",
    )

    async def update_suppressions(
        tenant_id: str, changed: ConsentChanged, session: Session
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

    # A subscriber of its own (and so a consumer group of its own) next to the GDPR eraser's
    # `on_candidate_erased`, which deletes the person's data (see `crm_shared.gdpr`).
    async def on_candidate_erased_suppress(envelope: EventEnvelope[Any], session: Session) -> None:
        erased: CandidateErased = envelope.data
        suppressions = SuppressionRepository(database, envelope.tenant_id)
        for digest in erased.email_sha256:
            entry = Suppression(
                tenant_id=envelope.tenant_id,
                email_sha256=digest,
                reason=ListReason.ERASED,
                source="candidate.erased",
            )
            await suppressions.add(entry, session=session)

    consumer.subscribe(
        router,
        CANDIDATE_ERASED,
        on_candidate_erased_suppress,
        description="Suppresses every address of an erased candidate for good (by hash only).",
    )
    consumer.subscribe(
        router,
        CANDIDATE_CREATED,
        on_candidate_created,
        description="Keeps the recipient projection (name, email, consent, zone) of candidates.",
    )
    consumer.subscribe(
        router,
        CANDIDATE_UPDATED,
        on_candidate_updated,
        description="Keeps the recipient projection current; a consent withdrawal ends enrolments.",
    )
    consumer.subscribe(
        router,
        SEGMENT_ENTERED,
        on_segment_entered,
        description="Enrols a candidate entering a segment in the sequences it triggers.",
    )
    consumer.subscribe(
        router,
        SEGMENT_EXITED,
        on_segment_exited,
        description="Keeps the segment membership projection current.",
    )
    consumer.subscribe(
        router,
        POOL_STAGE_CHANGED,
        on_pool_stage_changed,
        description="Keeps pool membership; enrols a candidate reaching a pool stage in sequences.",
    )
    consumer.subscribe(
        router,
        POOL_STAGE_RENAMED,
        on_pool_stage_renamed,
        description="Follows a pool stage's rename in pool membership, sequence triggers and "
        "move_stage steps, and broadcasts that have not snapshotted their audience.",
    )
    consumer.subscribe(
        router,
        LIST_MEMBER_ADDED,
        on_list_member_added,
        description="Keeps the stored list membership projection (broadcast audiences).",
    )
    consumer.subscribe(
        router,
        LIST_MEMBER_REMOVED,
        on_list_member_removed,
        description="Keeps the stored list membership projection current.",
    )
    consumer.subscribe(
        router,
        LIST_ARCHIVED,
        on_list_archived,
        description="Remembers an archived list: broadcasts to it are paused, not sent.",
    )
    consumer.subscribe(
        router,
        EVENT_CHECKED_IN,
        on_event_checked_in,
        description="Enrols a candidate who attended an event in the sequences it triggers.",
    )
    consumer.subscribe(
        router,
        ATS_APPLICATION_REJECTED,
        on_ats_application_rejected,
        description="Enrols a candidate rejected in the ATS (at a qualifying stage) in sequences.",
    )
    consumer.subscribe(
        router,
        ATS_APPLICATION_CREATED,
        on_ats_application_created,
        description="Ends a candidate's active enrolments once they applied in the ATS.",
    )
    consumer.subscribe(
        router,
        ATS_APPLICATION_HIRED,
        on_ats_application_hired,
        description="Ends a candidate's active enrolments once they were hired.",
    )
    consumer.subscribe(
        router,
        CONSENT_CHANGED,
        on_consent_changed,
        description="Ends a candidate's active enrolments and suppresses their addresses when "
        "marketing consent is withdrawn (granting it again lifts the suppression).",
    )
    consumer.subscribe(
        router,
        MESSAGE_REPLIED,
        on_message_replied,
        description="Records a reply for branches; ends enrolments of sequences that exit on it.",
    )
    consumer.subscribe(
        router,
        MESSAGE_OPENED,
        on_message_opened,
        description="Records a (human) open for sequence branches.",
    )
    consumer.subscribe(
        router,
        MESSAGE_CLICKED,
        on_message_clicked,
        description="Records a click for sequence branches.",
    )
    consumer.subscribe(
        router,
        EVENT_REGISTERED,
        on_event_registered,
        description="Records an event registration for sequence branches.",
    )
    return router

"""Events the campaigns service emits, staged in its outbox inside the write's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_campaigns.domain.inbound_mail import BounceType
from crm_campaigns.domain.models import (
    Enrolment,
    EnrolmentStatus,
    Message,
    MoveStageStep,
    PoolStageTrigger,
    SegmentTrigger,
    Sequence,
)
from crm_shared import (
    CANDIDATE_CHANGE_REQUESTED,
    ENROLMENT_ENDED,
    ENROLMENT_STARTED,
    MESSAGE_BOUNCED,
    MESSAGE_CLICKED,
    MESSAGE_COMPLAINED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    MESSAGE_SUPPRESSED,
    SEQUENCE_SAVED,
    CandidateChangeRequested,
    EnrolmentEnded,
    EnrolmentStarted,
    EventEnvelope,
    MessageBounced,
    MessageClicked,
    MessageComplained,
    MessageOpened,
    MessageReplied,
    MessageSent,
    MessageSuppressed,
    Outbox,
    PoolStageReference,
    SequenceSaved,
    Session,
)

# The envelope's `source` of events staged below the composition root (the enrolment
# repository's), as the service's settings name it.
SOURCE = "campaigns"


def message_sent_envelope(outbox: Outbox, message: Message) -> EventEnvelope[Any]:
    """`message.sent` for a message handed to SMTP (staged in bulk by the dispatcher)."""
    payload = MessageSent(
        message_id=message.id,
        candidate_id=message.candidate_id,
        template_id=message.template_id,
        subject=message.subject,
        sequence_id=message.sequence_id,
        enrolment_id=message.enrolment_id,
        broadcast_id=message.broadcast_id,
        variant=message.variant,
        step_index=message.step_index,
        step_label=message.step_label,
    )
    return outbox.envelope(
        MESSAGE_SENT, tenant_id=message.tenant_id, subject=message.candidate_id, data=payload
    )


def message_suppressed_envelope(
    outbox: Outbox,
    message: Message,
    reason: str,
    *,
    broadcast_name: str | None,
    sequence_name: str | None,
    suppressed_at: datetime,
) -> EventEnvelope[Any]:
    """`message.suppressed` for a message a send rule stopped for good (staged in bulk by the
    dispatcher, with the message's new status)."""
    payload = MessageSuppressed(
        message_id=message.id,
        candidate_id=message.candidate_id,
        template_id=message.template_id,
        subject=message.subject,
        reason=reason,
        broadcast_id=message.broadcast_id,
        broadcast_name=broadcast_name,
        variant=message.variant,
        sequence_id=message.sequence_id,
        sequence_name=sequence_name,
        enrolment_id=message.enrolment_id,
        step_index=message.step_index,
        step_label=message.step_label,
        suppressed_at=suppressed_at,
    )
    return outbox.envelope(
        MESSAGE_SUPPRESSED, tenant_id=message.tenant_id, subject=message.candidate_id, data=payload
    )


async def to_message_opened(
    outbox: Outbox, message: Message, *, automated: bool, session: Session
) -> None:
    """Stages `message.opened` for a loaded tracking pixel."""
    payload = MessageOpened(
        message_id=message.id, candidate_id=message.candidate_id, automated=automated
    )
    await outbox.stage(
        MESSAGE_OPENED,
        tenant_id=message.tenant_id,
        subject=message.candidate_id,
        data=payload,
        session=session,
    )


async def to_message_clicked(
    outbox: Outbox, message: Message, link_index: int, *, automated: bool, session: Session
) -> None:
    """Stages `message.clicked` for a followed tracked link."""
    payload = MessageClicked(
        message_id=message.id,
        candidate_id=message.candidate_id,
        link_index=link_index,
        url=message.links[link_index],
        automated=automated,
    )
    await outbox.stage(
        MESSAGE_CLICKED,
        tenant_id=message.tenant_id,
        subject=message.candidate_id,
        data=payload,
        session=session,
    )


async def to_candidate_change_requested(
    outbox: Outbox,
    *,
    tenant_id: str,
    candidate_id: str,
    add_tags: list[str],
    remove_tags: list[str],
    pool_id: str | None,
    stage: str | None,
    requested_by: str,
    enrolment_id: str,
    step: int,
    session: Session,
) -> None:
    """Stages `candidate.change_requested`: a sequence step asks for tags or a pool stage
    (a refusal names the enrolment and step again)."""
    payload = CandidateChangeRequested(
        candidate_id=candidate_id,
        add_tags=add_tags,
        remove_tags=remove_tags,
        pool_id=pool_id,
        stage=stage,
        requested_by=requested_by,
        enrolment_id=enrolment_id,
        step=step,
    )
    await outbox.stage(
        CANDIDATE_CHANGE_REQUESTED,
        tenant_id=tenant_id,
        subject=candidate_id,
        data=payload,
        session=session,
    )


async def to_message_bounced(
    outbox: Outbox,
    message: Message,
    *,
    bounce_type: BounceType,
    reason: str,
    source: str,
    session: Session,
) -> None:
    """Stages `message.bounced` for a bounce reported by a DSN or a provider webhook."""
    payload = MessageBounced(
        message_id=message.id,
        candidate_id=message.candidate_id,
        bounce_type=bounce_type,
        reason=reason,
        source=source,
    )
    await outbox.stage(
        MESSAGE_BOUNCED,
        tenant_id=message.tenant_id,
        subject=message.candidate_id,
        data=payload,
        session=session,
    )


async def to_message_complained(
    outbox: Outbox, message: Message, *, feedback_type: str, source: str, session: Session
) -> None:
    """Stages `message.complained` for the first spam complaint about a message."""
    payload = MessageComplained(
        message_id=message.id,
        candidate_id=message.candidate_id,
        feedback_type=feedback_type,
        source=source,
    )
    await outbox.stage(
        MESSAGE_COMPLAINED,
        tenant_id=message.tenant_id,
        subject=message.candidate_id,
        data=payload,
        session=session,
    )


async def to_message_replied(
    outbox: Outbox, message: Message, *, received_at: datetime, session: Session
) -> None:
    """Stages `message.replied` for the candidate's first reply to a message."""
    payload = MessageReplied(
        message_id=message.id,
        candidate_id=message.candidate_id,
        received_at=received_at,
        sequence_id=message.sequence_id,
        enrolment_id=message.enrolment_id,
    )
    await outbox.stage(
        MESSAGE_REPLIED,
        tenant_id=message.tenant_id,
        subject=message.candidate_id,
        data=payload,
        session=session,
    )


async def to_sequence_saved(outbox: Outbox, sequence: Sequence, *, session: Session) -> None:
    """Stages `sequence.saved`: the sequence's state after a create, edit or status change."""
    trigger = sequence.trigger
    named = [trigger, *sequence.steps]
    payload = SequenceSaved(
        sequence_id=sequence.id,
        name=sequence.name,
        status=sequence.status.value,
        version=sequence.version,
        trigger_segment_ids=[trigger.segment_id] if isinstance(trigger, SegmentTrigger) else [],
        pool_stages=list(
            dict.fromkeys(
                PoolStageReference(pool_id=part.pool_id, stage=part.stage)
                for part in named
                if isinstance(part, PoolStageTrigger | MoveStageStep)
            )
        ),
    )
    await outbox.stage(
        SEQUENCE_SAVED,
        tenant_id=sequence.tenant_id,
        subject=sequence.id,
        data=payload,
        session=session,
    )


async def to_enrolment_started(
    outbox: Outbox, enrolment: Enrolment, sequence_name: str, *, session: Session
) -> None:
    """Stages `enrolment.started` for a new enrolment, in the transaction that inserts it."""
    payload = EnrolmentStarted(
        enrolment_id=enrolment.id,
        sequence_id=enrolment.sequence_id,
        sequence_name=sequence_name,
        candidate_id=enrolment.candidate_id,
        entry=enrolment.entry,
        enrolled_by=enrolment.enrolled_by,
        enrolled_at=enrolment.enrolled_at,
    )
    await outbox.stage(
        ENROLMENT_STARTED,
        tenant_id=enrolment.tenant_id,
        subject=enrolment.candidate_id,
        data=payload,
        session=session,
    )


def enrolment_ended_envelope(
    outbox: Outbox, ended: Enrolment, sequence_name: str
) -> EventEnvelope[Any]:
    """`enrolment.ended` for an enrolment as it is after it completed or exited (staged in bulk
    in the transaction that ended it)."""
    payload = EnrolmentEnded(
        enrolment_id=ended.id,
        sequence_id=ended.sequence_id,
        sequence_name=sequence_name,
        candidate_id=ended.candidate_id,
        entry=ended.entry,
        outcome="completed" if ended.status is EnrolmentStatus.COMPLETED else "exited",
        exit_reason=ended.exit_reason.value if ended.exit_reason is not None else None,
        exit_step=ended.exit_step,
        enrolled_at=ended.enrolled_at,
        ended_at=ended.ended_at or ended.enrolled_at,
    )
    return outbox.envelope(
        ENROLMENT_ENDED, tenant_id=ended.tenant_id, subject=ended.candidate_id, data=payload
    )

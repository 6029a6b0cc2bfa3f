"""What drives sequences from outside: triggers that enrol, signals that branches look at, and
conditions that end enrolments early."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from crm_campaigns.application.standing import enrol_unless_excluded
from crm_campaigns.domain.enrolments import (
    EnrolmentHoldRefused,
    ats_change_is_current,
    check_pausable,
    status_on_resume,
)
from crm_campaigns.domain.lifecycle import SequenceAction, sequence_after
from crm_campaigns.domain.models import (
    AtsRejectedTrigger,
    BranchCondition,
    Enrolment,
    EnrolmentRefused,
    EnrolmentState,
    ExitReason,
    Recipient,
    Sequence,
    StepProblem,
)
from crm_campaigns.domain.sequences import Signal
from crm_campaigns.publishers import SOURCE
from crm_campaigns.repositories.applications import ApplicationRepository, ApplicationStatus
from crm_campaigns.repositories.collections import MERGED_CANDIDATES
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.segments import SegmentMemberRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.signals import SignalRepository
from crm_shared import (
    AfterErasure,
    AtsApplicationCreated,
    AtsApplicationHired,
    AtsApplicationRejected,
    CandidateChangeRefused,
    CandidateErased,
    Database,
    EventAttended,
    EventCheckedIn,
    EventNoShow,
    EventRegistered,
    MergedIds,
    MessageClicked,
    MessageOpened,
    MessageReplied,
    MongoClient,
    Outbox,
    SegmentEntered,
    SegmentExited,
    Session,
    current_trace_context,
    in_transaction,
    utc_now,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ManualEnrolment:
    """Who a recruiter's enrolment enrolled, and who it did not and why."""

    enrolled: list[Enrolment]
    refused: list[tuple[str, EnrolmentRefused | Literal["unknown_candidate"]]]


class MergedAwayError(Exception):
    """Candidates asked to be enrolled were merged into others: their survivors are the ones
    to enrol (a merged-away id would be a second enrolment of the same person)."""

    def __init__(self, survivors: dict[str, str]) -> None:
        self.survivors = survivors
        super().__init__(
            "; ".join(
                f"candidate {merged} was merged into {kept}" for merged, kept in survivors.items()
            )
        )


async def enrol_by_hand(
    mongo: MongoClient,
    database: Database,
    sequence: Sequence,
    candidate_ids: list[str],
    user_id: str,
) -> ManualEnrolment:
    """Enrols candidates as the sequence's re-entry policy allows, in one transaction. A
    merged-away candidate among them refuses the whole request (`MergedAwayError`), before
    anyone is enrolled: it names the record to enrol instead."""
    sequence_after(sequence.status, SequenceAction.ENROL)
    survivors = await MergedIds(database[MERGED_CANDIDATES], sequence.tenant_id).survivors_of(
        list(dict.fromkeys(candidate_ids))
    )
    if survivors:
        raise MergedAwayError(survivors)
    enrolled: list[Enrolment] = []
    refused: list[tuple[str, EnrolmentRefused | Literal["unknown_candidate"]]] = []

    async def enrol(session: Session) -> None:
        enrolled.clear()
        refused.clear()
        recipients = RecipientRepository(database, sequence.tenant_id)
        for candidate_id in dict.fromkeys(candidate_ids):
            if await recipients.get(candidate_id, session=session) is None:
                refused.append((candidate_id, "unknown_candidate"))
                continue
            outcome = await enrol_unless_excluded(
                database,
                sequence,
                candidate_id,
                current_trace_context(),
                enrolled_by=f"user:{user_id}",
                session=session,
            )
            if isinstance(outcome, EnrolmentRefused):
                refused.append((candidate_id, outcome))
            else:
                enrolled.append(outcome)

    await in_transaction(mongo, enrol)
    return ManualEnrolment(enrolled, refused)


async def remove_by_hand(
    mongo: MongoClient, enrolments: EnrolmentRepository, sequence_id: str, candidate_id: str
) -> bool:
    """Ends a candidate's active enrolment in a sequence (`removed`); False if none was."""

    async def remove(session: Session) -> int:
        return await enrolments.exit_active(
            candidate_id, ExitReason.REMOVED, sequence_ids=[sequence_id], session=session
        )

    return bool(await in_transaction(mongo, remove))


async def enrol_in(
    database: Database,
    tenant_id: str,
    sequences: list[Sequence],
    candidate_id: str,
    enrolled_by: str,
    session: Session,
) -> None:
    """Enrols the candidate in each sequence, as its re-entry policy and exit conditions
    allow."""
    carrier = current_trace_context()
    for sequence in sequences:
        await enrol_unless_excluded(
            database, sequence, candidate_id, carrier, enrolled_by=enrolled_by, session=session
        )


async def end_enrolments(
    database: Database, tenant_id: str, candidate_id: str, reason: ExitReason, session: Session
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
    database: Database, tenant_id: str, candidate_id: str, signal: Signal, session: Session
) -> None:
    """Remembers what the candidate did and lets branches waiting on them look again."""
    await SignalRepository(database, tenant_id).record(candidate_id, signal, session=session)
    await EnrolmentRepository(database, tenant_id).wake_awaiting(candidate_id, session=session)


async def enter_segment(
    database: Database, tenant_id: str, entered: SegmentEntered, session: Session
) -> None:
    """Records the membership and enrols the candidate in the sequences the segment triggers."""
    members = SegmentMemberRepository(database, tenant_id)
    await members.guard_enrolments(entered.segment_id, session=session)
    await members.enter(entered.segment_id, entered.candidate_id, session=session)
    sequences = SequenceRepository(database, tenant_id)
    triggered = await sequences.triggered_by_segment(entered.segment_id, session=session)
    await enrol_in(
        database,
        tenant_id,
        triggered,
        entered.candidate_id,
        f"segment:{entered.segment_id}",
        session,
    )


async def exit_segment(
    database: Database, tenant_id: str, exited: SegmentExited, session: Session
) -> None:
    """Keeps the segment membership projection current."""
    await SegmentMemberRepository(database, tenant_id).exit(
        exited.segment_id, exited.candidate_id, session=session
    )


async def enrol_attendee(
    database: Database, tenant_id: str, attended: EventCheckedIn, session: Session
) -> None:
    """Enrols a candidate who attended an event in the sequences it (or any event) triggers."""
    if attended.candidate_id is None:
        return  # not a candidate yet; the candidates service creates one from the check-in
    sequences = SequenceRepository(database, tenant_id)
    triggered = await sequences.triggered_by(
        "event_checked_in", event_id=attended.event_id, session=session
    ) + await sequences.triggered_by("event_checked_in", event_id=None, session=session)
    await enrol_in(
        database,
        tenant_id,
        triggered,
        attended.candidate_id,
        f"event:{attended.event_id}",
        session,
    )


async def enrol_for_outcome(
    database: Database, tenant_id: str, outcome: EventAttended | EventNoShow, session: Session
) -> None:
    """Enrols a completed event's attendee or no-show in the sequences that follow up on that
    event (or on any event)."""
    trigger = "event_attended" if isinstance(outcome, EventAttended) else "event_no_show"
    sequences = SequenceRepository(database, tenant_id)
    triggered = await sequences.triggered_by(
        trigger, event_id=outcome.event_id, session=session
    ) + await sequences.triggered_by(trigger, event_id=None, session=session)
    await enrol_in(
        database,
        tenant_id,
        triggered,
        outcome.candidate_id,
        f"event:{outcome.event_id}",
        session,
    )


async def enrol_rejected_applicant(
    database: Database, tenant_id: str, rejected: AtsApplicationRejected, session: Session
) -> None:
    """Enrols a candidate rejected in the ATS in the sequences whose stages admit it, unless the
    rejection is history (`ats_change_is_current`)."""
    if rejected.candidate_id is None:
        return
    # First: the application is no longer in progress, so `applied` keeps nobody out for it.
    await ApplicationRepository(database, tenant_id).record(
        rejected.candidate_id,
        rejected.connection_id,
        rejected.ats_application_id,
        ApplicationStatus.REJECTED,
        occurred_at=rejected.occurred_at,
        current=True,
        session=session,
    )
    if not ats_change_is_current(rejected.occurred_at, now=utc_now()):
        return
    sequences = SequenceRepository(database, tenant_id)
    triggered = [
        sequence
        for sequence in await sequences.triggered_by("ats_rejected", session=session)
        if isinstance(sequence.trigger, AtsRejectedTrigger)
        and sequence.trigger.admits(rejected.stage)
    ]
    await enrol_in(
        database,
        tenant_id,
        triggered,
        rejected.candidate_id,
        f"ats:{rejected.ats_application_id}",
        session,
    )


async def end_for_applicant(
    database: Database, tenant_id: str, application: AtsApplicationCreated, session: Session
) -> None:
    """Ends the active enrolments of a candidate who applied in the ATS (a prospect has not
    applied; an application from the ATS's history ends nothing)."""
    if (
        application.candidate_id is not None
        and not application.prospect
        and ats_change_is_current(application.applied_at, now=utc_now())
    ):
        # Kept, so an enrolment that starts (or is merged in) while it is in progress ends too.
        await ApplicationRepository(database, tenant_id).record(
            application.candidate_id,
            application.connection_id,
            application.ats_application_id,
            ApplicationStatus.ACTIVE,
            occurred_at=application.applied_at,
            current=True,
            session=session,
        )
        await end_enrolments(
            database, tenant_id, application.candidate_id, ExitReason.APPLIED, session
        )


async def end_for_hire(
    database: Database, tenant_id: str, hired: AtsApplicationHired, session: Session
) -> None:
    """Ends the active enrolments of a candidate who was hired (recently: a hire from the ATS's
    history ends nothing)."""
    if hired.candidate_id is None:
        return
    current = ats_change_is_current(hired.occurred_at, now=utc_now())
    # Kept (a hire from the ATS's history as not current), so a hired person is not enrolled
    # later, nor mailed through an enrolment a merge brings in.
    await ApplicationRepository(database, tenant_id).record(
        hired.candidate_id,
        hired.connection_id,
        hired.ats_application_id,
        ApplicationStatus.HIRED,
        occurred_at=hired.occurred_at,
        current=current,
        session=session,
    )
    if current:
        await end_enrolments(database, tenant_id, hired.candidate_id, ExitReason.HIRED, session)


async def record_reply(
    database: Database, tenant_id: str, replied: MessageReplied, session: Session
) -> None:
    """A reply is a signal for branches and ends enrolments of sequences that exit on it."""
    signal = Signal(BranchCondition.REPLIED, replied.received_at, message_id=replied.message_id)
    await record_signal(database, tenant_id, replied.candidate_id, signal, session)
    await end_enrolments(database, tenant_id, replied.candidate_id, ExitReason.REPLIED, session)


async def record_refused_change(
    database: Database, tenant_id: str, refused: CandidateChangeRefused, session: Session
) -> None:
    """A tag or move-stage step whose change the candidates service refused says why on its
    enrolment, which has gone on meanwhile."""
    if refused.enrolment_id is None or refused.step is None:
        return  # not asked by a sequence step
    problem = StepProblem(
        step=refused.step,
        reason=refused.reason,
        at=refused.refused_at,
        request_id=refused.request_id,
    )
    noted = await EnrolmentRepository(database, tenant_id).note_step_problem(
        refused.enrolment_id, problem, session=session
    )
    if not noted:
        logger.info(
            "refused change %s: enrolment %s gone or already told",
            refused.request_id,
            refused.enrolment_id,
        )


async def record_human_open(
    database: Database, tenant_id: str, opened: MessageOpened, at: datetime, session: Session
) -> None:
    """An open by the candidate (not by a scanner or an image proxy) is a signal for branches."""
    if opened.automated:
        return  # a scanner or image proxy, not the candidate
    signal = Signal(BranchCondition.OPENED, at, message_id=opened.message_id)
    await record_signal(database, tenant_id, opened.candidate_id, signal, session)


async def record_click(
    database: Database, tenant_id: str, clicked: MessageClicked, at: datetime, session: Session
) -> None:
    """A click is a signal for branches."""
    signal = Signal(BranchCondition.CLICKED, at, message_id=clicked.message_id)
    await record_signal(database, tenant_id, clicked.candidate_id, signal, session)


async def record_registration(
    database: Database, tenant_id: str, registered: EventRegistered, session: Session
) -> None:
    """An event registration is a signal for branches."""
    if registered.candidate_id is None:
        return
    signal = Signal(
        BranchCondition.REGISTERED, registered.registered_at, event_id=registered.event_id
    )
    await record_signal(database, tenant_id, registered.candidate_id, signal, session)


class EnrolmentNotFound(LookupError):
    """The candidate has no enrolment in the sequence."""


@dataclass(frozen=True)
class ListedEnrolment:
    """An enrolment with the candidate's name as campaigns' projection knows it (None when the
    candidate is not projected yet, or was erased)."""

    enrolment: Enrolment
    recipient: Recipient | None


@dataclass(frozen=True)
class SequenceEnrolments:
    """One tenant's sequences as people read them, and their enrolments read, retried, paused,
    resumed or ended by hand."""

    mongo: MongoClient
    sequences: SequenceRepository
    enrolments: EnrolmentRepository
    recipients: RecipientRepository

    async def get(self, sequence_id: str) -> Sequence | None:
        return await self.sequences.get(sequence_id)

    async def all(self, *, include_archived: bool = False) -> list[Sequence]:
        return await self.sequences.all(include_archived=include_archived)

    async def listed(
        self,
        sequence_id: str,
        state: EnrolmentState | None = None,
        *,
        after: str | None = None,
        limit: int,
    ) -> list[ListedEnrolment]:
        """One page of the sequence's enrolments (of one state) with their candidates' names:
        two queries, whatever the page's size."""
        enrolments = await self.enrolments.of_sequence(sequence_id, state, after=after, limit=limit)
        names = await self.recipients.many(sorted({e.candidate_id for e in enrolments}))
        return [ListedEnrolment(e, names.get(e.candidate_id)) for e in enrolments]

    async def of_candidate(
        self, candidate_id: str, *, after: str | None = None, limit: int
    ) -> list[tuple[Enrolment, Sequence]]:
        """One page of the candidate's enrolments in every sequence (archived ones too), each
        with its sequence: two queries, whatever the page's size."""
        enrolments = await self.enrolments.page_of_candidate(candidate_id, after=after, limit=limit)
        sequences = await self.sequences.many(sorted({e.sequence_id for e in enrolments}))
        return [(e, sequences[e.sequence_id]) for e in enrolments if e.sequence_id in sequences]

    async def pause(self, sequence: Sequence, candidate_id: str, by: str) -> Enrolment:
        """Pauses the candidate's enrolment on its own: no step of it runs until it is resumed,
        whatever its sequence does meanwhile. Raises `EnrolmentNotFound` or
        `EnrolmentHoldRefused` (not in progress, paused already, or changed meanwhile)."""

        async def hold(session: Session) -> Enrolment:
            latest = await self._latest(sequence.id, candidate_id, session)
            check_pausable(latest)
            if not await self.enrolments.hold(latest, by, session=session):
                raise EnrolmentHoldRefused(_changed(candidate_id))
            return await self._latest(sequence.id, candidate_id, session)

        return await in_transaction(self.mongo, hold)

    async def resume(self, sequence: Sequence, candidate_id: str) -> Enrolment:
        """Resumes an enrolment paused on its own from the step it stopped at (or leaves it
        waiting for its paused sequence). Raises `EnrolmentNotFound` or `EnrolmentHoldRefused`
        (not paused on its own, or changed meanwhile)."""

        async def release(session: Session) -> Enrolment:
            latest = await self._latest(sequence.id, candidate_id, session)
            current = await self.sequences.get(sequence.id, session=session)
            target = status_on_resume(latest, current.status if current else sequence.status)
            if not await self.enrolments.release(latest, target, session=session):
                raise EnrolmentHoldRefused(_changed(candidate_id))
            return await self._latest(sequence.id, candidate_id, session)

        return await in_transaction(self.mongo, release)

    async def _latest(self, sequence_id: str, candidate_id: str, session: Session) -> Enrolment:
        latest = await self.enrolments.latest(sequence_id, candidate_id, session=session)
        if latest is None:
            raise EnrolmentNotFound(candidate_id)
        return latest

    async def state_counts(self, sequence_id: str) -> dict[EnrolmentState, int]:
        return await self.enrolments.state_counts(sequence_id)

    async def failure_reasons(self, sequence_id: str) -> dict[str, int]:
        return await self.enrolments.failure_reasons(sequence_id)

    async def latest(self, sequence_id: str, candidate_id: str) -> Enrolment | None:
        """The candidate's latest enrolment in the sequence."""
        return await self.enrolments.latest(sequence_id, candidate_id)

    async def retry(self, enrolment: Enrolment) -> bool:
        """Puts a failed enrolment back to work; False if it is no longer failed."""
        return await self.enrolments.retry(enrolment)

    async def remove(self, sequence_id: str, candidate_id: str) -> bool:
        """Ends the candidate's active enrolment (`removed`); False if none was."""
        return await remove_by_hand(self.mongo, self.enrolments, sequence_id, candidate_id)


def _changed(candidate_id: str) -> str:
    return f"the enrolment of candidate {candidate_id} changed meanwhile; read it again"


async def end_enrolments_before_erasure(
    database: Database, tenant_id: str, erased: CandidateErased, session: Session
) -> AfterErasure:
    """Campaigns' part in an erasure (`install_gdpr`'s `before_erasure`): the person's
    enrolments in progress end `erased`, so whoever counts them (analytics' enrolment report)
    is told; their `enrolment.ended` is staged once the erasure deleted the person's documents,
    which would otherwise take it with their outbox records."""
    ended = await EnrolmentRepository(database, tenant_id).end_before_erasure(
        erased.candidate_id, erased.erased_at, session=session
    )
    outbox = Outbox(database, SOURCE)

    async def announce(session: Session) -> None:
        await outbox.add_many(ended, session=session)

    return announce

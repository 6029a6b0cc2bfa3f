"""The sequence engine: advances enrolments whose next step is due.

Enrolments are claimed with a lease, so several campaign workers can run against one database;
each step then runs in one transaction that re-checks the claim and the step index before
changing anything, and a send step's message has an id derived from enrolment and step. A step
is therefore never executed twice, even if a lease expires while its owner is still working.
Timers are just `next_run_at` in the enrolment, so they survive restarts.

Side effects are idempotent by construction: message and notification ids are derived from the
enrolment and its step count, and a step's outbox events commit in the step's transaction,
which only commits while the claim (owner, step index, step count) still holds.

A step that cannot run for this candidate (its template is gone, or the mail does not render)
fails the enrolment at that step, in the step's transaction: `status: failed` with the reason,
and for a send step a failed message with the same reason. Nothing after it runs until a
recruiter retries it. An unexpected error (the database briefly away) is retried with backoff
and recorded on the enrolment as `last_error`; the third in a row fails the enrolment too.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from crm_campaigns.application.jobs import jobs_for
from crm_campaigns.application.standing import standing_of
from crm_campaigns.domain.contact_links import contact_links, with_footer
from crm_campaigns.domain.exits import exit_reason
from crm_campaigns.domain.models import (
    AddTagStep,
    BranchStep,
    Enrolment,
    EnrolmentStatus,
    ExitReason,
    Message,
    MessageStatus,
    MoveStageStep,
    Notification,
    NotifyOwnerStep,
    Recipient,
    RemoveTagStep,
    SendStep,
    Sequence,
    SequenceStatus,
    Template,
    WaitStep,
    WaitUntilStep,
)
from crm_campaigns.domain.sequences import (
    BranchDecision,
    evaluate_branch,
    next_local_time,
    resolve_target,
    send_step_of,
    zone_named,
)
from crm_campaigns.domain.templates import RenderError, recipient_context, render
from crm_campaigns.domain.tracking import TrackingTokens, instrument_html
from crm_campaigns.publishers import to_candidate_change_requested
from crm_campaigns.repositories.blocks import BlockRepository
from crm_campaigns.repositories.collections import ENROLMENTS, MESSAGES
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.jobs import JobRepository
from crm_campaigns.repositories.leases import claim_next
from crm_campaigns.repositories.notifications import NotificationRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.signals import SignalRepository
from crm_campaigns.repositories.templates import TemplateRepository
from crm_shared import (
    Database,
    MongoClient,
    Outbox,
    Session,
    SignedLinks,
    Wakeup,
    current_trace_context,
    from_document,
    in_transaction,
    to_document,
    utc_now,
)

# A recipient the projection does not know yet (its candidate event is still in flight).
RECIPIENT_RETRY = timedelta(seconds=2)
# A branch looking at a message still waiting for delivery looks again this much later.
UNDELIVERED_RETRY = timedelta(seconds=3)
# A safety net for loops (which must contain a wait): an enrolment ends after this many steps.
MAX_STEPS_PER_ENROLMENT = 1000
# The statuses an enrolment ends in; a step that leaves it in one announces `enrolment.ended`.
_ENDED = (EnrolmentStatus.COMPLETED.value, EnrolmentStatus.EXITED.value)
# Unexpected errors of one step in a row before its enrolment fails, and the first retry's delay.
MAX_STEP_ERRORS = 3
STEP_ERROR_RETRY = timedelta(seconds=5)

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class LostClaimError(Exception):
    """The enrolment changed under a step (exited, or taken over after the lease expired)."""


class StepFailedError(Exception):
    """A step cannot run for this candidate until someone changes something (a template)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class StepResult:
    """Where an enrolment goes after a step: the next index and when it runs."""

    next_index: int
    run_at: datetime
    executed: bool = True
    awaiting_signal: bool = False
    sent_message: str | None = None


class SequenceEngine:
    """Runs due sequence steps for every tenant."""

    def __init__(
        self,
        *,
        mongo: MongoClient,
        database: Database,
        outbox: Outbox,
        tokens: TrackingTokens,
        links: SignedLinks,
        public_base_url: str,
        sender_names: Callable[[str], str],
        lease: timedelta,
        batch_size: int,
        messages_queued: Wakeup,
        default_time_zone: str = "UTC",
        tenant_time_zones: dict[str, str] | None = None,
    ) -> None:
        self._mongo = mongo
        self._database = database
        self._outbox = outbox
        self._tokens = tokens
        self._links = links
        self._base_url = public_base_url.rstrip("/")
        self._sender_names = sender_names
        self._lease = lease
        self._batch_size = batch_size
        self._messages_queued = messages_queued
        self._default_zone = zone_named(default_time_zone) or UTC
        self._tenant_zones = dict(tenant_time_zones or {})
        self.owner = f"engine-{uuid.uuid4().hex[:12]}"

    async def run_due_steps(self) -> int:
        """Runs up to one batch of due steps; returns how many enrolments it advanced."""
        advanced = 0
        while advanced < self._batch_size:
            claimed = await claim_next(
                self._database,
                ENROLMENTS,
                {"status": EnrolmentStatus.ACTIVE.value, "next_run_at": {"$lte": utc_now()}},
                owner=self.owner,
                lease=self._lease,
                order_by="next_run_at",
            )
            if claimed is None:
                break
            token = otel_context.attach(propagate.extract(claimed.get("trace_context") or {}))
            try:
                with tracer.start_as_current_span("sequence.step"):
                    await self._advance(claimed)
            except LostClaimError:
                logger.info("enrolment %s changed while its step ran; left as is", claimed["_id"])
            except Exception as error:
                # One broken enrolment must not hold up the others.
                logger.exception("step of enrolment %s failed", claimed["_id"])
                await self._record_error(claimed, error)
            finally:
                otel_context.detach(token)
            advanced += 1
        return advanced

    async def _record_error(self, claimed: dict[str, Any], error: Exception) -> None:
        """Records an unexpected step error on the enrolment and schedules a retry with backoff;
        the `MAX_STEP_ERRORS`th in a row fails the enrolment. If even this write fails, the
        lease brings the enrolment back once it expires."""
        errors = int(claimed.get("step_errors") or 0) + 1
        now = utc_now()
        described = f"{type(error).__name__}: {error}"[:500]
        changes: dict[str, Any] = {
            "step_errors": errors,
            "last_error": described,
            "lease_owner": None,
            "lease_until": None,
            "next_run_at": now + STEP_ERROR_RETRY * 2 ** (errors - 1),
        }
        if errors >= MAX_STEP_ERRORS:
            changes |= self._failed(
                now, f"step {claimed['step_index']} failed {errors} times: {described}"
            )
        try:
            # Only while still active: a handler may have ended it meanwhile (the lease stays).
            await self._database[ENROLMENTS].update_one(
                {
                    "_id": claimed["_id"],
                    "lease_owner": self.owner,
                    "status": EnrolmentStatus.ACTIVE.value,
                },
                {"$set": changes},
            )
        except Exception:
            logger.exception("could not record the error of enrolment %s", claimed["_id"])

    @staticmethod
    def _failed(now: datetime, reason: str) -> dict[str, Any]:
        return {
            "status": EnrolmentStatus.FAILED.value,
            "failure_reason": reason,
            "failed_at": now,
            "next_run_at": None,
            "awaiting_signal": False,
        }

    def _zone_for(self, tenant_id: str, recipient: Recipient | None) -> tzinfo:
        """The candidate's own time zone, else the tenant's, else the service default."""
        return (
            zone_named(recipient.time_zone if recipient else None)
            or zone_named(self._tenant_zones.get(tenant_id))
            or self._default_zone
        )

    async def _advance(self, claimed: dict[str, Any]) -> None:
        tenant_id = claimed["tenant_id"]
        sequence = await SequenceRepository(self._database, tenant_id).get(claimed["sequence_id"])
        index = int(claimed["step_index"])
        # Enrolments from before step counting advanced one step per index.
        count = int(claimed.get("step_count", index))
        claim = {
            "_id": claimed["_id"],
            "lease_owner": self.owner,
            "status": EnrolmentStatus.ACTIVE.value,
            "step_index": index,
        }
        enrolments = self._database[ENROLMENTS]
        effects: set[str] = set()

        async def run_step(session: Session) -> None:
            effects.clear()
            current = await enrolments.find_one(claim, session=session)
            if current is None or int(current.get("step_count", index)) != count:
                return  # exited meanwhile, or another worker took over an expired lease
            enrolment = from_document(Enrolment, current | {"step_count": count})
            now = utc_now()
            if sequence is not None and sequence.status is not SequenceStatus.ACTIVE:
                # Paused or archived while this enrolment was due: it follows its sequence.
                await self._update(claim, self._following(sequence.status, now), session)
                await self._announce_if_ended(claim, effects, session)
                return
            if sequence is None or index >= len(sequence.steps) or count >= MAX_STEPS_PER_ENROLMENT:
                await self._update(claim, self._finished(now), session)
                await self._announce_if_ended(claim, effects, session)
                return
            # The exit events end enrolments when they arrive; this catches what they could
            # not: a hire recorded on a record merged in since, a reply that came in between.
            standing = await standing_of(
                self._database, tenant_id, enrolment.candidate_id, session=session
            )
            reason = exit_reason(sequence.exit_on, standing, enrolled_at=enrolment.enrolled_at)
            if reason is not None:
                await self._update(claim, self._exited(reason, now), session)
                await self._announce_if_ended(claim, effects, session)
                return
            try:
                result = await self._execute(sequence, enrolment, now, effects, session)
            except StepFailedError as failure:
                await self._fail_step(sequence, enrolment, claim, failure, now, session)
                return
            changes: dict[str, Any] = {
                "step_index": result.next_index,
                "step_count": count + 1 if result.executed else count,
                "next_run_at": result.run_at,
                "awaiting_signal": result.awaiting_signal,
                "lease_owner": None,
                "lease_until": None,
                "step_errors": 0,
                "last_error": None,
            }
            if result.sent_message is not None:
                changes[f"sent_messages.{index}"] = result.sent_message
            if result.next_index >= len(sequence.steps) and result.run_at <= now:
                # Nothing left to do; a final wait instead keeps the enrolment active until due.
                changes |= self._finished(now)
            await self._update(claim, changes, session)
            if changes.get("status") == EnrolmentStatus.COMPLETED.value:
                await self._announce_if_ended(claim, effects, session)

        await in_transaction(self._mongo, run_step)
        if "message" in effects:
            self._messages_queued.notify()
        if "outbox" in effects:
            self._outbox.notify_committed()

    async def _fail_step(
        self,
        sequence: Sequence,
        enrolment: Enrolment,
        claim: dict[str, Any],
        failure: StepFailedError,
        now: datetime,
        session: Session,
    ) -> None:
        """Fails the enrolment at its current step; a send step also leaves a failed message.

        The step count still moves on, so a retry's message gets an id of its own and the failed
        one stays as the record of what happened.
        """
        index = enrolment.step_index
        step = sequence.steps[index]
        reason = f"step {index} ({step.type}): {failure.detail}"
        changes = self._failed(now, reason) | {
            "step_count": enrolment.step_count + 1,
            "lease_owner": None,
            "lease_until": None,
            "step_errors": 0,
            "last_error": None,
        }
        if isinstance(step, SendStep):
            message_id = f"{enrolment.id}-{enrolment.step_count}"
            recipient = await RecipientRepository(self._database, sequence.tenant_id).get(
                enrolment.candidate_id, session=session
            )
            message = Message(
                id=message_id,
                tenant_id=sequence.tenant_id,
                candidate_id=enrolment.candidate_id,
                template_id=step.template_id,
                sequence_id=sequence.id,
                enrolment_id=enrolment.id,
                step_index=index,
                step_label=step.label,
                to_email=recipient.email if recipient else None,
                subject="",
                html="",
                text="",
                status=MessageStatus.FAILED,
                failure_reason=failure.code,
                last_error=failure.detail,
            )
            await self._database[MESSAGES].insert_one(
                to_document(message) | {"lease_owner": None, "lease_until": None},
                session=session,
            )
            changes[f"sent_messages.{index}"] = message_id
        logger.warning("enrolment %s failed: %s", enrolment.id, reason)
        await self._update(claim, changes, session)

    async def _announce_if_ended(
        self, claim: dict[str, Any], effects: set[str], session: Session
    ) -> None:
        """Stages `enrolment.ended` in the step's transaction if the step just ended the
        enrolment (completed it, or exited it)."""
        current = await self._database[ENROLMENTS].find_one(
            {"_id": claim["_id"]}, {"status": 1, "tenant_id": 1}, session=session
        )
        if current is None or current.get("status") not in _ENDED:
            return
        enrolments = EnrolmentRepository(self._database, str(current["tenant_id"]))
        await enrolments.announce_ended([str(claim["_id"])], session=session)
        effects.add("outbox")

    async def _update(
        self, claim: dict[str, Any], changes: dict[str, Any], session: Session
    ) -> None:
        # The claim is part of the filter: if it no longer holds, nothing of the step commits.
        updated = await self._database[ENROLMENTS].update_one(
            claim, {"$set": changes}, session=session
        )
        if updated.matched_count != 1:
            raise LostClaimError(claim["_id"])

    @classmethod
    def _following(cls, status: SequenceStatus, now: datetime) -> dict[str, Any]:
        if status is SequenceStatus.PAUSED:
            return {
                "status": EnrolmentStatus.PAUSED.value,
                "lease_owner": None,
                "lease_until": None,
            }
        return cls._exited(ExitReason.SEQUENCE_ARCHIVED, now)

    @staticmethod
    def _exited(reason: ExitReason, now: datetime) -> dict[str, Any]:
        return {
            "status": EnrolmentStatus.EXITED.value,
            "exit_reason": reason.value,
            "ended_at": now,
            "next_run_at": None,
            "awaiting_signal": False,
            "lease_owner": None,
            "lease_until": None,
        }

    @staticmethod
    def _finished(now: datetime) -> dict[str, Any]:
        return {
            "status": EnrolmentStatus.COMPLETED.value,
            "ended_at": now,
            "next_run_at": None,
            "awaiting_signal": False,
            "lease_owner": None,
            "lease_until": None,
        }

    async def _execute(
        self,
        sequence: Sequence,
        enrolment: Enrolment,
        now: datetime,
        effects: set[str],
        session: Session,
    ) -> StepResult:
        """Runs the enrolment's current step; says where it goes next."""
        index = enrolment.step_index
        step = sequence.steps[index]
        tenant_id = sequence.tenant_id
        following = StepResult(next_index=index + 1, run_at=now)
        if isinstance(step, WaitStep):
            return StepResult(next_index=index + 1, run_at=now + step.duration)
        if isinstance(step, BranchStep):
            return await self._branch(sequence, enrolment, step, now, session)
        if isinstance(step, AddTagStep | RemoveTagStep | MoveStageStep):
            await to_candidate_change_requested(
                self._outbox,
                tenant_id=tenant_id,
                candidate_id=enrolment.candidate_id,
                add_tags=list(step.tags) if isinstance(step, AddTagStep) else [],
                remove_tags=list(step.tags) if isinstance(step, RemoveTagStep) else [],
                pool_id=step.pool_id if isinstance(step, MoveStageStep) else None,
                stage=step.stage if isinstance(step, MoveStageStep) else None,
                requested_by=f"sequence:{sequence.id}",
                enrolment_id=enrolment.id,
                step=index,
                session=session,
            )
            effects.add("outbox")
            return following
        recipient = await RecipientRepository(self._database, tenant_id).get(
            enrolment.candidate_id, session=session
        )
        if isinstance(step, WaitUntilStep):
            zone = self._zone_for(tenant_id, recipient)
            return StepResult(
                next_index=index + 1, run_at=next_local_time(now, zone, step.weekdays, step.time)
            )
        if recipient is None:
            # The candidate's event has not reached the projection yet: try again shortly.
            return StepResult(next_index=index, run_at=now + RECIPIENT_RETRY, executed=False)
        if isinstance(step, SendStep):
            message_id = await self._queue_message(sequence, step, enrolment, recipient, session)
            effects.add("message")
            return StepResult(next_index=index + 1, run_at=now, sent_message=message_id)
        if isinstance(step, NotifyOwnerStep):
            try:
                rendered = render(step.title, "", step.body, recipient_context(recipient))
            except RenderError as error:
                raise StepFailedError("render_failed", f"the notification: {error}") from error
            await NotificationRepository(self._database, tenant_id).add(
                Notification(
                    id=f"{enrolment.id}-{enrolment.step_count}",
                    tenant_id=tenant_id,
                    user_id=recipient.owner_id or sequence.created_by,
                    candidate_id=enrolment.candidate_id,
                    sequence_id=sequence.id,
                    enrolment_id=enrolment.id,
                    title=rendered.subject,
                    body=rendered.text,
                ),
                session=session,
            )
            return following
        raise TypeError(f"unknown step {step!r}")  # pragma: no cover - the union is closed

    async def _branch(
        self,
        sequence: Sequence,
        enrolment: Enrolment,
        step: BranchStep,
        now: datetime,
        session: Session,
    ) -> StepResult:
        index = enrolment.step_index
        steps = sequence.steps
        send_index = send_step_of(steps, index)
        message_id = enrolment.sent_messages.get(str(send_index))
        message = (
            await self._database[MESSAGES].find_one(
                {"_id": message_id, "tenant_id": sequence.tenant_id}, session=session
            )
            if message_id
            else None
        )
        decision = BranchDecision.NO
        wait_until: datetime | None = None
        undelivered = (
            MessageStatus.SUPPRESSED.value,
            MessageStatus.FAILED.value,
            MessageStatus.CANCELLED.value,
        )
        if message is not None and message["status"] == MessageStatus.SENT.value:
            signals = await SignalRepository(self._database, sequence.tenant_id).of_candidate(
                enrolment.candidate_id, step.condition, session=session
            )
            outcome = evaluate_branch(
                step,
                message_id=message["_id"],
                window_start=message.get("sent_at") or message["created_at"],
                now=now,
                signals=signals,
            )
            decision, wait_until = outcome.decision, outcome.wait_until
        elif message is not None and message["status"] not in undelivered:
            # Still on its way: the window starts when it leaves.
            decision, wait_until = BranchDecision.WAIT, now + UNDELIVERED_RETRY
        if decision is BranchDecision.WAIT:
            assert wait_until is not None
            return StepResult(
                next_index=index, run_at=wait_until, executed=False, awaiting_signal=True
            )
        target = step.if_yes if decision is BranchDecision.YES else step.if_no
        return StepResult(next_index=resolve_target(steps, target, index), run_at=now)

    async def _queue_message(
        self,
        sequence: Sequence,
        step: SendStep,
        enrolment: Enrolment,
        recipient: Recipient,
        session: Session,
    ) -> str:
        template: Template | None = await TemplateRepository(
            self._database, sequence.tenant_id
        ).get(step.template_id, session=session)
        if template is None:
            raise StepFailedError(
                "template_missing", f"template {step.template_id} no longer exists"
            )
        # Unique per executed step, so a send reached again through a loop is a new message.
        message_id = f"{enrolment.id}-{enrolment.step_count}"
        blocks = await BlockRepository(self._database, sequence.tenant_id).sources(session=session)
        jobs = await jobs_for(
            JobRepository(self._database, sequence.tenant_id),
            (template.subject, template.html, template.text),
            blocks,
            session=session,
        )
        links = contact_links(
            self._links,
            base_url=self._base_url,
            tenant_id=sequence.tenant_id,
            candidate_id=recipient.candidate_id,
            message_id=message_id,
        )
        try:
            rendered = render(
                template.subject,
                template.html,
                template.text,
                recipient_context(recipient, self._sender_names(recipient.tenant_id), links, jobs),
                blocks,
            )
        except RenderError as error:
            raise StepFailedError(
                "render_failed", f"template {template.name!r} cannot be rendered: {error}"
            ) from error
        html, text = with_footer(rendered.html, rendered.text, links, template.language)
        tracked = instrument_html(
            html,
            tokens=self._tokens,
            tenant_id=sequence.tenant_id,
            message_id=message_id,
            base_url=self._base_url,
        )
        message = Message(
            id=message_id,
            tenant_id=sequence.tenant_id,
            candidate_id=recipient.candidate_id,
            template_id=template.id,
            sequence_id=sequence.id,
            enrolment_id=enrolment.id,
            step_index=enrolment.step_index,
            step_label=step.label,
            to_email=recipient.email,
            subject=rendered.subject,
            html=tracked.html,
            text=text,
            links=tracked.links,
            unsubscribe_url=links.unsubscribe_url,
            preferences_url=links.preferences_url,
        )
        document = to_document(message) | {
            "trace_context": current_trace_context(),
            "next_attempt_at": utc_now(),
            "lease_owner": None,
            "lease_until": None,
        }
        await self._database[MESSAGES].insert_one(document, session=session)
        return message_id

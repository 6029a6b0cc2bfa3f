"""The sequence engine: advances enrolments whose next step is due.

Enrolments are claimed with a lease, so several campaign workers can run against one database;
each step then runs in one transaction that re-checks the claim and the step index before
changing anything, and a send step's message has an id derived from enrolment and step. A step
is therefore never executed twice, even if a lease expires while its owner is still working.
Timers are just `next_run_at` in the enrolment, so they survive restarts.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from crm_campaigns.domain.models import (
    EnrolmentStatus,
    Message,
    Recipient,
    SendStep,
    Sequence,
    Template,
    WaitStep,
)
from crm_campaigns.domain.templates import recipient_context, render
from crm_campaigns.domain.tracking import TrackingTokens, instrument_html
from crm_campaigns.repository import (
    ENROLMENTS,
    MESSAGES,
    RecipientRepository,
    SequenceRepository,
    TemplateRepository,
    claim_next,
)
from crm_shared import (
    Database,
    MongoClient,
    Session,
    Wakeup,
    current_trace_context,
    in_transaction,
    to_document,
    utc_now,
)

# A recipient the projection does not know yet (its candidate event is still in flight).
RECIPIENT_RETRY = timedelta(seconds=2)

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


class SequenceEngine:
    """Runs due sequence steps for every tenant."""

    def __init__(
        self,
        *,
        mongo: MongoClient,
        database: Database,
        tokens: TrackingTokens,
        public_base_url: str,
        sender_name: str,
        lease: timedelta,
        batch_size: int,
        messages_queued: Wakeup,
    ) -> None:
        self._mongo = mongo
        self._database = database
        self._tokens = tokens
        self._base_url = public_base_url.rstrip("/")
        self._sender_name = sender_name
        self._lease = lease
        self._batch_size = batch_size
        self._messages_queued = messages_queued
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
            finally:
                otel_context.detach(token)
            advanced += 1
        return advanced

    async def _advance(self, claimed: dict[str, Any]) -> None:
        tenant_id = claimed["tenant_id"]
        sequence = await SequenceRepository(self._database, tenant_id).get(claimed["sequence_id"])
        index = int(claimed["step_index"])
        enrolments = self._database[ENROLMENTS]
        queued_message = False

        async def run_step(session: Session) -> None:
            nonlocal queued_message
            current = await enrolments.find_one(
                {
                    "_id": claimed["_id"],
                    "lease_owner": self.owner,
                    "step_index": index,
                    "status": EnrolmentStatus.ACTIVE.value,
                },
                session=session,
            )
            if current is None:
                return  # exited meanwhile, or another worker took over an expired lease
            now = utc_now()
            if sequence is None or index >= len(sequence.steps):
                await self._finish(claimed["_id"], session)
                return
            step = sequence.steps[index]
            next_run_at = now
            if isinstance(step, SendStep):
                recipient = await RecipientRepository(self._database, tenant_id).get(
                    claimed["candidate_id"], session=session
                )
                if recipient is None:
                    await self._release(claimed["_id"], now + RECIPIENT_RETRY, session)
                    return
                await self._queue_message(sequence, step, claimed, recipient, session)
                queued_message = True
            elif isinstance(step, WaitStep):
                next_run_at = now + step.duration
            await enrolments.update_one(
                {"_id": claimed["_id"]},
                {
                    "$set": {
                        "step_index": index + 1,
                        "next_run_at": next_run_at,
                        "lease_owner": None,
                        "lease_until": None,
                    }
                },
                session=session,
            )

        await in_transaction(self._mongo, run_step)
        if queued_message:
            self._messages_queued.notify()

    async def _finish(self, enrolment_id: str, session: Session) -> None:
        await self._database[ENROLMENTS].update_one(
            {"_id": enrolment_id},
            {
                "$set": {
                    "status": EnrolmentStatus.COMPLETED.value,
                    "ended_at": utc_now(),
                    "next_run_at": None,
                    "lease_owner": None,
                    "lease_until": None,
                }
            },
            session=session,
        )

    async def _release(self, enrolment_id: str, retry_at: Any, session: Session) -> None:
        await self._database[ENROLMENTS].update_one(
            {"_id": enrolment_id},
            {"$set": {"next_run_at": retry_at, "lease_owner": None, "lease_until": None}},
            session=session,
        )

    async def _queue_message(
        self,
        sequence: Sequence,
        step: SendStep,
        enrolment: dict[str, Any],
        recipient: Recipient,
        session: Session,
    ) -> None:
        template: Template | None = await TemplateRepository(
            self._database, sequence.tenant_id
        ).get(step.template_id, session=session)
        if template is None:
            raise LookupError(f"template {step.template_id} of sequence {sequence.id} is gone")
        message_id = f"{enrolment['_id']}-{enrolment['step_index']}"
        rendered = render(
            template.subject,
            template.html,
            template.text,
            recipient_context(recipient, self._sender_name),
        )
        tracked = instrument_html(
            rendered.html,
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
            enrolment_id=enrolment["_id"],
            to_email=recipient.email,
            subject=rendered.subject,
            html=tracked.html,
            text=rendered.text,
            links=tracked.links,
        )
        document = to_document(message) | {
            "trace_context": current_trace_context(),
            "next_attempt_at": utc_now(),
            "lease_owner": None,
            "lease_until": None,
        }
        await self._database[MESSAGES].insert_one(document, session=session)

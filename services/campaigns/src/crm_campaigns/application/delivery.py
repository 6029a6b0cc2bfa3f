"""Delivery: sends queued messages over a small pool of persistent SMTP connections.

Each batch is claimed with one conditional update that moves due messages from `queued` to
`sending` under a fresh claim id; only the worker holding that claim hands them to SMTP, so a
message claimed twice (two workers, a redelivered command, a re-run after a crash) is never
sent twice. Right before sending, `SendPolicy` decides each message (consent, and whatever
rules governance adds); then the provider's and the tenant's rate limits apply. A transient
SMTP error (4xx, a dropped connection, a timeout) puts the message back in the queue with
exponential backoff and jitter; a 5xx fails it.

Each message's outcome is recorded as it happens: right before its SMTP transaction starts, the
message is marked `attempt_started_at` (durably: the worker waits for the write), and its outcome
goes into the next write, together with the next message's mark. Those writes are small group
commits shared by the process's connections (`DeliveryJournal`), so at any moment at most one
message per connection has started without a recorded outcome. A claim left in `sending` past
its lease (its worker died) is recovered message by message: one never attempted goes back to
the queue; one whose transaction had started is sent if its `message.sent` was staged, and
otherwise may or may not have reached the server: it is marked failed with `failure_reason:
outcome_unknown` rather than sent again, because at most once is the promise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

import aiosmtplib
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from prometheus_client import CollectorRegistry
from pymongo import ReturnDocument, UpdateMany, UpdateOne

from crm_campaigns.adapters.senders import SenderProfile, Senders, SigningError
from crm_campaigns.adapters.smtp import MailTransport
from crm_campaigns.application.broadcast_controls import hold_broadcast, settle_requeued
from crm_campaigns.application.delivery_metrics import HELD_BY_TENANT_RATE, DeliveryMetrics
from crm_campaigns.application.handoff import (
    BatchHandoff,
    DueMessageHints,
    HandedBatch,
    SharedInterval,
)
from crm_campaigns.domain.exits import suppression_exit
from crm_campaigns.domain.mail import raw_email
from crm_campaigns.domain.models import (
    OUTCOME_UNKNOWN,
    BroadcastStatus,
    Message,
    MessageStatus,
    Recipient,
)
from crm_campaigns.domain.policy import SendCheck, SendPolicy, Verdict
from crm_campaigns.domain.sending import ErrorThreshold, Outcome, classify_error, retry_delay
from crm_campaigns.publishers import message_sent_envelope, message_suppressed_envelope
from crm_campaigns.repositories.broadcasts import (
    BroadcastRepository,
    complete_finished_broadcasts,
    complete_if_done,
)
from crm_campaigns.repositories.collections import BROADCASTS, MESSAGES, SEQUENCES
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_shared import (
    MESSAGE_SENT,
    Database,
    MongoClient,
    Outbox,
    RateLimiter,
    Session,
    TenantScopedCollection,
    current_trace_context,
    from_document,
    in_transaction,
    utc_now,
)

# How often a process looks for claims abandoned by a dead worker (they wait a lease anyway);
# one of its dispatchers does, for all of them.
RECOVERY_INTERVAL_SECONDS = 10.0
INTERRUPTED = (
    "delivery interrupted during the SMTP transaction; outcome unknown (it may have been "
    "delivered), not retried"
)

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


"""Queues a tenant's rendered messages in the database, for any worker to claim."""
"""The outcomes of the batches a dispatcher took, and the documents none took in time."""


@dataclass(frozen=True)
class DeliveryLimits:
    """How fast and how persistently to send (see `CampaignsSettings`)."""

    max_attempts: int
    retry_base: timedelta
    retry_cap: timedelta
    provider_rate: float
    provider_burst: float
    tenant_rate: float
    tenant_burst: float
    error_threshold: ErrorThreshold


class SendingRates:
    """The provider's limit and each tenant's share, one set of token buckets for the whole
    process: every dispatcher draws from these, so together they hold the configured rates."""

    PROVIDER = "provider"

    def __init__(self, limits: DeliveryLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = RateLimiter(limits.provider_rate, limits.provider_burst, clock=clock)
        self.tenants = RateLimiter(limits.tenant_rate, limits.tenant_burst, clock=clock)

    def reserve_provider(self) -> float:
        """Seconds to wait before the next message may go to the provider (its slot is taken)."""
        return self.provider.reserve(self.PROVIDER)

    def take_tenant(self, tenant_id: str) -> float:
        """0 if the tenant may send one more message now, else the seconds until it may."""
        return self.tenants.take(tenant_id)


@dataclass
class _Attempt:
    message: Message
    document: dict[str, Any]
    outcome: Outcome | None = None
    error: BaseException | None = None
    # Whether its SMTP transaction may start: None until its mark is written, False if the claim
    # was lost meanwhile (the lease ran out and the message was recovered).
    started: bool | None = None
    # Whether its `message.sent` is in the outbox (staged once, however often its outcome's
    # write is tried).
    staged: bool = False
    # The send's span context, so `message.sent` continues the trace that queued the message.
    trace_context: dict[str, str] = field(default_factory=dict)


@dataclass
class _Tally:
    """What one batch did, per broadcast."""

    sent: int = 0
    failed: int = 0
    errors: int = 0
    skipped: Counter[str] | None = None

    def increments(self) -> dict[str, int]:
        fields = {
            "stats.sent": self.sent,
            "stats.failed": self.failed,
            "stats.errors": self.errors,
            "stats.attempts": self.sent + self.errors,
            "stats.finished": self.sent + self.failed + sum((self.skipped or Counter()).values()),
        }
        for reason, count in (self.skipped or Counter()).items():
            fields[f"stats.skipped.{reason}"] = count
        return {field: value for field, value in fields.items() if value}


class MailDispatcher:
    """Sends every tenant's due messages, one claimed batch at a time."""

    def __init__(
        self,
        *,
        mongo: MongoClient,
        database: Database,
        outbox: Outbox,
        transport: MailTransport,
        policy: SendPolicy,
        sender: str,
        lease: timedelta,
        batch_size: int,
        limits: DeliveryLimits,
        hints: DueMessageHints | None = None,
        recovery: SharedInterval | None = None,
        handoff: BatchHandoff | None = None,
        rates: SendingRates | None = None,
        senders: Senders | None = None,
        journal: DeliveryJournal | None = None,
        metrics: DeliveryMetrics | None = None,
    ) -> None:
        self._mongo = mongo
        self._database = database
        self._outbox = outbox
        self._transport = transport
        self._policy = policy
        self._sender = sender
        self._domain = sender.rsplit("@", 1)[-1].strip("> ") or "recruitcrm.local"
        self._envelope_sender = parseaddr(sender)[1]
        # The process's dispatchers share one: the recovery is cross-tenant and cross-worker,
        # so one run per interval covers them all.
        self._recovery = recovery or SharedInterval(RECOVERY_INTERVAL_SECONDS)
        self._lease = lease
        self._batch_size = batch_size
        self._limits = limits
        # The process's dispatchers share one (see `create_app`); a dispatcher on its own
        # has its own.
        self.rates = rates if rates is not None else SendingRates(limits)
        self._senders = senders if senders is not None else Senders(SenderProfile(sender), {})
        # Not `hints or ...`: an empty hint list is falsy but must stay the shared one.
        self._hints = hints if hints is not None else DueMessageHints(capacity=0)
        self._handoff = handoff
        # The process's dispatchers share one, so that one commit records all their
        # connections' progress; a dispatcher on its own has its own.
        self._journal = journal or DeliveryJournal(mongo, database, outbox, limits, lease)
        # The process's dispatchers share one registry's counters; one on its own keeps its own.
        self._metrics = metrics or DeliveryMetrics(
            CollectorRegistry(), provider_rate=limits.provider_rate
        )
        # Broadcasts this dispatcher sent for since it last checked whether they are complete.
        self._unsettled: set[tuple[str, str]] = set()
        self.owner = f"dispatcher-{uuid.uuid4().hex[:12]}"

    async def deliver_batch(self) -> int:
        """Claims and handles up to one batch of due messages; returns how many it claimed."""
        now = utc_now()
        if self._recovery.claim():
            await self._recover_interrupted(now)
        claimed = await self._next_batch(now)
        if not claimed:
            await self._settle_unsettled()
            return 0
        attempts = [_Attempt(from_document(Message, d), d) for d in claimed]
        recipients = await self._recipients(attempts)
        checks = [
            SendCheck(a.message, recipients.get((a.message.tenant_id, a.message.candidate_id)), now)
            for a in attempts
        ]
        decisions = await self._policy.may_send(checks)
        skipped: list[tuple[_Attempt, str]] = []
        deferred: list[tuple[_Attempt, datetime, str | None]] = []
        to_send: list[_Attempt] = []
        for attempt in attempts:
            decision = decisions[attempt.message.id]
            if decision.verdict is Verdict.SKIP:
                skipped.append((attempt, str(decision.reason)))
            elif decision.verdict is Verdict.DEFER:
                retry_at = decision.retry_at or now + self._limits.retry_base
                reason = str(decision.reason) if decision.reason else None
                deferred.append((attempt, retry_at, reason))
            else:
                wait = self.rates.take_tenant(attempt.message.tenant_id)
                if wait > 0:
                    deferred.append((attempt, now + timedelta(seconds=wait), None))
                else:
                    to_send.append(attempt)
        attempted = await self._send_all(to_send)
        touched, paused = await self._record(attempted, skipped, deferred)
        self._unsettled.update(touched)
        if len(claimed) < self._batch_size:
            await self._settle_unsettled()
        for tenant_id, broadcast_id in paused:
            logger.warning("broadcast %s paused: error rate over the threshold", broadcast_id)
            await hold_broadcast(self._database, tenant_id, broadcast_id, reason="error_threshold")
        self._outbox.notify_committed()
        return len(claimed)

    async def _settle_unsettled(self) -> None:
        """Completes the broadcasts sent for since the last check that have nothing left.

        Checked once the queue runs short of a full batch rather than after every batch: while
        batches are full there is more to send, and the check looks at the broadcast's messages.
        """
        for tenant_id, broadcast_id in sorted(self._unsettled):
            await complete_if_done(self._database, tenant_id, broadcast_id)
        self._unsettled.clear()

    async def _recover_interrupted(self, now: datetime) -> None:
        """Recovers claims whose worker died (their lease ran out), message by message, then
        completes the broadcasts that have nothing left to send.

        A message whose SMTP transaction never started goes back to the queue; one whose
        transaction had started may have been delivered, so it fails as `outcome_unknown`
        rather than risk a second mail. Completion is checked for every sending broadcast, not
        only the recovered ones: a process that died between a broadcast's last outcome and its
        completion check left nothing else that would ever complete it.
        """
        # Deliberately cross-tenant: recovery of any worker's abandoned claims.
        messages = self._database[MESSAGES]
        expired = {"status": MessageStatus.SENDING.value, "lease_until": {"$lte": now}}
        abandoned = await messages.find(
            expired,
            {"tenant_id": 1, "candidate_id": 1, "broadcast_id": 1, "attempt_started_at": 1},
        ).to_list()
        released = {"lease_owner": None, "lease_until": None, "attempt_started_at": None}
        started = [d for d in abandoned if d.get("attempt_started_at") is not None]
        delivered = await self._staged_as_sent(started)
        unknown = [d["_id"] for d in started if d["_id"] not in delivered]
        untried = [d["_id"] for d in abandoned if d.get("attempt_started_at") is None]
        if delivered:
            # Their `message.sent` went in before the worker died: the server took them.
            await messages.update_many(
                {"_id": {"$in": sorted(delivered)}, **expired},
                {"$set": {"status": MessageStatus.SENT.value, "sent_at": now, **released}},
            )
        if unknown:
            await messages.update_many(
                {"_id": {"$in": unknown}, **expired, "attempt_started_at": {"$ne": None}},
                {
                    "$set": {
                        "status": MessageStatus.FAILED.value,
                        "failure_reason": OUTCOME_UNKNOWN,
                        "last_error": INTERRUPTED,
                        **released,
                    }
                },
            )
        if untried:
            await messages.update_many(
                {"_id": {"$in": untried}, **expired, "attempt_started_at": None},
                {
                    "$set": {
                        "status": MessageStatus.QUEUED.value,
                        "next_attempt_at": now,
                        "claim_id": None,
                        **released,
                    }
                },
            )
        if abandoned:
            logger.warning(
                "recovered abandoned claims: %d requeued (never attempted), %d sent, "
                "%d outcome unknown",
                len(untried),
                len(delivered),
                len(unknown),
            )
        for tenant_id, broadcast_id in sorted(
            {(d["tenant_id"], d["broadcast_id"]) for d in abandoned if d.get("broadcast_id")}
        ):
            # A broadcast paused or cancelled meanwhile keeps what went back to the queue.
            await settle_requeued(self._database, tenant_id, broadcast_id)
        await complete_finished_broadcasts(self._database)

    async def _staged_as_sent(self, started: list[dict[str, Any]]) -> set[str]:
        """Which of these started messages have their `message.sent` staged: the journal stages
        it right after the server took the message, before the message's own write."""
        if not started:
            return set()
        records = await self._outbox.records.find(
            {
                "topic": MESSAGE_SENT.name,
                "tenant_id": {"$in": sorted({d["tenant_id"] for d in started})},
                "key": {"$in": sorted({d["candidate_id"] for d in started})},
            },
            {"value": 1},
        ).to_list()
        staged = {json.loads(r["value"])["data"]["message_id"] for r in records}
        return staged & {d["_id"] for d in started}

    async def _next_batch(self, now: datetime) -> list[dict[str, Any]]:
        """A handed batch if one waits, else a claim of queued messages; the first batch of each
        due-query interval is always a claim, so retries are not starved by a long broadcast."""
        handoff = self._handoff
        if handoff is None or handoff.due_query.claim():
            return await self._claim(now)
        handed = handoff.take()
        if handed is not None:
            return await self._claim_handed(handed, now)
        # While the runner renders the next batch (it wakes the dispatchers when it offers it),
        # the due query waits for its interval.
        return [] if handoff.handing else await self._claim(now)

    async def _claim_handed(self, handed: HandedBatch, now: datetime) -> list[dict[str, Any]]:
        """Inserts a handed batch claimed by this dispatcher; returns the documents that went in
        (those an earlier run inserted already are not this claim's)."""
        try:
            broadcast = await self._database[BROADCASTS].find_one(
                {"_id": handed.broadcast_id, "tenant_id": handed.tenant_id}, {"status": 1}
            )
            if broadcast is None or broadcast["status"] != handed.expected_status.value:
                # Paused or cancelled since the runner looked: nothing goes in; a resume
                # prepares the rest again.
                handed.inserted.set_result(None)
                return []
            claim = self._new_claim(now)
            documents = [document | claim for document in handed.documents]
            inserted = await TenantScopedCollection(
                self._database[MESSAGES], handed.tenant_id
            ).insert_new(documents)
            if inserted and not await self._still_expected(handed):
                # Paused or cancelled between the look and the insert: the pause did not see
                # these yet, so they are held or cancelled here, unsent.
                await self._stop_handed(handed)
                handed.inserted.set_result(None)
                return []
        except asyncio.CancelledError:
            handed.inserted.cancel()
            raise
        except Exception as error:
            handed.inserted.set_exception(error)
            raise
        handed.inserted.set_result(len(inserted))
        return inserted

    async def _still_expected(self, handed: HandedBatch) -> bool:
        broadcast = await self._database[BROADCASTS].find_one(
            {"_id": handed.broadcast_id, "tenant_id": handed.tenant_id}, {"status": 1}
        )
        return broadcast is not None and broadcast["status"] == handed.expected_status.value

    async def _stop_handed(self, handed: HandedBatch) -> None:
        broadcasts = BroadcastRepository(self._database, handed.tenant_id)
        current = await broadcasts.get(handed.broadcast_id)
        cancelled = current is None or current.status is BroadcastStatus.CANCELLED
        target = MessageStatus.CANCELLED if cancelled else MessageStatus.HELD
        await broadcasts.stop_unstarted(handed.broadcast_id, target)

    def _new_claim(self, now: datetime) -> dict[str, Any]:
        return {
            "status": MessageStatus.SENDING.value,
            "claim_id": uuid.uuid4().hex,
            "lease_owner": self.owner,
            "lease_until": now + self._lease,
            "attempt_started_at": None,
        }

    async def _claim(self, now: datetime) -> list[dict[str, Any]]:
        """Moves a batch of due messages from queued to sending under a new claim id.

        Deliberately cross-tenant. Hinted ids come first; the due-message query runs when there
        are none, and otherwise once per interval in the process. The update re-checks
        `status: queued` and the due time, so of two workers after the same ids only one moves
        each message; the other's claim comes back short.
        """
        while True:
            if self._hints.should_query():
                ids, queried = await self._due_ids(now), True
            else:
                ids, queried = self._hints.take(self._batch_size), False
            if not ids:
                return []
            claimed = await self._claim_ids(ids, now)
            # Hinted ids may all have been taken meanwhile; more hints may still be good.
            if claimed or queried:
                return claimed

    async def _due_ids(self, now: datetime) -> list[str]:
        # No sort: the (status, next_attempt_at) index yields due messages oldest first on
        # MongoDB anyway, and an explicit sort makes some servers sort the whole backlog for
        # every batch.
        due = (
            await self._database[MESSAGES]
            .find(
                {"status": MessageStatus.QUEUED.value, "next_attempt_at": {"$lte": now}},
                {"_id": 1},
                limit=self._batch_size,
            )
            .to_list()
        )
        return [document["_id"] for document in due]

    async def _claim_ids(self, ids: list[str], now: datetime) -> list[dict[str, Any]]:
        messages = self._database[MESSAGES]
        claim = self._new_claim(now)
        result = await messages.update_many(
            {
                "_id": {"$in": ids},
                "status": MessageStatus.QUEUED.value,
                "next_attempt_at": {"$lte": now},
            },
            {"$set": claim},
        )
        if not result.modified_count:
            return []
        return await messages.find({"_id": {"$in": ids}, "claim_id": claim["claim_id"]}).to_list()

    async def _recipients(self, attempts: Sequence[_Attempt]) -> dict[tuple[str, str], Recipient]:
        by_tenant: dict[str, list[str]] = defaultdict(list)
        for attempt in attempts:
            by_tenant[attempt.message.tenant_id].append(attempt.message.candidate_id)
        found: dict[tuple[str, str], Recipient] = {}
        for tenant_id, candidate_ids in by_tenant.items():
            for candidate_id, recipient in (
                await RecipientRepository(self._database, tenant_id).many(candidate_ids)
            ).items():
                found[(tenant_id, candidate_id)] = recipient
        return found

    async def _send_all(self, attempts: Sequence[_Attempt]) -> list[_Attempt]:
        """Sends concurrently, as many at a time as the transport has connections, recording
        each start and outcome as it happens; returns the attempts whose transaction started."""
        queue: asyncio.Queue[_Attempt] = asyncio.Queue()
        for attempt in attempts:
            queue.put_nowait(attempt)

        async def work() -> None:
            while not queue.empty():
                await self._send_one(queue.get_nowait())

        async with self._journal.sending({a.document["claim_id"] for a in attempts}):
            await asyncio.gather(*(work() for _ in range(min(self._transport.size, len(attempts)))))
        return [attempt for attempt in attempts if attempt.started]

    async def _send_one(self, attempt: _Attempt) -> None:
        # The tenant's own From address, DKIM key and mail server account, if it has them.
        profile = self._senders.for_tenant(attempt.message.tenant_id)
        account = profile.account
        wait = account.reserve() if account else self.rates.reserve_provider()
        if wait > 0:
            self._metrics.waited_for_rate(wait, own_account=account is not None)
            await asyncio.sleep(wait)
        # Marked only now, right before its transaction, so that a crash while it waited for
        # its turn puts it back in the queue instead of making its outcome unknown.
        journal = self._journal
        if not await journal.start(attempt):
            return
        carrier = attempt.document.get("trace_context") or {}
        token = otel_context.attach(propagate.extract(carrier))
        try:
            with tracer.start_as_current_span("smtp.send"):
                attempt.trace_context = current_trace_context()
                content = raw_email(attempt.message, profile.sender, self._domain)
                await (account.transport if account else self._transport).send_raw(
                    account.envelope_sender if account else self._envelope_sender,
                    attempt.message.to_email or "",
                    await profile.sign(content),
                )
            attempt.outcome = Outcome.SENT
        except (aiosmtplib.SMTPException, OSError, SigningError) as error:
            attempt.outcome, attempt.error = classify_error(error), error
        finally:
            otel_context.detach(token)
            journal.finish(attempt)

    async def _stage_suppressed(
        self, suppressed: Sequence[tuple[_Attempt, str]], session: Session
    ) -> None:
        """Stages `message.suppressed` for the messages just recorded suppressed, in the same
        transaction, each naming its broadcast or sequence (one read of each per batch)."""
        if not suppressed:
            return
        broadcast_names = await _names_of(
            self._database,
            BROADCASTS,
            {a.message.broadcast_id for a, _ in suppressed if a.message.broadcast_id},
            session,
        )
        sequence_names = await _names_of(
            self._database,
            SEQUENCES,
            {a.message.sequence_id for a, _ in suppressed if a.message.sequence_id},
            session,
        )
        now = utc_now()
        await self._outbox.add_many(
            [
                message_suppressed_envelope(
                    self._outbox,
                    a.message,
                    reason,
                    broadcast_name=broadcast_names.get(
                        (a.message.tenant_id, a.message.broadcast_id or "")
                    ),
                    sequence_name=sequence_names.get(
                        (a.message.tenant_id, a.message.sequence_id or "")
                    ),
                    suppressed_at=now,
                )
                for a, reason in suppressed
            ],
            session=session,
            trace_contexts=[a.document.get("trace_context") or {} for a, _ in suppressed],
        )

    async def _record(
        self,
        attempted: Sequence[_Attempt],
        skipped: Sequence[tuple[_Attempt, str]],
        deferred: Sequence[tuple[_Attempt, datetime, str | None]],
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Writes the outcomes of the batch's messages that were not attempted (skipped or
        deferred) in one transaction, and bumps the broadcasts' counters for all of them (the
        journal has recorded the attempted ones' outcomes); returns the broadcasts it touched
        and those to pause."""
        messages = self._database[MESSAGES]
        released = {"lease_owner": None, "lease_until": None}
        # A message a pause or cancel took out of the batch meanwhile stays where it put it.
        still_ours = {"status": MessageStatus.SENDING.value}
        tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
        metrics = self._metrics
        for attempt in attempted:
            tally = _tally(tallies, attempt)
            final = _is_final(attempt, self._limits)
            metrics.attempted(attempt.outcome or Outcome.TRANSIENT, final=final)
            if attempt.outcome is Outcome.SENT:
                tally.sent += 1
            else:
                tally.errors += 1
                tally.failed += final
        for attempt, reason in skipped:
            tally = _tally(tallies, attempt)
            tally.skipped = (tally.skipped or Counter()) + Counter({reason: 1})
            metrics.suppressed(reason)
        for _, _, held_because in deferred:
            metrics.held(held_because or HELD_BY_TENANT_RATE)
        for (_, broadcast_id), tally in tallies.items():
            if broadcast_id:
                metrics.broadcast_finished(
                    sent=tally.sent,
                    failed=tally.failed,
                    skipped=sum((tally.skipped or Counter()).values()),
                )
        to_pause: list[tuple[str, str]] = []

        async def record(session: Session) -> None:
            by_reason: dict[str, list[_Attempt]] = defaultdict(list)
            for attempt, reason in skipped:
                by_reason[reason].append(attempt)
            suppressed: list[tuple[_Attempt, str]] = []
            for reason, group in by_reason.items():
                ours_still = {
                    document["_id"]
                    for document in await messages.find(
                        {"_id": {"$in": _ids(group)}, **still_ours}, {"_id": 1}, session=session
                    ).to_list()
                }
                if not ours_still:
                    continue
                await messages.update_many(
                    {"_id": {"$in": sorted(ours_still)}, **still_ours},
                    {
                        "$set": {
                            "status": MessageStatus.SUPPRESSED.value,
                            "suppression_reason": reason,
                            **released,
                        }
                    },
                    session=session,
                )
                suppressed.extend((a, reason) for a in group if a.message.id in ours_still)
            await self._stage_suppressed(suppressed, session)
            for attempt, reason in skipped:
                await _end_enrolment_of_suppressed(
                    self._database, attempt.message, reason, session=session
                )
            by_time: dict[tuple[datetime, str | None], list[_Attempt]] = defaultdict(list)
            for attempt, retry_at, held_because in deferred:
                by_time[(retry_at, held_because)].append(attempt)
            for (retry_at, held_because), group in by_time.items():
                requeue: dict[str, Any] = {
                    "$set": {
                        "status": MessageStatus.QUEUED.value,
                        "next_attempt_at": retry_at,
                        **released,
                    }
                }
                if held_because:
                    # A rule held it back (quiet hours, frequency cap): say why and until when.
                    requeue["$set"] |= {"policy_reason": held_because, "deferred_until": retry_at}
                    requeue["$inc"] = {"deferrals": 1}
                await messages.update_many(
                    {"_id": {"$in": _ids(group)}, **still_ours}, requeue, session=session
                )

        if skipped or deferred:
            await in_transaction(self._mongo, record)
            if skipped:
                self._outbox.notify_committed()
        # The progress counters are bumped after the commit, one atomic $inc per broadcast:
        # inside the transaction, concurrent dispatchers of one broadcast would conflict on its
        # document and retry whole batches. A crash in between loses one batch's increments of
        # these counters (they drive progress display and the error threshold); message states,
        # which decide completion, are exact.
        for (tenant_id, broadcast_id), tally in tallies.items():
            if not broadcast_id:
                continue
            progress = await self._database[BROADCASTS].find_one_and_update(
                {"_id": broadcast_id, "tenant_id": tenant_id},
                {"$inc": tally.increments()},
                return_document=ReturnDocument.AFTER,
            )
            if progress is None or progress.get("status") != BroadcastStatus.SENDING.value:
                continue
            stats = progress.get("stats") or {}
            if self._limits.error_threshold.exceeded(
                int(stats.get("attempts", 0)), int(stats.get("errors", 0))
            ):
                to_pause.append((tenant_id, broadcast_id))
        return [key for key in tallies if key[1]], to_pause


class DeliveryJournal:
    """Records SMTP transactions as they happen, in small group commits; one per process,
    shared by its dispatchers (see `create_app`), so a commit serves all their connections.

    Before a connection starts a message's transaction, `start` marks the message
    `attempt_started_at` and waits until the mark is written; `finish` queues its outcome for
    the next commit. Whatever the other connections queued meanwhile goes into the same commit
    (the sent messages' `message.sent` events, then one bulk write of the marks, the sent
    messages, the retries and failures), so a commit carries about one mark and one outcome per
    connection rather than a write per message. As a connection's next mark waits for its
    previous outcome's commit, at most one message per connection is ever marked without an
    outcome: after a crash, only those are recovered as "outcome unknown", unless their event
    was staged (then they were sent).

    Every write is conditional on the message still being in `sending` under the claim it was
    sent under, so a message whose lease ran out and which was recovered meanwhile is left
    alone (`start` returns False for it: it is not sent). The claims of batches being sent
    (`sending`) have their lease renewed every half lease, so a slow batch (a slow server, a
    tight rate limit) is not recovered from under a live worker.
    """

    def __init__(
        self,
        mongo: MongoClient,
        database: Database,
        outbox: Outbox,
        limits: DeliveryLimits,
        lease: timedelta,
    ) -> None:
        self._mongo = mongo
        self._messages = database[MESSAGES]
        self._outbox = outbox
        self._limits = limits
        self._lease = lease
        self._marks: list[_Attempt] = []
        self._done: list[_Attempt] = []
        self._lock = asyncio.Lock()
        self._claims: Counter[str] = Counter()
        self._renew_at = time.monotonic() + lease.total_seconds() / 2

    @contextlib.asynccontextmanager
    async def sending(self, claims: set[str]) -> AsyncIterator[None]:
        """While a batch of these claims is sent: renews their lease; at the end, commits the
        outcomes still queued."""
        self._claims.update(claims)
        try:
            yield
        finally:
            self._claims.subtract(claims)
            self._claims = +self._claims
            async with self._lock:
                await self._commit()

    async def start(self, attempt: _Attempt) -> bool:
        """Marks the message's transaction as started, once that is durable; False if the
        message is no longer this batch's to send."""
        self._marks.append(attempt)
        async with self._lock:
            if attempt.started is None:
                await self._commit()
        return bool(attempt.started)

    def finish(self, attempt: _Attempt) -> None:
        """Queues the outcome of a started transaction for the next commit."""
        if attempt.started and attempt.outcome is not None:
            self._done.append(attempt)

    async def _commit(self) -> None:
        marks, self._marks = self._marks, []
        done, self._done = self._done, []
        if not marks and not done:
            return
        try:
            await self._write(marks, done)
        except BaseException:
            for attempt in marks:
                attempt.started = False  # not durably marked: never sent
            self._done = done + self._done  # tried again with the next commit
            raise

    async def _write(self, marks: list[_Attempt], done: list[_Attempt]) -> None:
        now = utc_now()
        claims = sorted({a.document["claim_id"] for a in [*marks, *done]})
        ours = {"claim_id": {"$in": claims}, "status": MessageStatus.SENDING.value}
        released = {"lease_owner": None, "lease_until": None, "attempt_started_at": None}
        sent = [a for a in done if a.outcome is Outcome.SENT]
        failed = [a for a in done if a.outcome is not Outcome.SENT]
        renew = sorted(self._claims) if time.monotonic() >= self._renew_at else []
        if renew:
            self._renew_at = time.monotonic() + self._lease.total_seconds() / 2
        changes = [(attempt, self._failure(attempt, now)) for attempt in failed]

        # The events first, on their own: once a sent message's event is staged, recovery
        # knows it was sent even if the process dies before the message's own write. Not in
        # one transaction with the messages' writes: a process killed mid-transaction leaves it
        # open on the server (until its lifetime, 60 s, runs out), and every write to its
        # messages (the restart's recovery, a re-prepared broadcast's inserts) waits for it.
        staging = [a for a in sent if not a.staged]
        if staging:

            async def stage(session: Session) -> None:
                await self._outbox.add_many(
                    [message_sent_envelope(self._outbox, a.message) for a in staging],
                    session=session,
                    trace_contexts=[a.trace_context for a in staging],
                )

            await in_transaction(self._mongo, stage)
            for attempt in staging:
                attempt.staged = True
        # Then one bulk write for every change to the messages: outcomes and the next marks.
        writes: list[UpdateOne | UpdateMany] = []
        if sent:
            writes.append(
                UpdateMany(
                    {"_id": {"$in": _ids(sent)}, **ours},
                    {"$set": {"status": MessageStatus.SENT.value, "sent_at": now, **released}},
                )
            )
        for attempt, change in changes:
            writes.append(UpdateOne({"_id": attempt.message.id, **ours}, {"$set": change}))
        if marks:
            writes.append(
                UpdateMany(
                    {"_id": {"$in": _ids(marks)}, **ours, "attempt_started_at": None},
                    {"$set": {"attempt_started_at": now}},
                )
            )
        result = await self._messages.bulk_write(writes)
        if renew:
            await self._messages.update_many(
                {"claim_id": {"$in": renew}, "status": MessageStatus.SENDING.value},
                {"$set": {"lease_until": now + self._lease}},
            )
        # Every write matched unless a lease ran out and its message was recovered meanwhile.
        if result.modified_count == len(sent) + len(changes) + len(marks):
            for attempt in marks:
                attempt.started = True
            return
        # Start only the messages whose mark went in.
        found = await self._messages.find(
            {"_id": {"$in": _ids(marks)}, **ours, "attempt_started_at": now}, {"_id": 1}
        ).to_list()
        ids = {d["_id"] for d in found}
        for attempt in marks:
            attempt.started = attempt.message.id in ids

    def _failure(self, attempt: _Attempt, now: datetime) -> dict[str, Any]:
        """The change a failed attempt makes: back to the queue after a backoff, or failed."""
        count = attempt.message.attempts + 1
        final = _is_final(attempt, self._limits)
        logger.warning(
            "sending message %s failed (attempt %d, %s): %r",
            attempt.message.id,
            count,
            "final" if final else "will retry",
            attempt.error,
        )
        change: dict[str, Any] = {
            "attempts": count,
            "last_error": repr(attempt.error)[:500],
            "lease_owner": None,
            "lease_until": None,
            "attempt_started_at": None,
        }
        if final:
            change["status"] = MessageStatus.FAILED.value
        else:
            change["status"] = MessageStatus.QUEUED.value
            change["next_attempt_at"] = now + retry_delay(
                count, base=self._limits.retry_base, cap=self._limits.retry_cap
            )
        return change


async def _end_enrolment_of_suppressed(
    database: Database, message: Message, reason: str, *, session: Session
) -> None:
    """Ends the enrolment whose send step's message was suppressed for a lasting reason, in the
    transaction that records the suppression, so that no later step (a branch on an open, a tag,
    a notification) runs as if the person had been mailed."""
    exit_reason = suppression_exit(reason)
    if message.enrolment_id is None or exit_reason is None:
        return
    ended = await EnrolmentRepository(database, message.tenant_id).exit_at_send(
        message.enrolment_id, exit_reason, message.step_index, session=session
    )
    if ended:
        logger.info(
            "enrolment %s exited: its message %s was suppressed (%s)",
            message.enrolment_id,
            message.id,
            reason,
        )


async def _names_of(
    database: Database, collection: str, ids: set[str], session: Session
) -> dict[tuple[str, str], str]:
    """The names of these broadcasts or sequences (of any tenant: a batch mixes them), by
    tenant and id. Cross-tenant by design: the ids come from the tenants' own messages."""
    if not ids:
        return {}
    documents = (
        await database[collection]
        .find({"_id": {"$in": sorted(ids)}}, {"name": 1, "tenant_id": 1}, session=session)
        .to_list()
    )
    return {(str(d["tenant_id"]), str(d["_id"])): str(d.get("name") or "") for d in documents}


def _is_final(attempt: _Attempt, limits: DeliveryLimits) -> bool:
    """Whether a failed attempt fails its message for good (a 5xx, or the last attempt)."""
    return (
        attempt.outcome is Outcome.PERMANENT or attempt.message.attempts + 1 >= limits.max_attempts
    )


def _tally(tallies: dict[tuple[str, str], _Tally], attempt: _Attempt) -> _Tally:
    broadcast_id = attempt.message.broadcast_id
    return tallies[(attempt.message.tenant_id, broadcast_id or "")]


def _ids(attempts: Iterable[_Attempt]) -> list[str]:
    return [attempt.message.id for attempt in attempts]

"""The broadcast runner: snapshots a broadcast's audience, queues its messages, and finishes A/B
tests by sending the winner to the rest.

A broadcast whose send was requested is `preparing`; the runner claims it with a lease (renewed
per chunk), reads the audience once (segment members, pool members at a stage, a stored list's
members or the inline list; a stored list archived meanwhile pauses it), and renders the
messages in chunks. Those due now are handed to the process's dispatchers, which insert them
claimed (`delivery.BatchHandoff`); the others are queued with one `insert_many` per chunk. The
stored messages are the snapshot. Recipients who wait for an A/B test's winner are kept in
`broadcast_recipients` with their send time until it is decided. Snapshot rows and messages have
ids derived from broadcast and candidate, so a runner that died halfway and is replaced redoes
nothing twice. A recipient whose mail cannot be rendered gets a failed message with the reason
(`render_failed`) and the rest go out; a broadcast whose template was deleted is paused with
that reason instead of retried for ever. Each message is due at its recipient's send time (now,
the scheduled moment, or the local wall-clock time in the recipient's zone); the dispatcher
sends it then.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from pymongo import DESCENDING

from crm_campaigns.application.broadcast_controls import stop_settled
from crm_campaigns.application.handoff import BatchHandoff, DueMessageHints, Handing
from crm_campaigns.application.jobs import jobs_for
from crm_campaigns.domain.broadcasts import (
    REST_GROUP,
    TEST_GROUP,
    Assignment,
    VariantResult,
    assign_variants,
    pick_winner,
    send_time,
)
from crm_campaigns.domain.contact_links import contact_links, with_footer
from crm_campaigns.domain.contact_policy import POLICY_DEFAULT_ZONE
from crm_campaigns.domain.jobs import Job
from crm_campaigns.domain.models import (
    Broadcast,
    BroadcastStatus,
    ListAudience,
    Message,
    MessageStatus,
    PoolAudience,
    Recipient,
    SendAt,
    SendAtLocalTime,
    StoredListAudience,
)
from crm_campaigns.domain.templates import CompiledTemplate, RenderError, recipient_context
from crm_campaigns.domain.tracking import TrackingTokens, instrument_html
from crm_campaigns.repositories.blocks import BlockRepository
from crm_campaigns.repositories.broadcasts import BroadcastRepository, complete_if_done
from crm_campaigns.repositories.collections import BROADCAST_RECIPIENTS, BROADCASTS, MESSAGES
from crm_campaigns.repositories.contact_policies import ContactPolicyRepository
from crm_campaigns.repositories.jobs import JobRepository
from crm_campaigns.repositories.leases import claim_next
from crm_campaigns.repositories.lists import StoredListRepository
from crm_campaigns.repositories.pools import PoolMemberRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.segments import SegmentMemberRepository
from crm_campaigns.repositories.templates import TemplateRepository
from crm_shared import (
    Database,
    MongoClient,
    Session,
    SignedLinks,
    TenantScopedCollection,
    Wakeup,
    current_trace_context,
    from_document,
    in_transaction,
    to_document,
    utc_now,
)

UNKNOWN_CANDIDATE = "unknown_candidate"
# How often a broadcast waiting for audience members campaigns does not know yet looks again.
RECIPIENT_RECHECK = timedelta(seconds=5)
RENDER_FAILED = "render_failed"
# Failures in a row of a broadcast's preparation (or A/B finish) before it is paused.
MAX_RUN_ERRORS = 3


class TemplateMissingError(LookupError):
    """The broadcast's template was deleted after the send was requested."""


class AudienceGoneError(LookupError):
    """The broadcast's stored list was archived before its audience was snapshotted."""


logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)


@dataclass(frozen=True)
class _Content:
    """What a broadcast's messages are rendered from: its template compiled, and the tenant's
    open jobs (read once per broadcast, empty unless the template lists them)."""

    template: CompiledTemplate
    jobs: list[Job]
    # The template's language, which its footer is written in.
    language: str | None = None


def message_id_for(broadcast_id: str, candidate_id: str) -> str:
    """The id of a broadcast's message to a candidate: one message per candidate, ever."""
    return f"{broadcast_id}-{candidate_id}"


async def variant_results(
    broadcasts: BroadcastRepository, broadcast: Broadcast
) -> list[VariantResult]:
    """How each A/B variant did so far (opens counted without automated ones, and only of
    the delivered messages)."""
    if broadcast.ab_test is None:
        return []
    tallies = await broadcasts.variant_tallies(broadcast.id)
    results = []
    for variant in broadcast.ab_test.variants:
        tally = tallies.get(variant.name, {})
        results.append(
            VariantResult(
                name=variant.name,
                subject=variant.subject,
                messages=tally.get("messages", 0),
                sent=tally.get("sent", 0),
                delivered=tally.get("delivered", 0),
                opened=tally.get("opened", 0),
                clicked=tally.get("clicked", 0),
            )
        )
    return results


class BroadcastRunner:
    """Prepares requested broadcasts and decides due A/B tests, for every tenant."""

    def __init__(
        self,
        *,
        mongo: MongoClient,
        database: Database,
        tokens: TrackingTokens,
        links: SignedLinks,
        public_base_url: str,
        sender_names: Callable[[str], str],
        lease: timedelta,
        chunk_size: int,
        default_time_zone: str,
        tenant_time_zones: dict[str, str],
        messages_queued: Wakeup,
        hints: DueMessageHints | None = None,
        handoff: BatchHandoff | None = None,
        recipient_wait: timedelta = timedelta(minutes=3),
    ) -> None:
        self._mongo = mongo
        self._recipient_wait = recipient_wait
        self._database = database
        self._tokens = tokens
        self._links = links
        self._base_url = public_base_url.rstrip("/")
        self._sender_names = sender_names
        self._lease = lease
        self._chunk_size = chunk_size
        self._default_time_zone = default_time_zone
        self._tenant_time_zones = tenant_time_zones
        self._messages_queued = messages_queued
        self._hints = hints
        self._handoff = handoff
        self.owner = f"broadcasts-{uuid.uuid4().hex[:12]}"

    async def _fallback_zone(self, tenant_id: str) -> str:
        """The time zone of a recipient campaigns knows none of: the one the tenant's contact
        policy sets for them (as its quiet hours use), else the deployment's for the tenant.
        The policy's UTC is its default, which the policy form sends unless changed: it is
        taken for "not chosen", so saving the policy for quiet hours does not undo the
        deployment's zone."""
        policy = await ContactPolicyRepository(self._database, tenant_id).stored()
        if policy is not None and policy.default_time_zone != POLICY_DEFAULT_ZONE:
            return policy.default_time_zone
        return self._tenant_time_zones.get(tenant_id, self._default_time_zone)

    async def run_due(self) -> int:
        """Prepares requested broadcasts, then finishes A/B tests whose time is up."""
        handled = 0
        # Deliberately cross-tenant: the runner works for every tenant.
        for due, work in (
            ({"status": BroadcastStatus.PREPARING.value}, self._prepare),
            (
                {
                    # A test whose rest is still to be queued, or one with no rest (every
                    # recipient in the test: 100 %, or an audience too small for a rest),
                    # which is materialized from the start and may have completed already:
                    # its winner is recorded all the same.
                    "status": {
                        "$in": [BroadcastStatus.SENDING.value, BroadcastStatus.COMPLETED.value]
                    },
                    "test_ends_at": {"$lte": utc_now()},
                    "$and": [{"$or": [{"materialized": False}, {"winner": None}]}],
                },
                self._finish_test,
            ),
        ):
            while handled < 10:
                claimed = await claim_next(
                    self._database,
                    BROADCASTS,
                    due,
                    owner=self.owner,
                    lease=self._lease,
                    order_by="created_at",
                )
                if claimed is None:
                    break
                token = otel_context.attach(propagate.extract(claimed.get("trace_context") or {}))
                try:
                    with tracer.start_as_current_span("broadcast.run"):
                        await work(from_document(Broadcast, claimed))
                except (TemplateMissingError, AudienceGoneError) as missing:
                    await self._pause(claimed, str(missing))
                except Exception as error:
                    # One broken broadcast must not hold up the others; its lease keeps it away
                    # until it expires, then it is tried again, and the third failure in a row
                    # pauses it with the reason instead of retrying unseen for ever.
                    logger.exception("broadcast %s failed to run", claimed["_id"])
                    await self._record_run_error(claimed, error)
                finally:
                    otel_context.detach(token)
                handled += 1
        return handled

    async def _record_run_error(self, claimed: dict[str, Any], error: Exception) -> None:
        errors = int(claimed.get("run_errors") or 0) + 1
        described = f"{type(error).__name__}: {error}"[:500]
        try:
            await self._database[BROADCASTS].update_one(
                {"_id": claimed["_id"], "lease_owner": self.owner},
                {"$set": {"run_errors": errors, "last_error": described}},
            )
            if errors >= MAX_RUN_ERRORS:
                await self._pause(claimed, f"failed {errors} times: {described}")
        except Exception:
            logger.exception("could not record the error of broadcast %s", claimed["_id"])

    async def _pause(self, claimed: dict[str, Any], reason: str) -> None:
        """Pauses a broadcast from its stored document alone (it may not even read as a
        `Broadcast`), holding what it queued."""
        repository = BroadcastRepository(self._database, claimed["tenant_id"])
        status = BroadcastStatus(claimed["status"])

        async def pause(session: Session) -> None:
            changes = {
                "status": BroadcastStatus.PAUSED.value,
                "pause_reason": reason,
                "paused_from": status.value,
                "lease_owner": None,
                "lease_until": None,
            }
            if await repository.transition(claimed["_id"], status, changes, session=session):
                await repository.move_messages(
                    claimed["_id"], MessageStatus.QUEUED, MessageStatus.HELD, session=session
                )
                await repository.stop_unstarted(claimed["_id"], MessageStatus.HELD, session=session)

        await in_transaction(self._mongo, pause)
        # What went in while the pause's transaction was open is not in its snapshot.
        await stop_settled(repository, claimed["_id"])
        logger.warning("broadcast %s paused: %s", claimed["_id"], reason)

    async def _audience(self, broadcast: Broadcast) -> list[str]:
        audience = broadcast.audience
        if isinstance(audience, ListAudience):
            return list(dict.fromkeys(audience.candidate_ids))
        if isinstance(audience, PoolAudience):
            members = PoolMemberRepository(self._database, broadcast.tenant_id)
            return await members.members(audience.pool_id, audience.stage)
        if isinstance(audience, StoredListAudience):
            stored = StoredListRepository(self._database, broadcast.tenant_id)
            if await stored.is_archived(audience.list_id):
                raise AudienceGoneError(f"list archived: list {audience.list_id} was archived")
            return await stored.member_ids(audience.list_id)
        segment = SegmentMemberRepository(self._database, broadcast.tenant_id)
        return await segment.member_ids(audience.segment_id)

    async def _compiled(self, broadcast: Broadcast) -> _Content:
        template = await TemplateRepository(self._database, broadcast.tenant_id).get(
            broadcast.template_id
        )
        if template is None:
            raise TemplateMissingError(f"template {broadcast.template_id} no longer exists")
        blocks = await BlockRepository(self._database, broadcast.tenant_id).sources()
        subjects = [v.subject for v in broadcast.ab_test.variants] if broadcast.ab_test else []
        jobs = await jobs_for(
            JobRepository(self._database, broadcast.tenant_id),
            (template.subject, template.html, template.text, *subjects),
            blocks,
        )
        return _Content(
            CompiledTemplate(template.subject, template.html, template.text, blocks),
            jobs,
            template.language,
        )

    def _start(self, broadcast: Broadcast) -> datetime:
        now = utc_now()
        schedule = broadcast.schedule
        return max(schedule.send_at, now) if isinstance(schedule, SendAt) else now

    async def _test_ends_at(self, broadcast: Broadcast) -> datetime | None:
        """When the A/B test is decided: `decide_after_minutes` after its mails went. At a time
        in each recipient's own zone they go over up to a day, so it counts from the last of
        them (the test's messages are the broadcast's only ones yet); deciding from the start
        would pick a winner before any test mail went."""
        if broadcast.ab_test is None:
            return None
        went = self._start(broadcast)
        if isinstance(broadcast.schedule, SendAtLocalTime):
            last = await TenantScopedCollection(self._database[MESSAGES], broadcast.tenant_id).find(
                {"broadcast_id": broadcast.id, "next_attempt_at": {"$ne": None}},
                sort=[("next_attempt_at", DESCENDING)],
                limit=1,
                projection={"next_attempt_at": 1},
            )
            if last:
                went = max(went, last[0]["next_attempt_at"])
        return went + timedelta(minutes=broadcast.ab_test.decide_after_minutes)

    async def _prepare(self, broadcast: Broadcast) -> None:
        repository = BroadcastRepository(self._database, broadcast.tenant_id)
        compiled = await self._compiled(broadcast)
        candidate_ids = await self._audience(broadcast)
        if await self._awaits_recipients(broadcast, candidate_ids, repository):
            return  # its lease, shortened, brings it back in a few seconds
        assignments = assign_variants(broadcast.id, candidate_ids, broadcast.ab_test)
        now = utc_now()
        unknown = queued = 0
        await repository.record_preparation(
            broadcast.id, unknown=0, audience_size=len(candidate_ids)
        )
        async with self._handing() as handing:
            for start in range(0, len(assignments), self._chunk_size):
                if not await self._still_ours(repository, broadcast.id, BroadcastStatus.PREPARING):
                    return  # a resume claims it again
                chunk = assignments[start : start + self._chunk_size]
                chunk_unknown, chunk_queued = await self._queue_chunk(
                    broadcast, compiled, chunk, now, subject=None, handing=handing
                )
                unknown, queued = unknown + chunk_unknown, queued + chunk_queued
                if chunk_unknown:
                    await repository.record_preparation(broadcast.id, unknown=unknown)
            if not await self._all_went_in(handing, repository, broadcast.id):
                return  # a resume prepares the broadcast again
        has_rest = any(a.group == REST_GROUP for a in assignments)
        test_ends_at = await self._test_ends_at(broadcast)
        moved = await repository.transition(
            broadcast.id,
            BroadcastStatus.PREPARING,
            {
                "status": BroadcastStatus.SENDING.value,
                "audience_size": len(candidate_ids),
                "queued": queued,
                "materialized": not has_rest,
                "test_ends_at": test_ends_at,
                f"stats.skipped.{UNKNOWN_CANDIDATE}": unknown,
                "lease_owner": None,
                "lease_until": None,
            },
        )
        await self._settle(repository, broadcast.id, moved)

    async def _awaits_recipients(
        self, broadcast: Broadcast, candidate_ids: list[str], repository: BroadcastRepository
    ) -> bool:
        """Whether to wait before queuing: some of the audience are not known to campaigns yet
        (a segment's `segment.entered` can arrive before the person's `candidate.created`, the
        topics being consumed apart, and an import's people reach campaigns behind their
        backlog), and the broadcast was sent less than `recipient_wait` ago. Queued now, they
        would be skipped for good. Past the wait, the still unknown are skipped
        (`unknown_candidate`) and the rest go. Records how many it waits for."""
        now = utc_now()
        if now - (broadcast.started_at or now) >= self._recipient_wait:
            # Past the wait nobody is waited for: the audience is not read twice.
            if broadcast.awaiting_recipients:
                await repository.await_recipients(broadcast.id, 0, until=None)
            return False
        recipients = RecipientRepository(self._database, broadcast.tenant_id)
        unknown = 0
        for start in range(0, len(candidate_ids), self._chunk_size):
            chunk = candidate_ids[start : start + self._chunk_size]
            unknown += len(chunk) - len(await recipients.known_among(chunk))
        if unknown:
            await repository.await_recipients(broadcast.id, unknown, until=now + RECIPIENT_RECHECK)
            logger.info(
                "broadcast %s waits for %d of its audience to reach campaigns",
                broadcast.id,
                unknown,
            )
        elif broadcast.awaiting_recipients:
            await repository.await_recipients(broadcast.id, 0, until=None)
        return unknown > 0

    async def _still_ours(
        self, repository: BroadcastRepository, broadcast_id: str, status: BroadcastStatus
    ) -> bool:
        """Renews the lease (handing over paces the work to the send, which can outlast a
        lease) while the broadcast is still in `status`; if it was paused, cancelled or taken
        over meanwhile, holds or cancels what went in queued and returns False."""
        if await repository.renew_lease(broadcast_id, status, self.owner, self._lease):
            return True
        await self._settle(repository, broadcast_id, moved=False)
        return False

    async def _all_went_in(
        self, handing: Handing | None, repository: BroadcastRepository, broadcast_id: str
    ) -> bool:
        """Waits for the handed batches to be stored; if one was refused because the broadcast
        was paused or cancelled meanwhile, holds or cancels what went in queued and returns
        False."""
        if handing is None or await handing.all_went_in():
            return True
        await self._settle(repository, broadcast_id, moved=False)
        return False

    async def _settle(
        self, repository: BroadcastRepository, broadcast_id: str, moved: bool
    ) -> None:
        """Completes a broadcast with nothing left to send; if it was paused or cancelled while
        messages went in, holds or cancels what was just queued, and what of it a dispatcher
        claimed meanwhile but has not begun to send."""
        if moved:
            await complete_if_done(self._database, repository.tenant_id, broadcast_id)
            return
        await stop_settled(repository, broadcast_id)

    async def _queue_chunk(
        self,
        broadcast: Broadcast,
        compiled: _Content,
        chunk: Sequence[Assignment],
        now: datetime,
        *,
        subject: str | None,
        handing: Handing | None,
        send_times: dict[str, datetime] | None = None,
    ) -> tuple[int, int]:
        """Snapshots and queues one chunk; returns how many candidates campaigns does not know
        and how many messages the chunk has (queued now or by an earlier, interrupted run).

        While `handing`, the messages due now are offered to this process's dispatchers, which
        insert them claimed; the caller waits for `handing.all_went_in()` before the
        broadcast's next status, as until then some may not be in the database.

        The broadcast's `queued` is the sum of the latter rather than a count of its messages
        afterwards: the dispatcher is already moving them between statuses, and a count over an
        index on the status can miss a document that moves in it meanwhile.
        """
        tenant_id = broadcast.tenant_id
        recipients = await RecipientRepository(self._database, tenant_id).many(
            [a.candidate_id for a in chunk]
        )
        fallback = await self._fallback_zone(tenant_id)
        variants = (
            {v.name: v.subject for v in broadcast.ab_test.variants} if broadcast.ab_test else {}
        )
        rows: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        unknown = 0
        trace_context = current_trace_context()
        for assignment in chunk:
            recipient = recipients.get(assignment.candidate_id)
            due = send_time(
                broadcast.schedule,
                now=now,
                time_zone=recipient.time_zone if recipient else None,
                fallback_zone=fallback,
            )
            if send_times is not None:
                due = max(send_times.get(assignment.candidate_id, now), now)
            if recipient is None:
                unknown += 1
                continue
            if assignment.group == REST_GROUP and subject is None:
                # Waits for the A/B winner: kept with its send time until the test is decided.
                # Everyone else's queued message is their place in the snapshot.
                rows.append(
                    {
                        "_id": f"{broadcast.id}:{assignment.candidate_id}",
                        "broadcast_id": broadcast.id,
                        "candidate_id": assignment.candidate_id,
                        "group": assignment.group,
                        "variant": assignment.variant,
                        "send_at": due,
                        "known": True,
                    }
                )
                continue
            variant_subject = variants.get(assignment.variant or "") or subject
            try:
                message = self._message(
                    broadcast, compiled, recipient, assignment, variant_subject, subject
                )
            except RenderError as error:
                failed.append(to_document(self._unrendered(broadcast, recipient, error)))
                continue
            messages.append(
                to_document(message)
                | {
                    "next_attempt_at": due,
                    "trace_context": trace_context,
                    "lease_owner": None,
                    "lease_until": None,
                }
            )
        if rows:
            snapshot = TenantScopedCollection(self._database[BROADCAST_RECIPIENTS], tenant_id)
            await snapshot.insert_many(rows)
        if failed:
            # Final already: never claimed, and counted among the broadcast's messages.
            await TenantScopedCollection(self._database[MESSAGES], tenant_id).insert_many(failed)
        count = len(messages) + len(failed)
        if handing is not None:
            due_now = utc_now()
            await handing.offer(
                tenant_id,
                broadcast.id,
                broadcast.status,
                [m for m in messages if m["next_attempt_at"] <= due_now],
            )
            messages = [m for m in messages if m["next_attempt_at"] > due_now]
        await self._queue(tenant_id, messages)
        return unknown, count

    async def _queue(self, tenant_id: str, messages: list[dict[str, Any]]) -> None:
        """Stores rendered messages as queued, for whichever worker claims them.

        The broadcast may have been paused or cancelled since the runner last looked (while it
        rendered them, or while a dispatcher was not taking them): its status is read after
        the insert, and if it was stopped what went in is held or cancelled before a dispatcher
        of this process is told of it. The pause's own second pass reaches what went in before
        this read (`broadcast_controls.stop_settled`)."""
        queued = TenantScopedCollection(self._database[MESSAGES], tenant_id)
        if await queued.insert_many(messages):
            repository = BroadcastRepository(self._database, tenant_id)
            stopped = False
            for broadcast_id in sorted({m["broadcast_id"] for m in messages}):
                stopped = await stop_settled(repository, broadcast_id) or stopped
            if stopped:
                return
            if self._hints is not None:
                due_now = utc_now()
                self._hints.add([m["_id"] for m in messages if m["next_attempt_at"] <= due_now])
            self._messages_queued.notify()

    def _handing(self) -> contextlib.AbstractAsyncContextManager[Handing | None]:
        """This run's handing over to the process's dispatchers, if the runner has a handoff."""
        if self._handoff is None:
            return contextlib.nullcontext()
        return self._handoff.run(self._queue)

    def _message(
        self,
        broadcast: Broadcast,
        compiled: _Content,
        recipient: Recipient,
        assignment: Assignment,
        variant_subject: str | None,
        winner_subject: str | None,
    ) -> Message:
        message_id = message_id_for(broadcast.id, recipient.candidate_id)
        links = contact_links(
            self._links,
            base_url=self._base_url,
            tenant_id=broadcast.tenant_id,
            candidate_id=recipient.candidate_id,
            message_id=message_id,
        )
        rendered = compiled.template.render(
            recipient_context(
                recipient, self._sender_names(recipient.tenant_id), links, compiled.jobs
            ),
            subject=variant_subject or winner_subject,
        )
        html, text = with_footer(rendered.html, rendered.text, links, compiled.language)
        tracked = instrument_html(
            html,
            tokens=self._tokens,
            tenant_id=broadcast.tenant_id,
            message_id=message_id,
            base_url=self._base_url,
        )
        return Message(
            id=message_id,
            tenant_id=broadcast.tenant_id,
            candidate_id=recipient.candidate_id,
            template_id=broadcast.template_id,
            broadcast_id=broadcast.id,
            variant=assignment.variant if assignment.group == TEST_GROUP else broadcast.winner,
            in_ab_test=assignment.group == TEST_GROUP,
            to_email=recipient.email,
            subject=rendered.subject,
            html=tracked.html,
            text=text,
            links=tracked.links,
            unsubscribe_url=links.unsubscribe_url,
            preferences_url=links.preferences_url,
        )

    def _unrendered(
        self, broadcast: Broadcast, recipient: Recipient, error: RenderError
    ) -> Message:
        """The failed message of a recipient whose mail cannot be rendered, with the reason."""
        logger.warning(
            "broadcast %s: no mail for %s: %s", broadcast.id, recipient.candidate_id, error
        )
        return Message(
            id=message_id_for(broadcast.id, recipient.candidate_id),
            tenant_id=broadcast.tenant_id,
            candidate_id=recipient.candidate_id,
            template_id=broadcast.template_id,
            broadcast_id=broadcast.id,
            to_email=recipient.email,
            subject="",
            html="",
            text="",
            status=MessageStatus.FAILED,
            failure_reason=RENDER_FAILED,
            last_error=f"the template cannot be rendered for this candidate: {error}",
        )

    async def _finish_test(self, broadcast: Broadcast) -> None:
        """Picks the winner (once) and queues it for everyone who waited for it."""
        ab_test = broadcast.ab_test
        assert ab_test is not None  # only A/B broadcasts are ever unmaterialized
        repository = BroadcastRepository(self._database, broadcast.tenant_id)
        if broadcast.winner is None:
            results = await variant_results(repository, broadcast)
            winner = pick_winner(results, ab_test.metric)
            await repository.decide_winner(broadcast.id, winner)
            broadcast = broadcast.model_copy(update={"winner": winner})
            logger.info("broadcast %s: variant %s won", broadcast.id, winner)
        if broadcast.materialized:
            # Nobody waits for the winner: recording it was all there was to do.
            await repository.release_lease(broadcast.id, self.owner)
            await self._settle(repository, broadcast.id, moved=True)
            return
        subject = next(v.subject for v in ab_test.variants if v.name == broadcast.winner)
        compiled = await self._compiled(broadcast)
        snapshot = TenantScopedCollection(self._database[BROADCAST_RECIPIENTS], broadcast.tenant_id)
        rows = await snapshot.find(
            {"broadcast_id": broadcast.id, "group": REST_GROUP, "known": True},
            sort=[("_id", 1)],
        )
        now = utc_now()
        # The test group's messages, queued when the broadcast was prepared, and the rest's.
        queued = broadcast.queued
        async with self._handing() as handing:
            for start in range(0, len(rows), self._chunk_size):
                if not await self._still_ours(repository, broadcast.id, BroadcastStatus.SENDING):
                    return  # still unmaterialized: finished again once it sends (as below)
                chunk = rows[start : start + self._chunk_size]
                assignments = [Assignment(r["candidate_id"], REST_GROUP, None) for r in chunk]
                send_times = {r["candidate_id"]: r["send_at"] for r in chunk}
                _, chunk_queued = await self._queue_chunk(
                    broadcast,
                    compiled,
                    assignments,
                    now,
                    subject=subject,
                    handing=handing,
                    send_times=send_times,
                )
                queued += chunk_queued
            if not await self._all_went_in(handing, repository, broadcast.id):
                # The broadcast stays unmaterialized, so once it sends again (and its lease is
                # up) the rest is queued again, what went in already being kept.
                return
        moved = await repository.transition(
            broadcast.id,
            BroadcastStatus.SENDING,
            {"queued": queued, "materialized": True, "lease_owner": None, "lease_until": None},
        )
        await self._settle(repository, broadcast.id, moved)

"""The candidates service's write operations, each one MongoDB transaction with its events.

Every write of a candidate re-evaluates that candidate, and only that candidate, against the
tenant's segments in the same transaction, so `segment.entered` / `segment.exited` are committed
with the change that caused them: membership is current the moment the write returns.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from crm_candidates.domain.models import Candidate, Segment, SegmentStatus
from crm_candidates.domain.segments import Group, candidate_facets, compile_rule, rule_matches
from crm_candidates.publishers import (
    to_candidate_created,
    to_candidate_updated,
    to_segment_entered,
    to_segment_exited,
)
from crm_candidates.repository import (
    CandidateRepository,
    SegmentRepository,
    segments_awaiting_evaluation,
)
from crm_shared import Database, MongoClient, Outbox, Session, in_transaction

RECOMPUTE_BATCH = 500

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CandidateWriter:
    """Creates and changes one tenant's candidates, keeping segment membership current."""

    mongo: MongoClient
    outbox: Outbox
    candidates: CandidateRepository
    segments: SegmentRepository

    async def create(self, candidate: Candidate) -> Candidate:
        """Stores a new candidate with `candidate.created` and its segment entries."""
        await in_transaction(self.mongo, lambda session: self.add(candidate, session=session))
        self.outbox.notify_committed()
        return candidate

    async def add(self, candidate: Candidate, *, session: Session) -> None:
        """`create` within the caller's transaction."""
        await self.candidates.add(candidate, session=session)
        await to_candidate_created(self.outbox, candidate, session=session)
        await self._reevaluate(candidate, session=session)

    async def update(self, candidate: Candidate) -> Candidate:
        """Stores a changed candidate with `candidate.updated` and its segment changes."""

        async def store(session: Session) -> None:
            await self.candidates.replace(candidate, session=session)
            await to_candidate_updated(self.outbox, candidate, session=session)
            await self._reevaluate(candidate, session=session)

        await in_transaction(self.mongo, store)
        self.outbox.notify_committed()
        return candidate

    async def _reevaluate(self, candidate: Candidate, *, session: Session) -> None:
        facets = candidate_facets(candidate.profile())
        current = await self.segments.memberships_of(candidate.id, session=session)
        for segment in await self.segments.all(session=session):
            matches = rule_matches(Group.model_validate(segment.rule), facets)
            if matches and segment.id not in current:
                if await self.segments.enter(segment.id, candidate.id, session=session):
                    await to_segment_entered(self.outbox, segment, candidate.id, session=session)
            elif (
                not matches
                and segment.id in current
                and await self.segments.exit(segment.id, candidate.id, session=session)
            ):
                await to_segment_exited(self.outbox, segment, candidate.id, session=session)


@dataclass(frozen=True)
class SegmentEvaluator:
    """Fully (re)evaluates a segment: the job run for a new or edited segment."""

    mongo: MongoClient
    outbox: Outbox
    candidates: CandidateRepository
    segments: SegmentRepository

    async def recompute(self, segment: Segment) -> None:
        """Brings the segment's membership in line with its rule, emitting every change."""
        rule = Group.model_validate(segment.rule)
        async for ids in self.candidates.ids_matching(compile_rule(rule), batch=RECOMPUTE_BATCH):
            await self._reconcile(segment, rule, ids)
        after: str | None = None
        while members := await self.segments.member_ids(
            segment.id, after=after, limit=RECOMPUTE_BATCH
        ):
            await self._reconcile(segment, rule, members)
            after = members[-1]
        await self.segments.set_status(segment.id, SegmentStatus.READY)

    async def _reconcile(self, segment: Segment, rule: Group, candidate_ids: list[str]) -> None:
        # Each candidate is re-read inside the transaction: a concurrent write that changed it
        # either committed first (and is seen here) or conflicts and is retried by the driver.
        async def reconcile(session: Session) -> None:
            for candidate_id in candidate_ids:
                candidate = await self.candidates.get(candidate_id, session=session)
                matches = candidate is not None and rule_matches(
                    rule, candidate_facets(candidate.profile())
                )
                if matches:
                    if await self.segments.enter(segment.id, candidate_id, session=session):
                        await to_segment_entered(
                            self.outbox, segment, candidate_id, session=session
                        )
                elif await self.segments.exit(segment.id, candidate_id, session=session):
                    await to_segment_exited(self.outbox, segment, candidate_id, session=session)

        await in_transaction(self.mongo, reconcile)
        self.outbox.notify_committed()


class SegmentJobs:
    """Runs full segment evaluations in the background and resumes unfinished ones on start."""

    def __init__(self, mongo: MongoClient, database: Database, outbox: Outbox) -> None:
        self._mongo = mongo
        self._database = database
        self._outbox = outbox
        self._running: set[asyncio.Task[None]] = set()

    def evaluator(self, tenant_id: str) -> SegmentEvaluator:
        """The evaluator of one tenant's segments."""
        return SegmentEvaluator(
            self._mongo,
            self._outbox,
            CandidateRepository(self._database, tenant_id),
            SegmentRepository(self._database, tenant_id),
        )

    def schedule(self, segment: Segment) -> None:
        """Starts the full evaluation of a segment."""
        task = asyncio.create_task(self._run(segment), name=f"segment-{segment.id}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, segment: Segment) -> None:
        try:
            await self.evaluator(segment.tenant_id).recompute(segment)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The segment stays `computing`; the next start of the service resumes it.
            logger.exception("evaluating segment %s failed", segment.id)

    async def resume_unfinished(self) -> None:
        """Restarts the evaluations a previous process did not finish."""
        for segment in await segments_awaiting_evaluation(self._database):
            self.schedule(segment)

    async def wait_idle(self) -> None:
        """Waits until no evaluation runs (for tests and orderly shutdown)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def stop(self) -> None:
        """Cancels running evaluations; they resume on the next start."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

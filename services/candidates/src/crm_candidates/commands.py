"""The candidates service's write operations, each one MongoDB transaction with its events.

Every write of a candidate re-evaluates that candidate, and only that candidate, against the
tenant's segments in the same transaction, so `segment.entered` / `segment.exited` are committed
with the change that caused them: membership is current the moment the write returns.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from crm_candidates.domain.identity import identity_keys, key_kind
from crm_candidates.domain.models import Candidate, Segment, SegmentStatus, unique_in_order
from crm_candidates.domain.pools import (
    AlreadyInPoolError,
    CandidateNotActiveError,
    CandidateNotFoundError,
    NotInPoolError,
    Pool,
    PoolMembership,
    StageChange,
    placed,
)
from crm_candidates.domain.segments import Group, candidate_facets, compile_rule, rule_matches
from crm_candidates.publishers import (
    to_candidate_created,
    to_candidate_updated,
    to_pool_stage_changed,
    to_segment_entered,
    to_segment_exited,
)
from crm_candidates.repository import (
    CandidateRepository,
    IdentityTakenError,
    PoolRepository,
    SegmentRepository,
    candidate_identity_keys,
    segments_awaiting_evaluation,
)
from crm_shared import Database, MongoClient, Outbox, Session, in_transaction, utc_now

RECOMPUTE_BATCH = 500
ResultT = TypeVar("ResultT")

logger = logging.getLogger(__name__)


MAX_CREATE_ATTEMPTS = 3


@dataclass(frozen=True)
class Upserted:
    """What a create did: stored a new person, or found them by an identifier they hold."""

    candidate: Candidate
    created: bool
    matched_on: list[str]


def with_identifiers(existing: Candidate, incoming: Candidate, foreign: set[str]) -> Candidate:
    """`existing` with the emails, phones and profile URLs of `incoming` it lacks.

    Identifiers whose key another candidate holds (`foreign`) are left out: they are that
    person's, and a merge is the way to join the two.
    """

    def free(values: list[str], key_of: Callable[[str], list[str]]) -> list[str]:
        return [value for value in values if not foreign.intersection(key_of(value))]

    return existing.model_copy(
        update={
            "emails": unique_in_order(
                [*existing.emails, *free(incoming.emails, lambda v: identity_keys([v]))]
            ),
            "phones": unique_in_order(
                [*existing.phones, *free(incoming.phones, lambda v: identity_keys([], [v]))]
            ),
            "profile_urls": unique_in_order(
                [
                    *existing.profile_urls,
                    *free(incoming.profile_urls, lambda v: identity_keys([], [], [v])),
                ]
            ),
        }
    )


@dataclass(frozen=True)
class CandidateWriter:
    """Creates and changes one tenant's candidates, keeping segment membership current."""

    mongo: MongoClient
    outbox: Outbox
    candidates: CandidateRepository
    segments: SegmentRepository

    async def create(self, candidate: Candidate) -> Upserted:
        """Stores a new candidate, or adds the new identifiers to the person already on file.

        The person is recognised by any normalised email, phone or profile URL they hold. Two
        concurrent creates of one person cannot both insert: the identity keys are unique, so
        the loser's transaction fails and its retry finds the winner's record.
        """
        for attempt in range(1, MAX_CREATE_ATTEMPTS + 1):
            try:
                result = await in_transaction(
                    self.mongo, lambda session: self.upsert(candidate, session=session)
                )
            except IdentityTakenError:
                if attempt == MAX_CREATE_ATTEMPTS:
                    raise
                continue
            self.outbox.notify_committed()
            return result
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def upsert(self, candidate: Candidate, *, session: Session) -> Upserted:
        """`create` within the caller's transaction."""
        keys = candidate_identity_keys(candidate)
        holders = await self.candidates.holders_of(keys, session=session)
        if not holders:
            await self.add(candidate, session=session)
            return Upserted(candidate, created=True, matched_on=[])
        # The first identifier given decides among several holders (emails come first).
        existing_id = next(holders[key] for key in keys if key in holders)
        existing = await self.candidates.get(existing_id, session=session)
        if existing is None:
            raise IdentityTakenError(existing_id)
        matched_on = unique_in_order([key_kind(k) for k in keys if holders.get(k) == existing_id])
        foreign = {key for key, holder in holders.items() if holder != existing_id}
        extended = with_identifiers(existing, candidate, foreign)
        if extended != existing:
            extended = extended.model_copy(update={"updated_at": utc_now()})
            await self.store_change(extended, previous=existing, session=session)
        return Upserted(extended, created=False, matched_on=matched_on)

    async def add(self, candidate: Candidate, *, session: Session) -> None:
        """`create` within the caller's transaction."""
        await self.candidates.add(candidate, session=session)
        await to_candidate_created(self.outbox, candidate, session=session)
        await self.reevaluate(candidate, session=session)

    async def update(self, candidate: Candidate) -> Candidate:
        """Stores a changed candidate with `candidate.updated` and its segment changes."""

        async def store(session: Session) -> None:
            await self.store_change(candidate, session=session)

        await in_transaction(self.mongo, store)
        self.outbox.notify_committed()
        return candidate

    async def change(
        self, candidate_id: str, mutate: Callable[[Candidate], Candidate]
    ) -> Candidate | None:
        """Applies `mutate` to the candidate as stored now, in one transaction with its events.

        None if the tenant has no such candidate. Reading inside the transaction means two
        concurrent changes (a profile edit and a pool move) never overwrite each other.
        """
        changed = await in_transaction(
            self.mongo, lambda session: self.change_in(candidate_id, mutate, session=session)
        )
        self.outbox.notify_committed()
        return changed

    async def change_in(
        self, candidate_id: str, mutate: Callable[[Candidate], Candidate], *, session: Session
    ) -> Candidate | None:
        """`change` within the caller's transaction; a change that changes nothing is no write."""
        candidate = await self.candidates.get(candidate_id, session=session)
        if candidate is None:
            return None
        changed = mutate(candidate)
        if changed == candidate:
            return candidate
        changed = changed.model_copy(update={"updated_at": utc_now()})
        await self.store_change(changed, previous=candidate, session=session)
        return changed

    async def store_change(
        self, candidate: Candidate, *, session: Session, previous: Candidate | None = None
    ) -> None:
        """`update` within the caller's transaction."""
        await self.candidates.replace(candidate, previous=previous, session=session)
        await to_candidate_updated(self.outbox, candidate, session=session)
        await self.reevaluate(candidate, session=session)

    async def reevaluate(self, candidate: Candidate, *, session: Session) -> None:
        """Brings one candidate's segment memberships in line; a record not active leaves all."""
        facets = candidate_facets(candidate.profile())
        current = await self.segments.memberships_of(candidate.id, session=session)
        for segment in await self.segments.all(session=session):
            matches = candidate.is_active and rule_matches(
                Group.model_validate(segment.rule), facets
            )
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
class PoolCommands:
    """Adds candidates to one tenant's talent pools, moves them between stages, removes them.

    Each change is one transaction: the membership, its stage history, the candidate's
    denormalised `pools` (with `candidate.updated` and the segment re-evaluation that follow
    from it) and `pool.stage_changed`.
    """

    mongo: MongoClient
    outbox: Outbox
    pools: PoolRepository
    writer: CandidateWriter

    async def add(self, pool: Pool, candidate_id: str, stage: str, *, by: str) -> PoolMembership:
        """Adds a candidate at `stage`; `AlreadyInPoolError` if a member already."""

        async def add(session: Session) -> PoolMembership:
            if await self.pools.membership(pool.id, candidate_id, session=session):
                raise AlreadyInPoolError(pool, candidate_id)
            return await self._set_stage(pool, candidate_id, None, stage, by, session=session)

        return await self._run(add)

    async def move(self, pool: Pool, candidate_id: str, stage: str, *, by: str) -> PoolMembership:
        """Moves a member to `stage` (no change if there already); `NotInPoolError` otherwise."""

        async def move(session: Session) -> PoolMembership:
            current = await self.pools.membership(pool.id, candidate_id, session=session)
            if current is None:
                raise NotInPoolError(pool, candidate_id)
            if current.stage == stage:
                return current
            return await self._set_stage(pool, candidate_id, current, stage, by, session=session)

        return await self._run(move)

    async def remove(self, pool: Pool, candidate_id: str, *, by: str) -> None:
        """Takes a member out of the pool; `NotInPoolError` if not a member."""

        async def remove(session: Session) -> None:
            current = await self.pools.membership(pool.id, candidate_id, session=session)
            if current is None:
                raise NotInPoolError(pool, candidate_id)
            await self._set_stage(pool, candidate_id, current, None, by, session=session)

        await self._run(remove)

    async def place_in(
        self, pool: Pool, candidate_id: str, stage: str, *, by: str, session: Session
    ) -> None:
        """Within the caller's transaction: the candidate at `stage`, added if not a member."""
        current = await self.pools.membership(pool.id, candidate_id, session=session)
        if current is None or current.stage != stage:
            await self._set_stage(pool, candidate_id, current, stage, by, session=session)

    async def _run(self, work: Callable[[Session], Awaitable[ResultT]]) -> ResultT:
        result = await in_transaction(self.mongo, work)
        self.outbox.notify_committed()
        return result

    async def _set_stage(
        self,
        pool: Pool,
        candidate_id: str,
        current: PoolMembership | None,
        stage: str | None,
        by: str,
        *,
        session: Session,
    ) -> PoolMembership:
        def place(candidate: Candidate) -> Candidate:
            # A merged or archived record can still be taken out of a pool, never put in one.
            if stage is not None and not candidate.is_active:
                raise CandidateNotActiveError(candidate.id, candidate.status.value)
            return candidate.model_copy(update={"pools": placed(candidate.pools, pool.id, stage)})

        changed = await self.writer.change_in(candidate_id, place, session=session)
        if changed is None:
            raise CandidateNotFoundError(candidate_id)
        change = StageChange(
            tenant_id=pool.tenant_id,
            pool_id=pool.id,
            candidate_id=candidate_id,
            from_stage=current.stage if current else None,
            to_stage=stage,
            moved_by=by,
        )
        membership = PoolMembership(
            pool_id=pool.id,
            candidate_id=candidate_id,
            stage=stage or (current.stage if current else pool.initial_stage),
            added_by=current.added_by if current else by,
            added_at=current.added_at if current else change.moved_at,
            moved_at=change.moved_at,
        )
        if stage is None:
            await self.pools.remove_membership(pool.id, candidate_id, session=session)
        else:
            await self.pools.put_membership(membership, session=session)
        await self.pools.record_change(change, session=session)
        await to_pool_stage_changed(self.outbox, pool, change, session=session)
        return membership


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
                matches = (
                    candidate is not None
                    and candidate.is_active
                    and rule_matches(rule, candidate_facets(candidate.profile()))
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

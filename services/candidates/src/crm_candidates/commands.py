"""The candidates service's write operations, each one MongoDB transaction with its events.

Every write of a candidate re-evaluates that candidate, and only that candidate, against the
tenant's segments in the same transaction, so `segment.entered` / `segment.exited` are committed
with the change that caused them: membership is current the moment the write returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from crm_candidates.domain.identity import identity_keys, key_kind
from crm_candidates.domain.models import (
    PROJECTED,
    Candidate,
    Segment,
    SegmentStatus,
    unique_in_order,
)
from crm_candidates.domain.pools import (
    AlreadyInPoolError,
    CandidateNotActiveError,
    CandidateNotFoundError,
    FormerStage,
    NotInPoolError,
    Pool,
    PoolMembership,
    StageChange,
    StageDeletionRefused,
    placed,
    stages_renamed,
    stages_without,
)
from crm_candidates.domain.segments import (
    Group,
    ReferenceGraph,
    candidate_facets,
    compile_segment_query,
    conditions,
    is_time_dependent,
    names_pool_stage,
    next_change_at,
    referenced_segments,
    rule_with_pool_stage_renamed,
    segment_matches,
)
from crm_candidates.domain.timeline import timeline_entry
from crm_candidates.publishers import (
    to_candidate_created,
    to_candidate_updated,
    to_pool_stage_changed,
    to_pool_stage_renamed,
    to_segment_entered,
    to_segment_exited,
)
from crm_candidates.repository import (
    CandidateRepository,
    IdentityTakenError,
    PoolRepository,
    SegmentRepository,
    TimelineRepository,
    candidate_identity_keys,
    candidates_due_for_recheck,
    recheck_is_due,
    segments_awaiting_evaluation,
)
from crm_shared import (
    BatchWorker,
    Database,
    EventEnvelope,
    LatestTasks,
    MongoClient,
    Outbox,
    Session,
    StaleVersionError,
    Wakeup,
    in_transaction,
    utc_now,
)

RECOMPUTE_BATCH = 500
RECHECK_BATCH = 100
ResultT = TypeVar("ResultT")


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

        async def store(session: Session) -> Candidate:
            # Facts projected from other services may have changed since the caller read the
            # candidate: the stored ones win, so a profile edit never rolls them back.
            stored = await self.candidates.get(candidate.id, session=session)
            changed = candidate
            if stored is not None:
                changed = candidate.model_copy(
                    update={name: getattr(stored, name) for name in PROJECTED}
                )
            await self.store_change(changed, previous=stored, session=session)
            return changed

        changed = await in_transaction(self.mongo, store)
        self.outbox.notify_committed()
        return changed

    async def project(
        self,
        candidate: Candidate,
        facts: Callable[[Candidate], dict[str, Any]],
        *,
        session: Session,
    ) -> Candidate:
        """Records facts from another service's event on the candidate (no `candidate.updated`:
        the profile did not change) and re-evaluates only this candidate's segments."""
        changes = {
            name: value
            for name, value in facts(candidate).items()
            if getattr(candidate, name) != value
        }
        if not changes:
            return candidate
        changed = candidate.model_copy(update=changes)
        await self.candidates.replace(changed, previous=candidate, session=session)
        await self.reevaluate(changed, session=session)
        return changed

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
        """Brings one candidate's segment memberships in line (a record not active leaves all)
        and schedules its next time-driven re-evaluation."""
        membership = MembershipEvaluator(self.outbox, self.candidates, self.segments)
        recheck_at = await membership.reevaluate(candidate, session=session)
        if recheck_at is not None:
            await self.candidates.set_recheck_at(candidate.id, recheck_at, session=session)


@dataclass(frozen=True)
class TenantSegments:
    """A tenant's segments with their parsed rules, each after the segments it refers to."""

    ordered: list[tuple[Segment, Group]]
    graph: ReferenceGraph

    @classmethod
    async def load(
        cls, segments: SegmentRepository, *, session: Session | None = None
    ) -> TenantSegments:
        """Reads and orders every segment of the tenant."""
        parsed = {
            segment.id: (segment, Group.model_validate(segment.rule))
            for segment in await segments.all(session=session)
        }
        graph = ReferenceGraph(
            {segment_id: referenced_segments(rule) for segment_id, (_, rule) in parsed.items()}
        )
        return cls([parsed[sid] for sid in graph.evaluation_order() if sid in parsed], graph)


@dataclass(frozen=True)
class MembershipEvaluator:
    """Re-evaluates one candidate against the tenant's segments, emitting entries and exits."""

    outbox: Outbox
    candidates: CandidateRepository
    segments: SegmentRepository

    async def reevaluate(
        self, candidate: Candidate, *, session: Session, only: set[str] | None = None
    ) -> datetime | None:
        """Brings the candidate's memberships (of `only` these segments, or all) in line with
        the rules now; returns when a relative date could next change one by time alone.

        Segments are evaluated after the segments they refer to, with the memberships as
        changed so far, so a change propagates to dependent segments in the same transaction.
        """
        now = utc_now()
        tenant = await TenantSegments.load(self.segments, session=session)
        facets = candidate_facets(candidate.model_dump())
        members = await self.segments.memberships_of(candidate.id, session=session)
        upcoming: list[datetime] = []
        for segment, rule in tenant.ordered:
            if is_time_dependent(rule):
                flip = next_change_at(rule, facets, now=now)
                if flip is not None:
                    upcoming.append(flip)
            if only is not None and segment.id not in only:
                continue
            matches = segment_matches(rule, facets, segment_ids=members, now=now)
            if matches and segment.id not in members:
                members.add(segment.id)
                if await self.segments.enter(segment.id, candidate.id, session=session):
                    envelope = await to_segment_entered(
                        self.outbox, segment, candidate.id, session=session
                    )
                    await self.on_timeline(envelope, candidate.id, session=session)
            elif not matches and segment.id in members:
                members.discard(segment.id)
                if await self.segments.exit(segment.id, candidate.id, session=session):
                    envelope = await to_segment_exited(
                        self.outbox, segment, candidate.id, session=session
                    )
                    await self.on_timeline(envelope, candidate.id, session=session)
        return min(upcoming, default=None)

    async def on_timeline(
        self, envelope: EventEnvelope[Any], candidate_id: str, *, session: Session
    ) -> None:
        timeline = TimelineRepository(self.candidates.database, self.candidates.tenant_id)
        await timeline.record(timeline_entry(envelope, candidate_id), session=session)


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

    async def delete_stage(self, pool: Pool, stage: str, move_to: str | None, *, by: str) -> int:
        """Deletes `stage`, each of its members moving to `move_to` (a move like any other:
        history, `pool.stage_changed`, `candidate.updated`); returns how many moved.

        The stage leaves the pool between two sweeps of its members, so someone added to it
        during the first sweep is moved by the second, and nobody can be added after it.
        """
        members = (await self.pools.stage_counts(pool)).get(stage, 0)
        remaining = stages_without(pool, stage, move_to, members=members)
        moved = await self._move_all(pool, stage, move_to, by=by)
        await self.pools.replace(pool.model_copy(update={"stages": remaining}))
        return moved + await self._move_all(pool, stage, move_to, by=by)

    async def rename_stage(
        self, pool: Pool, stage: str, new_name: str, expected_version: int, *, by: str
    ) -> None:
        """Renames `stage`, made from `expected_version` of the pool (`StaleVersionError` if it
        changed meanwhile; `StageRenameRefused` if another stage has the name).

        One transaction holds the pool, its members' stage, the candidates' `pools` and the
        segment rules naming the stage, so no reader ever sees the two names disagree and no
        segment membership changes. `pool.stage_renamed` tells the other services; the moves'
        history keeps the name each move was made under.
        """
        stages = stages_renamed(pool, stage, new_name)
        renamed = stages[pool.stages.index(stage)]
        if renamed == stage:
            return

        async def rename(session: Session) -> None:
            former = FormerStage(name=stage, renamed_to=renamed)
            if not await self.pools.replace_stages(
                pool, stages, expected_version, former=former, session=session
            ):
                latest = await self.pools.get(pool.id, session=session)
                raise StaleVersionError(latest.version if latest else 0)
            await self.pools.rename_stage_of_members(pool.id, stage, renamed, session=session)
            await self.writer.candidates.rename_pool_stage(pool.id, stage, renamed, session=session)
            segments = self.writer.segments
            for segment in await segments.all(session=session):
                if names_pool_stage(Group.model_validate(segment.rule), pool.id, stage):
                    rule = rule_with_pool_stage_renamed(segment.rule, pool.id, stage, renamed)
                    await segments.replace_rule(segment.id, rule, session=session)
            await to_pool_stage_renamed(
                self.outbox, pool, stage, renamed, by=by, at=utc_now(), session=session
            )

        await self._run(rename)

        async def sweep(session: Session) -> None:
            # A move resolved against the pool as it was before the rename may have committed
            # just after it, under the old name: it is the same stage.
            await self.pools.rename_stage_of_members(pool.id, stage, renamed, session=session)
            await self.writer.candidates.rename_pool_stage(pool.id, stage, renamed, session=session)

        await self._run(sweep)

    async def _move_all(self, pool: Pool, stage: str, move_to: str | None, *, by: str) -> int:
        moved = 0
        while batch := await self.pools.members(pool.id, stage=stage, after=None, limit=200):
            if move_to is None:
                raise StageDeletionRefused(f"candidates joined {stage!r} meanwhile; name move_to")
            for membership in batch:
                try:
                    await self.move(pool, membership.candidate_id, move_to, by=by)
                except CandidateNotActiveError:
                    # An archived or merged record cannot be placed in a stage, only taken out.
                    await self.remove(pool, membership.candidate_id, by=by)
                except CandidateNotFoundError:
                    await self._drop_orphan(pool, membership.candidate_id)
            moved += len(batch)
        return moved

    async def _drop_orphan(self, pool: Pool, candidate_id: str) -> None:
        """Removes a membership whose candidate is gone (nothing else to keep in step)."""

        async def drop(session: Session) -> None:
            await self.pools.remove_membership(pool.id, candidate_id, session=session)

        await self._run(drop)

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
        """Brings the segment's membership in line with its rule, emitting every change; the
        segments referring to it follow for every candidate whose membership changed."""
        rule = Group.model_validate(segment.rule)
        tenant = await TenantSegments.load(self.segments)
        affected = {segment.id} | tenant.graph.dependents_of(segment.id)
        query = compile_segment_query(rule)
        async for ids in self.candidates.ids_matching(query, batch=RECOMPUTE_BATCH):
            await self._reconcile(affected, ids)
        after: str | None = None
        while members := await self.segments.member_ids(
            segment.id, after=after, limit=RECOMPUTE_BATCH
        ):
            await self._reconcile(affected, members)
            after = members[-1]
        if is_time_dependent(rule):
            await self._schedule_rechecks(rule)
        await self.segments.set_status(segment.id, SegmentStatus.READY)

    async def _reconcile(self, affected: set[str], candidate_ids: list[str]) -> None:
        # Each candidate is re-read inside the transaction: a concurrent write that changed it
        # either committed first (and is seen here) or conflicts and is retried by the driver.
        membership = MembershipEvaluator(self.outbox, self.candidates, self.segments)

        async def reconcile(session: Session) -> None:
            for candidate_id in candidate_ids:
                candidate = await self.candidates.get(candidate_id, session=session)
                if candidate is None:
                    for segment_id in affected:
                        await self._exit_vanished(segment_id, candidate_id, session=session)
                    continue
                recheck_at = await membership.reevaluate(candidate, session=session, only=affected)
                if recheck_at is not None:
                    await self.candidates.set_recheck_at(candidate_id, recheck_at, session=session)

        await in_transaction(self.mongo, reconcile)
        self.outbox.notify_committed()

    async def dissolve(self, segment: Segment) -> None:
        """Lets every member of a deleted segment go (each with `segment.exited` and a timeline
        entry, in batches), then removes the segment."""
        while members := await self.segments.member_ids(
            segment.id, after=None, limit=RECOMPUTE_BATCH
        ):
            await self._let_go(segment, members)
        await self.segments.remove(segment.id)

    async def _let_go(self, segment: Segment, candidate_ids: list[str]) -> None:
        membership = MembershipEvaluator(self.outbox, self.candidates, self.segments)

        async def let_go(session: Session) -> None:
            for candidate_id in candidate_ids:
                if await self.segments.exit(segment.id, candidate_id, session=session):
                    envelope = await to_segment_exited(
                        self.outbox, segment, candidate_id, session=session
                    )
                    await membership.on_timeline(envelope, candidate_id, session=session)

        await in_transaction(self.mongo, let_go)
        self.outbox.notify_committed()

    async def _exit_vanished(self, segment_id: str, candidate_id: str, *, session: Session) -> None:
        segment = await self.segments.get(segment_id)
        if segment is not None and await self.segments.exit(
            segment_id, candidate_id, session=session
        ):
            await to_segment_exited(self.outbox, segment, candidate_id, session=session)

    async def _schedule_rechecks(self, rule: Group) -> None:
        # Membership by a relative date changes with time alone, also for candidates that match
        # neither now nor before: each candidate holding one of the dates gets a re-evaluation
        # at the instant its membership could flip (never a periodic rebuild of the segment).
        fields = sorted({c.field for c in conditions(rule) if c.relative is not None})
        now = utc_now()
        after: str | None = None
        while page := await self.candidates.facets_having(
            fields, after=after, limit=RECOMPUTE_BATCH
        ):
            for candidate_id, facets in page:
                flip = next_change_at(rule, facets, now=now)
                if flip is not None:
                    await self.candidates.bring_recheck_forward(candidate_id, flip)
            after = page[-1][0]


class SegmentRechecks:
    """Re-evaluates candidates at the instants their relative-date memberships flip."""

    def __init__(
        self, mongo: MongoClient, database: Database, outbox: Outbox, *, poll_seconds: float
    ) -> None:
        self._mongo = mongo
        self._database = database
        self._outbox = outbox
        self.worker = BatchWorker(
            "segment-rechecks",
            self.process_due,
            batch_size=RECHECK_BATCH,
            wakeup=Wakeup(),
            poll_interval_seconds=poll_seconds,
        )

    async def process_due(self) -> int:
        """Re-evaluates every candidate whose re-evaluation is due; returns how many."""
        due = await candidates_due_for_recheck(self._database, now=utc_now(), limit=RECHECK_BATCH)
        for tenant_id, candidate_id in due:
            await self._recheck(tenant_id, candidate_id)
        if due:
            self._outbox.notify_committed()
        return len(due)

    async def _recheck(self, tenant_id: str, candidate_id: str) -> None:
        candidates = CandidateRepository(self._database, tenant_id)
        membership = MembershipEvaluator(
            self._outbox, candidates, SegmentRepository(self._database, tenant_id)
        )

        async def recheck(session: Session) -> None:
            # Another replica may have taken it first: its commit moved the instant on.
            if not await recheck_is_due(
                self._database, tenant_id, candidate_id, now=utc_now(), session=session
            ):
                return
            candidate = await candidates.get(candidate_id, session=session)
            if candidate is None:
                return
            recheck_at = await membership.reevaluate(candidate, session=session)
            await candidates.set_recheck_at(candidate_id, recheck_at, session=session)

        await in_transaction(self._mongo, recheck)


class SegmentJobs:
    """Runs full segment evaluations (and deletions) in the background, one per segment, and
    resumes unfinished ones on start; a segment that stays `computing` or `deleting` after a
    failure is resumed by the next start of the service."""

    def __init__(self, mongo: MongoClient, database: Database, outbox: Outbox) -> None:
        self._mongo = mongo
        self._database = database
        self._outbox = outbox
        self._tasks = LatestTasks("segment")

    def evaluator(self, tenant_id: str) -> SegmentEvaluator:
        """The evaluator of one tenant's segments."""
        return SegmentEvaluator(
            self._mongo,
            self._outbox,
            CandidateRepository(self._database, tenant_id),
            SegmentRepository(self._database, tenant_id),
        )

    def schedule(self, segment: Segment) -> None:
        """Starts the full evaluation of a segment (or its dissolution, once deleted), replacing
        one still running for an older version of its rule."""
        evaluator = self.evaluator(segment.tenant_id)
        if segment.status is SegmentStatus.DELETING:
            self._tasks.start(segment.id, partial(evaluator.dissolve, segment))
        else:
            self._tasks.start(segment.id, partial(evaluator.recompute, segment))

    async def resume_unfinished(self) -> None:
        """Restarts the evaluations a previous process did not finish."""
        for segment in await segments_awaiting_evaluation(self._database):
            self.schedule(segment)

    async def wait_idle(self) -> None:
        """Waits until no evaluation runs (for tests and orderly shutdown)."""
        await self._tasks.wait_idle()

    async def stop(self) -> None:
        """Cancels running evaluations; they resume on the next start."""
        await self._tasks.stop()

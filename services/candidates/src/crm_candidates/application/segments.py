"""Segment use cases: full (re)evaluation of a segment, its dissolution, and the time-driven
rechecks of relative-date rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from crm_candidates.application.candidates import MembershipEvaluator, TenantSegments
from crm_candidates.domain.models import Candidate, Segment, SegmentStatus
from crm_candidates.domain.segments import (
    Group,
    RuleError,
    compile_segment_query,
    conditions,
    is_time_dependent,
    next_change_at,
    parse_rule,
    reference_problems,
    referenced_segments,
    rule_with_skills_respelled,
    unknown_custom_fields,
    unknown_pool_stages,
)
from crm_candidates.publishers import to_segment_exited
from crm_candidates.repositories.candidates import (
    CandidateRepository,
    candidates_due_for_recheck,
    recheck_is_due,
)
from crm_candidates.repositories.pools import PoolRepository
from crm_candidates.repositories.profile_rules import ProfileRulesRepository
from crm_candidates.repositories.segments import SegmentRepository, segments_awaiting_evaluation
from crm_candidates.repositories.sequence_references import SequenceReferenceRepository
from crm_shared import (
    BatchWorker,
    Database,
    LatestTasks,
    MongoClient,
    Outbox,
    Session,
    Wakeup,
    in_transaction,
    new_id,
    utc_now,
)

RECOMPUTE_BATCH = 500
RECHECK_BATCH = 100
# The longest a write transaction can stay open (the server's transaction lifetime, 60 s on
# MongoDB and on the local stack's SecantusDB: docs/reliability.md) plus a margin for clock
# skew between the replicas stamping writes and the one computing a segment.
CATCH_UP_WINDOW = timedelta(seconds=65)


@dataclass(frozen=True)
class SegmentEvaluator:
    """Fully (re)evaluates a segment: the job run for a new or edited segment."""

    mongo: MongoClient
    outbox: Outbox
    candidates: CandidateRepository
    segments: SegmentRepository
    catch_up_window: timedelta = CATCH_UP_WINDOW

    async def recompute(self, segment: Segment) -> None:
        """Brings the segment's membership in line with its rule, emitting every change; the
        segments referring to it follow for every candidate whose membership changed."""
        started = utc_now()
        await self.segments.set_catch_up_due(segment.id, started + self.catch_up_window)
        rule = Group.model_validate(segment.rule)
        tenant = await TenantSegments.load(self.segments)
        affected = {segment.id} | tenant.graph.dependents_of(segment.id)
        query = compile_segment_query(rule)
        async for ids in self.candidates.ids_matching(query, batch=RECOMPUTE_BATCH):
            await self._reconcile(affected, ids)
        async for members in self.segments.member_id_batches(segment.id, batch=RECOMPUTE_BATCH):
            await self._reconcile(affected, members)
        if is_time_dependent(rule):
            await self._schedule_rechecks(rule)
        await self.segments.set_status(segment.id, SegmentStatus.READY)
        await self._catch_up(affected, started)
        await self.segments.set_catch_up_due(segment.id, None)

    async def _catch_up(self, affected: set[str], started: datetime) -> None:
        # A write whose transaction read the tenant's segments before this rule was stored
        # evaluated its candidates without it, and if it committed after the pass above read
        # past them (an import chunk still open), nobody would evaluate them again. Such a
        # transaction was open at `started`, so it began (and stamped its candidates) after
        # `started - window`, and it has ended by `started + window`: once that instant has
        # passed, every candidate stamped since `started - window` is evaluated again.
        await asyncio.sleep(max(0.0, (started + self.catch_up_window - utc_now()).total_seconds()))
        since = started - self.catch_up_window
        async for ids in self.candidates.ids_evaluated_since(since, batch=RECOMPUTE_BATCH):
            await self._reconcile(affected, ids)

    async def _reconcile(self, affected: set[str], candidate_ids: list[str]) -> None:
        # The candidates are re-read inside the transaction: a concurrent write that changed one
        # either committed first (and is seen here) or conflicts and is retried by the driver.
        # One read of the batch's candidates and one of their memberships, then bulk writes
        # (`reevaluate_many`), where one by one cost several round trips per candidate.
        membership = MembershipEvaluator(self.outbox, self.candidates, self.segments)

        async def reconcile(session: Session) -> None:
            found = await self.candidates.get_many(candidate_ids, session=session)
            for candidate_id in candidate_ids:
                if candidate_id not in found:
                    for segment_id in affected:
                        await self._exit_vanished(segment_id, candidate_id, session=session)
            rechecks = await membership.reevaluate_many(
                [found[candidate_id] for candidate_id in candidate_ids if candidate_id in found],
                session=session,
                only=affected,
            )
            await self.candidates.set_rechecks_at(rechecks, session=session)

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


class SegmentInUseError(Exception):
    """Another segment's rule or a live sequence's trigger uses the segment."""

    def __init__(self, segment_name: str, segments: list[str], sequences: list[str]) -> None:
        users = [f"segment {name!r}" for name in segments] + [
            f"sequence {name!r}" for name in sequences
        ]
        # Segments have no archive: only a sequence can be put out of the way so.
        advice = [
            *(["change the rules of those segments"] if segments else []),
            *(["change or archive those sequences"] if sequences else []),
        ]
        super().__init__(
            f"the segment {segment_name!r} is used by {', '.join(users)}; "
            f"{' and '.join(advice)} first"
        )
        self.segments = segments
        self.sequences = sequences


@dataclass(frozen=True)
class SegmentDefinitions:
    """Defines, redefines and deletes one tenant's segments; each change of a rule (or a
    deletion) starts the segment's full evaluation in the background."""

    segments: SegmentRepository
    sequence_references: SequenceReferenceRepository
    jobs: SegmentJobs
    profile_rules: ProfileRulesRepository
    pools: PoolRepository

    async def valid_rule(self, raw: dict[str, Any], segment_id: str) -> Group:
        """The rule for the segment `segment_id`: valid, on custom fields the tenant has and
        stages of its pools, referring only to existing segments of the tenant, and never
        (through others) to itself; else `RuleError`. Skill values come back in the
        vocabulary's spelling."""
        parse_rule(raw)
        rules = await self.profile_rules.rules()
        problems = custom_field_problems(raw, rules.custom_fields)
        problems += unknown_pool_stages(raw, {pool.id: pool for pool in await self.pools.all()})
        if problems:
            raise RuleError(problems)
        # The spelling candidates' skills are stored in, so `skills equals JS` finds the
        # `javascript` people; stored (and shown) that way, and kept so by vocabulary changes.
        raw = rule_with_skills_respelled(raw, rules.vocabulary.spelling)
        rule = parse_rule(raw)
        stored = await self.segments.all()
        existing = {segment.id: segment.rule for segment in stored}
        names = {segment.id: segment.name for segment in stored}
        problems = reference_problems(raw, rule, segment_id, existing, names)
        if problems:
            raise RuleError(problems)
        return rule

    async def create(
        self, *, tenant_id: str, name: str, raw_rule: dict[str, Any], by: str
    ) -> Segment:
        """Stores a new segment and starts its first full evaluation."""
        segment_id = new_id()
        rule = await self.valid_rule(raw_rule, segment_id)
        segment = Segment(
            id=segment_id,
            tenant_id=tenant_id,
            name=name,
            rule=stored_rule(rule),
            created_by=by,
        )
        await self.segments.add(segment)
        self.jobs.schedule(segment)
        return segment

    async def redefine(
        self, segment: Segment, *, name: str | None, raw_rule: dict[str, Any] | None
    ) -> Segment:
        """Renames the segment or changes its rule; a new rule recomputes its membership."""
        changes: dict[str, Any] = {"updated_at": utc_now()}
        if name is not None:
            changes["name"] = name
        if raw_rule is not None:
            rule = await self.valid_rule(raw_rule, segment.id)
            changes |= {"rule": stored_rule(rule), "status": SegmentStatus.COMPUTING}
        changed = segment.model_copy(update=changes)
        await self.segments.redefine(changed)
        if raw_rule is not None:
            self.jobs.schedule(changed)
        return changed

    async def delete(self, segment_id: str) -> Segment | None:
        """Marks a segment nothing uses deleted and lets its members go in the background;
        None if there is no such segment, `SegmentInUseError` if something uses it."""
        tenant = await TenantSegments.load(self.segments)
        dependents = sorted(
            segment.name
            for segment, rule in tenant.ordered
            if segment_id in referenced_segments(rule) and segment.id != segment_id
        )
        sequences = await self.sequence_references.live_using(segment_id)
        if dependents or sequences:
            named = next((s.name for s, _ in tenant.ordered if s.id == segment_id), segment_id)
            raise SegmentInUseError(named, dependents, sequences)
        deleted = await self.segments.mark_deleted(segment_id)
        if deleted is not None:
            self.jobs.schedule(deleted)
        return deleted


def custom_field_problems(
    raw: dict[str, Any], defined: Mapping[str, object]
) -> list[tuple[str, str]]:
    """(path, message) for each condition on a custom field the tenant has not defined (or
    deleted), naming the fields it has: such a rule would silently match nobody."""
    known = ", ".join(sorted(defined)) or "none defined"
    return [
        (path, f"no custom field {key!r} in this tenant (its custom fields: {known})")
        for path, key in unknown_custom_fields(raw, defined)
    ]


def stored_rule(rule: Group) -> dict[str, Any]:
    """The rule as stored on the segment."""
    stored: dict[str, Any] = rule.model_dump(mode="json", exclude_none=True)
    return stored


@dataclass(frozen=True)
class SegmentQueries:
    """The reads of one tenant's segments: definitions, member counts, members, previews."""

    segments: SegmentRepository
    candidates: CandidateRepository

    async def get(self, segment_id: str) -> Segment | None:
        return await self.segments.get(segment_id)

    async def all(self) -> list[Segment]:
        return await self.segments.all()

    async def member_count(self, segment_id: str) -> int:
        return await self.segments.member_count(segment_id)

    async def members(
        self, segment_id: str, *, after: str | None, limit: int
    ) -> tuple[list[Candidate], str | None]:
        """Up to `limit` current members after the id `after`, and the id to resume after (None
        on the last page)."""
        origin = await self.candidates.least_id() if after is None else None
        ids = await self.segments.member_ids(
            segment_id, after=after, limit=limit + 1, origin=origin
        )
        page_ids = ids[:limit]
        found = await self.candidates.get_many(page_ids)
        members = [found[candidate_id] for candidate_id in page_ids if candidate_id in found]
        return members, (page_ids[-1] if len(ids) > limit else None)

    async def of_candidate(self, candidate_id: str) -> list[tuple[Segment, datetime | None]]:
        """The segments the candidate is a member of now, by name, each with when it entered
        (two reads whatever the number of segments)."""
        entered = await self.segments.entries_of(candidate_id)
        return [
            (segment, entered.get(segment.id))
            for segment in await self.segments.named(list(entered))
        ]

    async def preview(self, rule: Group, sample_size: int) -> tuple[int, list[Candidate]]:
        """How many active candidates a (valid) rule matches now, and a sample of them."""
        query = compile_segment_query(rule)
        count = await self.candidates.count_matching(query)
        sample = await self.candidates.sample_matching(query, sample_size)
        return count, sample

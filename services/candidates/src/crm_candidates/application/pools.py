"""Talent pool use cases: adding candidates to pools, moving them between stages, renaming and
deleting stages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from crm_candidates.application.candidates import CandidateWriter
from crm_candidates.domain.models import Candidate
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
from crm_candidates.domain.segments import Group, names_pool_stage, rule_with_pool_stage_renamed
from crm_candidates.publishers import (
    to_pool_saved,
    to_pool_stage_changed,
    to_pool_stage_renamed,
    to_pool_stages_changed,
)
from crm_candidates.repositories.candidates import CandidateRepository
from crm_candidates.repositories.collections import POOLS_COLLECTION
from crm_candidates.repositories.pools import PoolRepository
from crm_candidates.repositories.segments import SegmentRepository
from crm_candidates.repositories.sequence_references import SequenceReferenceRepository
from crm_shared import (
    Database,
    MongoClient,
    Outbox,
    Session,
    StaleVersionError,
    in_transaction,
    utc_now,
)

ResultT = TypeVar("ResultT")


async def announce_pool(
    pools: PoolRepository, outbox: Outbox, pool_id: str, *, session: Session
) -> None:
    """Within the transaction that changed it: `pool.saved` with the pool as stored now."""
    stored = await pools.get(pool_id, session=session)
    if stored is not None:
        await to_pool_saved(outbox, stored, session=session)


@dataclass(frozen=True)
class PoolAdditions:
    """What adding a selection of candidates to a pool did with each of them."""

    added: list[str]
    already_members: list[str]
    unknown: list[str]
    not_active: list[str]


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
    # Which stages campaigns' sequences name: a rename follows there too (absent where no
    # stage is renamed, as for a sequence step's move).
    sequence_references: SequenceReferenceRepository | None = None

    async def add(self, pool: Pool, candidate_id: str, stage: str, *, by: str) -> PoolMembership:
        """Adds a candidate at `stage`; `AlreadyInPoolError` if a member already."""

        async def add(session: Session) -> PoolMembership:
            if await self.pools.membership(pool.id, candidate_id, session=session):
                raise AlreadyInPoolError(pool, candidate_id)
            return await self._set_stage(pool, candidate_id, None, stage, by, session=session)

        return await self._run(add)

    async def add_many(
        self, pool: Pool, candidate_ids: list[str], stage: str, *, by: str
    ) -> PoolAdditions:
        """Adds each candidate at `stage`, leaving what `add` of each in turn leaves, in one
        transaction with bulk writes (a selection of 200 costs a few writes, not 200
        transactions), and says which were added, members already, unknown to the tenant or
        not active."""
        wanted = list(dict.fromkeys(candidate_ids))

        async def add_all(session: Session) -> PoolAdditions:
            outcome = PoolAdditions([], [], [], [])
            members = await self.pools.members_among(pool.id, wanted, session=session)
            inactive: set[str] = set()

            def place(candidate: Candidate) -> Candidate | None:
                if not candidate.is_active:
                    inactive.add(candidate.id)
                    return None
                return candidate.model_copy(
                    update={"pools": placed(candidate.pools, pool.id, stage)}
                )

            joining = [candidate_id for candidate_id in wanted if candidate_id not in members]
            found = await self.writer.change_many_in(joining, place, session=session)
            changes: list[StageChange] = []
            for candidate_id in wanted:
                if candidate_id in members:
                    outcome.already_members.append(candidate_id)
                elif candidate_id not in found:
                    outcome.unknown.append(candidate_id)
                elif candidate_id in inactive:
                    outcome.not_active.append(candidate_id)
                else:
                    outcome.added.append(candidate_id)
                    changes.append(
                        StageChange(
                            tenant_id=pool.tenant_id,
                            pool_id=pool.id,
                            candidate_id=candidate_id,
                            from_stage=None,
                            to_stage=stage,
                            moved_by=by,
                        )
                    )
            await self.pools.put_memberships(
                [
                    PoolMembership(
                        pool_id=pool.id,
                        candidate_id=change.candidate_id,
                        stage=stage,
                        added_by=by,
                        added_at=change.moved_at,
                        moved_at=change.moved_at,
                    )
                    for change in changes
                ],
                session=session,
            )
            await self.pools.record_changes(changes, session=session)
            await to_pool_stages_changed(self.outbox, pool, changes, session=session)
            return outcome

        return await self._run(add_all)

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

        async def drop(session: Session) -> None:
            await self.pools.replace(pool.model_copy(update={"stages": remaining}), session=session)
            await announce_pool(self.pools, self.outbox, pool.id, session=session)

        await self._run(drop)
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
            if self.sequence_references is not None:
                await self.sequence_references.rename_stage(
                    pool.id, stage, renamed, session=session
                )
            await to_pool_stage_renamed(
                self.outbox, pool, stage, renamed, by=by, at=utc_now(), session=session
            )
            await announce_pool(self.pools, self.outbox, pool.id, session=session)

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
                raise CandidateNotActiveError(
                    candidate.id, candidate.status.value, candidate.merged_into
                )
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
class PoolDefinitions:
    """Defines one tenant's talent pools and reads them: pools, counts, members, history.
    Each definition stored stages `pool.saved` in its transaction."""

    mongo: MongoClient
    outbox: Outbox
    pools: PoolRepository
    candidates: CandidateRepository
    segments: SegmentRepository
    sequence_references: SequenceReferenceRepository

    async def create(self, pool: Pool) -> None:
        """Stores a new pool (`DuplicateKeyInTenantError` if the name is taken)."""

        async def store(session: Session) -> None:
            await self.pools.add(pool, session=session)
            await announce_pool(self.pools, self.outbox, pool.id, session=session)

        await in_transaction(self.mongo, store)
        self.outbox.notify_committed()

    async def replace(self, pool: Pool) -> None:
        """Stores a changed pool (`DuplicateKeyInTenantError` if the new name is taken)."""

        async def store(session: Session) -> None:
            await self.pools.replace(pool, session=session)
            await announce_pool(self.pools, self.outbox, pool.id, session=session)

        await in_transaction(self.mongo, store)
        self.outbox.notify_committed()

    async def get(self, pool_id: str) -> Pool | None:
        return await self.pools.get(pool_id)

    async def all(self) -> list[Pool]:
        return await self.pools.all()

    async def stage_counts(self, pool: Pool) -> dict[str, int]:
        """How many members each stage of the pool has."""
        return await self.pools.stage_counts(pool)

    async def members(
        self, pool_id: str, *, stage: str | None, after: str | None, limit: int
    ) -> tuple[list[PoolMembership], dict[str, Candidate], bool]:
        """Up to `limit` members in candidate id order after `after`, optionally of one stage,
        the candidates of those members that still exist (by id), and whether more follow."""
        origin = await self.candidates.least_id() if after is None else None
        found = await self.pools.members(
            pool_id, stage=stage, after=after, limit=limit + 1, origin=origin
        )
        items = found[:limit]
        people = await self.candidates.get_many([member.candidate_id for member in items])
        return items, people, len(found) > limit

    async def history(self, pool_id: str, candidate_id: str) -> list[StageChange]:
        """Every move of the candidate in the pool, oldest first (kept after removal)."""
        return await self.pools.history(pool_id, candidate_id)

    async def membership(self, pool_id: str, candidate_id: str) -> PoolMembership | None:
        return await self.pools.membership(pool_id, candidate_id)

    async def sequences_naming_stage(self, pool_id: str, stage: str) -> list[str]:
        """The names of the live sequences that enrol at the pool's stage or move candidates
        to it (as campaigns announced them), sorted."""
        return await self.sequence_references.live_naming_stage(pool_id, stage)

    async def segments_naming_stage(self, pool_id: str, stage: str) -> list[str]:
        """The names of the segments whose rule names the pool's stage, sorted."""
        return sorted(
            segment.name
            for segment in await self.segments.all()
            if names_pool_stage(Group.model_validate(segment.rule), pool_id, stage)
        )


async def announce_pools(mongo: MongoClient, database: Database, outbox: Outbox) -> None:
    """Stages `pool.saved` for every pool defined before the topic existed, so campaigns knows
    every pool's stages (a migration, once per database). Run again after a stop part-way, it
    announces some pools twice, which a consumer keeping the highest version shrugs off."""
    # Deliberately cross-tenant: a migration over every tenant's pools.
    tenants = await database[POOLS_COLLECTION].distinct("tenant_id")
    for tenant_id in sorted(str(tenant) for tenant in tenants):
        pools = PoolRepository(database, tenant_id)

        async def announce(session: Session, pools: PoolRepository = pools) -> None:
            for pool in await pools.all(session=session):
                await to_pool_saved(outbox, pool, session=session)

        await in_transaction(mongo, announce)
    outbox.notify_committed()

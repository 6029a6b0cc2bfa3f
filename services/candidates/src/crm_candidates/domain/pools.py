"""Talent pools with their own ordered stages, memberships and the history of every move."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from crm_candidates.domain.models import PoolPlacement
from crm_shared import new_id, utc_now


class FormerStage(BaseModel):
    """A name a stage of the pool had until it was renamed."""

    model_config = ConfigDict(frozen=True)

    name: str
    renamed_to: str


class Pool(BaseModel):
    """A talent pool of one tenant: a pipeline of named stages candidates move through."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    description: str | None = None
    stages: list[str]
    owner_ids: list[str]
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    version: int = Field(default=1, description="Counts changes; the pool's ETag.")
    former_stages: list[FormerStage] = Field(default_factory=list)

    @property
    def initial_stage(self) -> str:
        """Where a candidate added without a stage starts."""
        return self.stages[0]


class PoolMembership(BaseModel):
    """A candidate's current place in a pool."""

    model_config = ConfigDict(frozen=True)

    pool_id: str
    candidate_id: str
    stage: str
    added_by: str
    added_at: datetime
    moved_at: datetime


class StageChange(BaseModel):
    """One move of a candidate in a pool: added (`from_stage` null), moved, or removed."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    pool_id: str
    candidate_id: str
    from_stage: str | None
    to_stage: str | None
    moved_by: str
    moved_at: datetime = Field(default_factory=utc_now)


class UnknownStageError(ValueError):
    """The stage is not one of the pool's stages."""

    def __init__(self, pool: Pool, stage: str) -> None:
        super().__init__(
            f"{stage!r} is not a stage of pool {pool.name!r}: {', '.join(pool.stages)}"
        )
        self.stage = stage


def stage_key(stage: str) -> str:
    """A stage's name as stages are told apart: ignoring case and spacing."""
    return " ".join(stage.split()).casefold()


def resolve_stage(pool: Pool, stage: str | None) -> str:
    """The pool's stage named `stage` (matched ignoring case), or its first stage for None."""
    if stage is None:
        return pool.initial_stage
    wanted = stage_key(stage)
    for known in pool.stages:
        if known.casefold() == wanted:
            return known
    raise UnknownStageError(pool, stage)


def resolve_stage_following_renames(pool: Pool, stage: str | None) -> str:
    """The pool's stage named `stage` (its first for None), or, for a name the pool no longer
    has, the stage it was renamed to: a request staged by automation before a rename means the
    same stage."""
    if stage is None:
        return pool.initial_stage
    wanted = stage
    for _ in range(len(pool.former_stages) + 1):
        try:
            return resolve_stage(pool, wanted)
        except UnknownStageError:
            folded = " ".join(wanted.split()).casefold()
            later = [f.renamed_to for f in pool.former_stages if f.name.casefold() == folded]
            if not later:
                break
            wanted = later[-1]
    raise UnknownStageError(pool, stage)


def placed(placements: list[PoolPlacement], pool_id: str, stage: str | None) -> list[PoolPlacement]:
    """A candidate's pool placements with `pool_id` at `stage` (None: out of the pool)."""
    others = [placement for placement in placements if placement.pool_id != pool_id]
    if stage is None:
        return others
    return [*others, PoolPlacement(pool_id=pool_id, stage=stage)]


class CandidateNotFoundError(LookupError):
    """The tenant has no candidate with this id."""

    def __init__(self, candidate_id: str) -> None:
        super().__init__(f"no candidate {candidate_id}")
        self.candidate_id = candidate_id


class CandidateNotActiveError(ValueError):
    """The candidate was merged into another record or archived."""

    def __init__(self, candidate_id: str, status: str, merged_into: str | None = None) -> None:
        kept = f" into {merged_into}: place that record instead" if merged_into else ""
        super().__init__(f"candidate {candidate_id} is {status}{kept}")
        self.candidate_id = candidate_id
        self.merged_into = merged_into


class AlreadyInPoolError(ValueError):
    """The candidate is a member of the pool already."""

    def __init__(self, pool: Pool, candidate_id: str) -> None:
        super().__init__(f"candidate {candidate_id} is in pool {pool.name!r} already")


class NotInPoolError(LookupError):
    """The candidate is not a member of the pool."""

    def __init__(self, pool: Pool, candidate_id: str) -> None:
        super().__init__(f"candidate {candidate_id} is not in pool {pool.name!r}")


class StageDeletionRefused(ValueError):
    """A stage cannot be deleted as asked (the last stage, or members with nowhere to go)."""


def stages_without(pool: Pool, stage: str, move_to: str | None, *, members: int) -> list[str]:
    """The pool's stages once `stage` is deleted, its `members` moving to `move_to`.

    Raises `StageDeletionRefused`: a pool keeps at least one stage, and members of the stage
    need a stage of the pool to go to (not the deleted one).
    """
    if len(pool.stages) == 1:
        raise StageDeletionRefused(f"{stage!r} is the only stage of pool {pool.name!r}")
    if move_to == stage:
        raise StageDeletionRefused(f"members of {stage!r} cannot move to the stage being deleted")
    if members and move_to is None:
        raise StageDeletionRefused(
            f"{members} candidates are at {stage!r}: name the stage they move to (move_to)"
        )
    return [known for known in pool.stages if known != stage]


class StageRenameRefused(ValueError):
    """A stage cannot take the name asked for (another stage of the pool has it)."""


def stages_renamed(pool: Pool, stage: str, new_name: str) -> list[str]:
    """The pool's stages, in order, once `stage` is called `new_name` (spacing tidied).

    Raises `StageRenameRefused` when another stage has the name, ignoring case (a stage may be
    renamed to a different casing of its own name).
    """
    cleaned = " ".join(new_name.split())
    if not cleaned:
        raise StageRenameRefused("a stage needs a name")
    taken = [
        known for known in pool.stages if known != stage and known.casefold() == cleaned.casefold()
    ]
    if taken:
        raise StageRenameRefused(f"pool {pool.name!r} has a stage {taken[0]!r} already")
    return [cleaned if known == stage else known for known in pool.stages]

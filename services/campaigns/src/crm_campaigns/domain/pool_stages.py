"""Following a talent pool stage's rename in what campaigns keeps by the stage's name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The stored shapes that name a pool's stage: a `pool_stage_reached` trigger, a `move_stage`
# step (wherever it sits in a sequence) and a `pool` broadcast audience.
NAMES_A_STAGE = frozenset({"pool_stage_reached", "move_stage", "pool"})


@dataclass(frozen=True)
class KnownPool:
    """A talent pool as the candidates service last announced it (`pool.saved`)."""

    pool_id: str
    name: str
    stages: list[str]


def stage_key(stage: str) -> str:
    """What two spellings of one stage share, as the candidates service matches stages:
    ignoring case and spacing."""
    return " ".join(stage.split()).casefold()


def stage_problems(
    trigger: Any, steps: Iterable[Any], pools: dict[str, KnownPool]
) -> list[tuple[str, str]]:
    """(field, reason) for each stage a sequence's trigger or `move_stage` steps name that its
    pool does not have, among the `pools` campaigns knows (a pool it has not heard of yet is
    not judged: it may be one created a moment ago)."""
    named: list[tuple[str, Any]] = [("trigger", trigger)]
    named.extend((f"steps.{index}", step) for index, step in enumerate(steps))
    problems: list[tuple[str, str]] = []
    for path, node in named:
        pool_id = getattr(node, "pool_id", None)
        pool = pools.get(pool_id) if isinstance(pool_id, str) else None
        reason = stage_problem(pool, getattr(node, "stage", None))
        if reason is not None:
            problems.append((f"{path}.stage", reason))
    return problems


def stage_problem(pool: KnownPool | None, stage: object) -> str | None:
    """Why `stage` is no stage of `pool`, or None if it is one (or there is nothing to judge:
    no stage named, or a pool not heard of yet)."""
    if pool is None or not isinstance(stage, str):
        return None
    if stage_key(stage) in {stage_key(known) for known in pool.stages}:
        return None
    return f"the pool {pool.name!r} has no stage {stage!r} (its stages: {', '.join(pool.stages)})"


@dataclass(frozen=True)
class StageRename:
    """A stage of a pool was called `from_stage` until `renamed_at`, then `to_stage`."""

    from_stage: str
    to_stage: str
    renamed_at: datetime


def with_stage_renamed(node: Any, pool_id: str, stage: str, new_name: str) -> tuple[Any, bool]:
    """`node` (a stored trigger, steps or audience) with every reference to `stage` of the pool
    (matched ignoring case, as the candidates service matches stages) naming `new_name`, and
    whether anything changed."""
    if isinstance(node, dict):
        value = node.get("stage")
        if (
            node.get("type") in NAMES_A_STAGE
            and node.get("pool_id") == pool_id
            and isinstance(value, str)
            and value.casefold() == stage.casefold()
        ):
            return {**node, "stage": new_name}, True
        changed = False
        result: dict[str, Any] = {}
        for key, item in node.items():
            result[key], item_changed = with_stage_renamed(item, pool_id, stage, new_name)
            changed = changed or item_changed
        return result, changed
    if isinstance(node, list):
        items = [with_stage_renamed(item, pool_id, stage, new_name) for item in node]
        return [item for item, _ in items], any(changed for _, changed in items)
    return node, False


def stage_now_called(stage: str, moved_at: datetime, renames: Iterable[StageRename]) -> str:
    """The current name of the stage a move stamped `moved_at` reached under the name `stage`:
    a move made before a rename, delivered after it, follows it (and any later ones)."""
    current = stage
    for rename in sorted(renames, key=lambda r: r.renamed_at):
        if rename.renamed_at > moved_at and rename.from_stage.casefold() == current.casefold():
            current = rename.to_stage
    return current

"""A tenant's merges held in memory: which candidate each merged record's id stands for now,
walked as `crm_shared.MergedIds` walks them in the database (the same steps, the same
bound on chains), for a report that resolves more ids than the tenant has merges."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from crm_shared import MAX_MERGE_CHAIN


class MergeMap:
    """Every merged id of a tenant with the survivor it was folded into (`merged_id` to
    `survivor_id`, one entry per merged id as stored)."""

    def __init__(self, survivor_of: Mapping[str, str]) -> None:
        self._survivor_of = dict(survivor_of)
        self._merged_into: dict[str, list[str]] = {}
        for merged_id, survivor_id in self._survivor_of.items():
            self._merged_into.setdefault(survivor_id, []).append(merged_id)

    def __len__(self) -> int:
        return len(self._survivor_of)

    def survivors_of(self, candidate_ids: Iterable[str]) -> dict[str, str]:
        """For each of the ids that was merged away, the candidate it stands for now (a
        survivor merged away later in turn is followed, up to `MAX_MERGE_CHAIN` steps)."""
        step = self._survivor_of
        found: dict[str, str] = {}
        for origin in candidate_ids:
            now = origin
            for _ in range(MAX_MERGE_CHAIN):
                after = step.get(now)
                if after is None:
                    break
                now = after
            if now != origin:
                found[origin] = now
        return found

    def absorbed_by(self, survivor_ids: Iterable[str]) -> dict[str, str]:
        """Every id merged (directly or through a chain of up to `MAX_MERGE_CHAIN` merges)
        into one of the survivors, with the survivor it stands for now."""
        survivors = set(survivor_ids)
        absorbed: dict[str, str] = {}
        frontier = {survivor_id: survivor_id for survivor_id in survivors}
        for _ in range(MAX_MERGE_CHAIN):
            if not frontier:
                break
            step = {
                merged_id: person
                for into, person in frontier.items()
                for merged_id in self._merged_into.get(into, ())
                if merged_id not in absorbed and merged_id not in survivors
            }
            absorbed |= step
            frontier = step
        return absorbed

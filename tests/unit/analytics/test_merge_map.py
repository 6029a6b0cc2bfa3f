"""A tenant's merges held in memory walk as the repository walks them in the database: merges
of merges followed to the survivor now, the ids merged into a survivor found through chains,
and a chain cut after `MAX_MERGE_CHAIN` steps."""

from __future__ import annotations

from itertools import pairwise

import pytest

from crm_analytics.domain.merge_map import MergeMap
from crm_shared import MAX_MERGE_CHAIN

pytestmark = pytest.mark.unit


def test_survivors_follow_merges_of_merges() -> None:
    merges = MergeMap({"b": "a", "c": "b", "x": "y"})
    assert merges.survivors_of(["a", "b", "c", "x", "z"]) == {"b": "a", "c": "a", "x": "y"}


def test_absorbed_ids_are_found_through_chains_and_never_a_survivor_asked() -> None:
    merges = MergeMap({"b": "a", "c": "b", "d": "a", "x": "y"})
    assert merges.absorbed_by(["a"]) == {"b": "a", "c": "a", "d": "a"}
    # b is asked for itself: it is no one's absorbed record, but c still is (through b).
    assert merges.absorbed_by(["a", "b"]) == {"c": "b", "d": "a"}


def test_a_chain_longer_than_the_bound_is_cut() -> None:
    chain = [f"r{n:02d}" for n in range(MAX_MERGE_CHAIN + 2)]
    merges = MergeMap(dict(pairwise(chain)))
    assert merges.survivors_of([chain[0]]) == {chain[0]: chain[MAX_MERGE_CHAIN]}
    assert chain[0] not in merges.absorbed_by([chain[-1]])
    assert chain[1] in merges.absorbed_by([chain[-1]])

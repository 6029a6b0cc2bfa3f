"""How far behind a consumer group is on one partition."""

from __future__ import annotations

import pytest

from crm_shared.consumer_lag import LagSample, lag_of

pytestmark = pytest.mark.unit


def test_lag_counts_from_the_commit_or_from_the_start_of_what_is_retained() -> None:
    assert lag_of(None, 0, 10) == 10
    assert lag_of(-1, 3, 10) == 7
    assert lag_of(4, 0, 10) == 6
    # Records the commit points at were deleted by retention: only what is left is behind.
    assert lag_of(2, 5, 10) == 5
    assert lag_of(10, 0, 10) == 0


def test_readiness_shows_each_groups_total_and_only_dead_letter_topics_holding_records() -> None:
    sample = LagSample(
        lag={("g1", "t", 0): 2, ("g1", "t", 1): 3, ("g2", "t", 0): 0},
        dead_letters={"t.dlq": 0, "u.dlq": 4},
    )
    assert sample.as_json() == {
        "lag": {"g1": 5, "g2": 0},
        "dead_letters": {"u.dlq": 4},
        "sampled_at": None,
    }

"""The engagement score's decay in closed form: when a published score is due again, the value
then, the floor, and the highest the score has been."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.decay import (
    RepublishPolicy,
    decayed,
    next_republish,
    next_target,
    published_value,
    reaches_at,
)
from crm_analytics.domain.engagement import ActivityKind, Contribution, EngagementModel

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, tzinfo=UTC)
POLICY = RepublishPolicy(step=1.0, ratio=0.1, floor=1.0)
MODEL = EngagementModel(
    weights={
        ActivityKind.MESSAGE_OPENED: 1.0,
        ActivityKind.MESSAGE_CLICKED: 3.0,
        ActivityKind.MESSAGE_REPLIED: 8.0,
        ActivityKind.EVENT_REGISTERED: 5.0,
        ActivityKind.EVENT_CHECKED_IN: 10.0,
    },
    half_life_days=30.0,
    republish=POLICY,
)


def activity(kind: ActivityKind, days_ago: float, reference: str) -> Contribution:
    return Contribution(
        candidate_id="c1",
        kind=kind,
        reference=reference,
        occurred_at=NOW - timedelta(days=days_ago),
        event_id=f"{kind}-{reference}",
    )


HISTORY = [
    activity(ActivityKind.EVENT_CHECKED_IN, 40, "ev1"),
    activity(ActivityKind.MESSAGE_REPLIED, 12, "m1"),
    activity(ActivityKind.MESSAGE_CLICKED, 3, "m2"),
]


def test_the_whole_score_decays_as_one_sum_would() -> None:
    score = MODEL.score(HISTORY, NOW)
    for days in (0.5, 7, 30, 95):
        later = NOW + timedelta(days=days)
        assert decayed(score, NOW, later, 30.0) == pytest.approx(MODEL.score(HISTORY, later))


def test_the_instant_a_score_reaches_a_value_is_exact() -> None:
    score = MODEL.score(HISTORY, NOW)
    when = reaches_at(score, NOW, score / 4, 30.0)
    assert when - NOW == timedelta(days=60)
    odd = reaches_at(score, NOW, 3.3, 30.0)
    assert MODEL.score(HISTORY, odd) == pytest.approx(3.3, abs=1e-6)
    assert MODEL.score(HISTORY, odd) <= 3.3  # rounded up to the millisecond: reached by then
    assert odd.microsecond % 1000 == 0


@pytest.mark.parametrize(
    ("published", "target"),
    [
        (100.0, 90.0),  # 10% is more than one point
        (25.0, 22.5),
        (10.0, 9.0),  # both are one point
        (6.0, 5.0),  # one point is more than 10%
        (1.5, 1.0000495),  # never below the floor (a hair under what rounds to it)
        (1.0, 1.0),  # at the floor: at once, to be published as 0
        (0.4, 0.4),
    ],
)
def test_the_next_value_published_is_one_step_down(published: float, target: float) -> None:
    assert next_target(published, POLICY) == pytest.approx(target, abs=1e-9)


def test_a_zero_score_is_never_published_again() -> None:
    assert next_target(0.0, POLICY) is None
    assert next_republish(0.0, NOW, 30.0, POLICY) is None


def test_the_floor_is_published_as_zero() -> None:
    assert published_value(1.0, POLICY) == 0.0
    assert published_value(0.3, POLICY) == 0.0
    assert published_value(1.0001, POLICY) == 1.0001


def test_the_one_rule_rounds_to_4_decimals_before_the_floor() -> None:
    """A score just above the floor that shows as the floor is 0, wherever it is computed."""
    policy = RepublishPolicy(floor=0.5)
    assert published_value(0.50004, policy) == 0.0
    assert published_value(0.50006, policy) == 0.5001
    assert published_value(0.99994, policy) == 0.9999


def test_by_default_one_open_counts_until_it_has_lost_half_its_weight() -> None:
    """The floor is below the lightest weight: an open is published as its 1 (not as 0, as
    with a floor equal to it) and due again when it reaches the floor, a half-life on."""
    settings = AnalyticsSettings.model_fields
    floor = settings["engagement_republish_floor"].default
    open_weight = settings["engagement_weight_message_opened"].default
    policy = RepublishPolicy(floor=floor)
    assert floor < open_weight
    assert published_value(open_weight, policy) == open_weight
    due = next_republish(open_weight, NOW, 30.0, policy)
    assert due == reaches_at(open_weight, NOW, floor + 0.0000495, 30.0)
    # Then, to 4 decimals, it is the floor: 0 in the explanation and pool health as well.
    assert published_value(decayed(open_weight, NOW, due, 30.0), policy) == 0.0
    assert published_value(decayed(open_weight, NOW, due - timedelta(seconds=10), 30.0), policy)
    assert NOW + timedelta(days=29) < reaches_at(open_weight, NOW, floor, 30.0)
    assert published_value(floor, policy) == 0.0


def test_a_score_at_the_floor_is_due_at_once() -> None:
    assert next_republish(0.8, NOW, 30.0, POLICY) == NOW


def test_republishing_walks_a_score_down_to_zero_in_steps_of_at_least_one() -> None:
    """What the sweep does with no new activity: each republication publishes the score at its
    due instant, which is one step lower, until the floor is published as 0."""
    published, at = 60.0, NOW
    values = [published]
    while (due := next_republish(published, at, 30.0, POLICY)) is not None:
        score = published_value(round(decayed(published, at, due, 30.0), 4), POLICY)
        assert published - score >= min(1.0, published) - 1e-3
        assert due > at or published <= POLICY.floor
        published, at = score, due
        values.append(published)
        assert len(values) < 100
    assert values[-1] == 0.0
    assert values == sorted(values, reverse=True)
    assert 20 < len(values) < 40  # 60 down to 10 by 10%, then points
    # 60 to 1 takes log2(60) half-lives; the zero comes as the floor is reached.
    assert (at - NOW).total_seconds() / 86_400 == pytest.approx(30.0 * 5.907, rel=1e-3)


def test_the_peak_is_the_score_right_after_the_strongest_moment() -> None:
    # 10 at day -40, then 8 at day -12 (the 10 decayed by 28 days), then 3 at day -3.
    at_reply = 10 * 0.5 ** (28 / 30) + 8
    at_click = at_reply * 0.5 ** (9 / 30) + 3
    assert MODEL.peak(HISTORY) == pytest.approx(max(10.0, at_reply, at_click))
    assert MODEL.peak(list(reversed(HISTORY))) == pytest.approx(MODEL.peak(HISTORY))
    assert MODEL.peak([]) == 0.0


def test_a_score_a_little_younger_than_the_published_one_is_0_when_due_at_the_floor() -> None:
    # The sweep recomputes from the events, whose time can trail the instant the score was
    # published by a moment (under load in CI, milliseconds): due exactly where the score
    # rounds to the floor, that score rounded up to 0.5001 and was published as that, not 0.
    policy = RepublishPolicy(step=1.0, ratio=0.1, floor=0.5)
    half_life = 30.0
    due = next_republish(0.6, NOW, half_life, policy)
    assert due is not None
    younger = decayed(0.6, NOW + timedelta(seconds=2), due, half_life)
    assert published_value(younger, policy) == 0.0

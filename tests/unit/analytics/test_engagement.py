"""The engagement score: weights, half-life decay and its explanation by kind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_analytics.config import AnalyticsSettings
from crm_analytics.domain.engagement import ActivityKind, Contribution, EngagementModel

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, tzinfo=UTC)
MODEL = EngagementModel(
    weights={
        ActivityKind.MESSAGE_OPENED: 1.0,
        ActivityKind.MESSAGE_CLICKED: 3.0,
        ActivityKind.MESSAGE_REPLIED: 8.0,
        ActivityKind.EVENT_REGISTERED: 5.0,
        ActivityKind.EVENT_CHECKED_IN: 10.0,
    },
    half_life_days=30.0,
)


def activity(kind: ActivityKind, days_ago: float, reference: str = "m1") -> Contribution:
    return Contribution(
        candidate_id="c1",
        kind=kind,
        reference=reference,
        occurred_at=NOW - timedelta(days=days_ago),
        event_id=f"{kind}-{reference}",
    )


def test_an_activity_counts_fully_when_new_and_half_after_a_half_life() -> None:
    click = activity(ActivityKind.MESSAGE_CLICKED, 0)
    assert MODEL.decayed(click, NOW) == 3.0
    assert MODEL.decayed(click, NOW + timedelta(days=30)) == pytest.approx(1.5)
    assert MODEL.decayed(click, NOW + timedelta(days=90)) == pytest.approx(0.375)


def test_the_score_is_the_sum_of_decayed_contributions_explained_by_kind() -> None:
    activities = [
        activity(ActivityKind.MESSAGE_OPENED, 30, "m1"),
        activity(ActivityKind.MESSAGE_OPENED, 0, "m2"),
        activity(ActivityKind.EVENT_CHECKED_IN, 60, "e1"),
    ]
    assert MODEL.score(activities, NOW) == pytest.approx(0.5 + 1.0 + 2.5)
    assert MODEL.by_kind(activities, NOW) == pytest.approx(
        {"message_opened": 1.5, "event_checked_in": 2.5}
    )
    assert MODEL.score([], NOW) == 0.0


def test_an_activity_reported_from_the_future_never_counts_more_than_its_weight() -> None:
    assert MODEL.decayed(activity(ActivityKind.MESSAGE_REPLIED, -2), NOW) == 8.0


def test_weights_and_half_life_come_from_the_settings() -> None:
    settings = AnalyticsSettings(engagement_half_life_days=7, engagement_weight_message_clicked=4.5)
    model = settings.engagement_model()
    assert model.half_life_days == 7
    assert model.weights[ActivityKind.MESSAGE_CLICKED] == 4.5
    assert set(model.weights) == set(ActivityKind)

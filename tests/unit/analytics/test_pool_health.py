"""Pool health's pure rules: membership folded from moves in any order (renames followed),
application outcomes, people of merged records, and every figure of the report."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from crm_analytics.domain.pool_health import (
    ApplicationChange,
    ApplicationOutcome,
    ApplicationStatus,
    Engagement,
    HealthRules,
    Membership,
    PoolMove,
    StageRename,
    as_people,
    fold_moves,
    fold_outcome,
    health,
    is_late_stage,
    is_silver_medallist,
    renamed,
    score_bucket,
)

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def move(candidate: str, before: str | None, after: str | None, days: float) -> PoolMove:
    return PoolMove("p1", "Backend", candidate, before, after, days_ago(days))


MOVES = [
    move("ada", None, "Sourced", 40),
    move("ada", "Sourced", "Contacted", 20),
    move("ada", "Contacted", None, 10),
    move("ada", None, "Contacted", 5),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_moves_in_any_order_leave_one_membership(order: tuple[int, ...]) -> None:
    start = Membership("p1", "ada")
    folded = fold_moves(start, [MOVES[i] for i in order], [])
    assert folded.stage == "Contacted"
    assert folded.moved_at == days_ago(5)
    assert folded.added == (days_ago(40), days_ago(5))
    assert folded.removed == (days_ago(10),)
    assert fold_moves(folded, MOVES, []) == folded  # a redelivery changes nothing


def test_a_rename_is_followed_whichever_arrives_first() -> None:
    rename = StageRename("p1", "Contacted", "Reached out", days_ago(3))
    before = move("bob", None, "Contacted", 4)
    after = move("cat", None, "Contacted", 1)  # a new stage called Contacted after the rename
    # The move first, then the rename.
    bob = renamed(fold_moves(Membership("p1", "bob"), [before], []), rename)
    # The rename first, then the move made before it.
    bob_late = fold_moves(Membership("p1", "bob"), [before], [rename])
    assert bob.stage == bob_late.stage == "Reached out"
    cat = renamed(fold_moves(Membership("p1", "cat"), [after], [rename]), rename)
    assert cat.stage == "Contacted"


@pytest.mark.parametrize(
    ("stage", "late"),
    [
        ("Hiring Manager Interview", True),
        ("Final interview", True),
        ("On-site interview", True),
        ("Offer", True),
        ("Recruiter Phone Screen", False),
        ("Application Review", False),
        (None, False),
    ],
)
def test_an_interview_or_later_is_a_late_stage(stage: str | None, late: bool) -> None:
    assert is_late_stage(stage) is late


def change(status: ApplicationStatus, days: float, stage: str | None = None) -> ApplicationChange:
    return ApplicationChange("conn", "a1", "ada", None, status, days_ago(days), stage)


def test_the_latest_change_sets_the_status_in_any_order() -> None:
    changes = [
        change(ApplicationStatus.OPEN, 100),
        change(ApplicationStatus.REJECTED, 50, "Final Interview"),
        change(ApplicationStatus.OPEN, 30, "Phone screen"),  # reopened
        change(ApplicationStatus.REJECTED, 20, "Phone screen"),
    ]
    for order in itertools.permutations(changes):
        folded = fold_outcome(ApplicationOutcome("conn", "a1"), list(order))
        assert folded.status is ApplicationStatus.REJECTED
        assert folded.status_at == days_ago(20)
        assert folded.late_rejected_at == days_ago(50)
        assert folded.candidate_id == "ada"


def outcome(**fields: object) -> ApplicationOutcome:
    return ApplicationOutcome("conn", str(fields.pop("id", "a1")), **fields)  # type: ignore[arg-type]


def test_a_silver_medallist_has_no_open_application_and_no_hire_since() -> None:
    rejected = outcome(status=ApplicationStatus.REJECTED, late_rejected_at=days_ago(30))
    assert is_silver_medallist([rejected]) == days_ago(30)
    early = outcome(status=ApplicationStatus.REJECTED, status_at=days_ago(30))
    assert is_silver_medallist([early]) is None  # rejected before any interview
    open_one = outcome(id="a2", status=ApplicationStatus.OPEN)
    assert is_silver_medallist([rejected, open_one]) is None
    prospect = outcome(id="a2", status=ApplicationStatus.OPEN, prospect=True)
    assert is_silver_medallist([rejected, prospect]) == days_ago(30)
    hired_since = outcome(id="a3", status=ApplicationStatus.HIRED, hired_at=days_ago(10))
    assert is_silver_medallist([rejected, hired_since]) is None
    hired_before = outcome(id="a3", status=ApplicationStatus.HIRED, hired_at=days_ago(400))
    assert is_silver_medallist([rejected, hired_before]) == days_ago(30)


def test_a_merged_record_counts_as_its_survivor_once() -> None:
    memberships = [
        Membership("p1", "kept", "Sourced", days_ago(9), (days_ago(9),)),
        Membership("p1", "merged", "Contacted", days_ago(2), (days_ago(60),)),
        Membership("p1", "alone-merged", "Contacted", days_ago(3), (days_ago(3),)),
        Membership("p1", "left", None, days_ago(1), (days_ago(50),), (days_ago(1),)),
    ]
    survivors = {"merged": "kept", "alone-merged": "solo"}
    people = {p.candidate_id: p for p in as_people(memberships, survivors)}
    assert sorted(people) == ["kept", "left", "solo"]
    assert people["kept"].stage == "Sourced"  # the survivor's own membership
    assert people["kept"].added == (days_ago(60), days_ago(9))
    assert people["solo"].stage == "Contacted"
    assert not people["left"].member


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0.0, "0"),
        # A score the one rule leaves is above the floor (0.5): one open decayed a little
        # (0.9999) or by almost a half-life is still published as 1, so it is in `1-9`.
        (0.5001, "1-9"),
        (0.9999, "1-9"),
        (1.0, "1-9"),
        (9.99, "1-9"),
        (10.0, "10-24"),
        (49.9, "25-49"),
        (50.0, "50+"),
    ],
)
def test_score_buckets(score: float, label: str) -> None:
    assert score_bucket(score) == label


def test_every_figure_of_a_pool() -> None:
    memberships = [
        Membership("p1", "a", "Sourced", days_ago(3), (days_ago(3),)),
        Membership("p1", "b", "Sourced", days_ago(20), (days_ago(20),)),
        Membership("p1", "c", "Contacted", days_ago(60), (days_ago(200),)),
        Membership("p1", "d", "Contacted", days_ago(100), (days_ago(100),)),
        Membership("p1", "e", None, days_ago(6), (days_ago(80),), (days_ago(6),)),
    ]
    people = as_people(memberships, {})
    engagement = {
        "a": Engagement(55.0, days_ago(1), 60.0),
        "b": Engagement(12.0, days_ago(45), 30.0),
        "c": Engagement(0.7, days_ago(200), 11.0),
        "e": Engagement(30.0, days_ago(1), 30.0),  # not a member now: not in any figure
    }
    outcomes = {"c": [outcome(status=ApplicationStatus.REJECTED, late_rejected_at=days_ago(9))]}
    found = health(people, engagement, outcomes, NOW, HealthRules(cold_after_days=60))
    assert found.size == 4
    assert found.by_stage == {"Contacted": 2, "Sourced": 2}
    assert [(g.days, g.added, g.removed) for g in found.growth] == [
        (7, 1, 1),
        (30, 2, 1),
        (90, 3, 1),
    ]
    assert found.engagement_buckets == {"0": 1, "1-9": 1, "10-24": 1, "25-49": 0, "50+": 1}
    assert found.engagement_median == pytest.approx((0.7 + 12.0) / 2)
    assert found.freshness_buckets == {"<30d": 1, "30-90d": 1, "90-180d": 0, ">180d": 1, "never": 1}
    assert found.freshness_median_days == 45.0
    # b was engaged but is only 45 days quiet; c reached 11 and is 200 days quiet.
    assert (found.going_cold.count, found.going_cold.candidate_ids) == (1, ["c"])
    assert (found.silver_medallists.count, found.silver_medallists.candidate_ids) == (1, ["c"])
    stricter = health(people, engagement, outcomes, NOW, HealthRules(30, engaged_score=20))
    assert stricter.going_cold.candidate_ids == ["b"]


def test_growth_counts_each_person_by_their_latest_time_up_to_the_report() -> None:
    """A record's times out of order or repeated, and times after the report's moment (a
    report asked for an earlier `as_of`), count as the definition says: someone with an
    addition in the window, up to the report."""
    memberships = [
        # Added 100 and 5 days ago (stored out of order, the latter twice), and tomorrow.
        Membership("p1", "a", "Sourced", days_ago(5), (days_ago(5), days_ago(100), days_ago(5))),
        Membership("p1", "b", "Sourced", days_ago(40), (days_ago(-1), days_ago(40))),
        # Removed 20 days ago and again tomorrow: in the 30- and 90-day windows only.
        Membership("p1", "c", None, days_ago(-1), (days_ago(200),), (days_ago(-1), days_ago(20))),
        Membership("p1", "d", None, days_ago(-1), (days_ago(-1),), (days_ago(-1),)),
    ]
    people = {p.candidate_id: p for p in as_people(memberships, {})}
    assert people["a"].added == (days_ago(100), days_ago(5))
    assert people["c"].removed == (days_ago(20), days_ago(-1))
    found = health(list(people.values()), {}, {}, NOW, HealthRules())
    assert [(g.days, g.added, g.removed) for g in found.growth] == [
        (7, 1, 0),  # a
        (30, 1, 1),  # a; c
        (90, 2, 1),  # a, b; c
    ]

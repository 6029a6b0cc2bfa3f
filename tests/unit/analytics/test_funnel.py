"""The pure rules of funnels and attribution: who counts at a step, conversions, medians,
merges, splits, the interview rule, the time zone's days, and each attribution model."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_analytics.domain.attribution import (
    NO_TOUCH,
    Credited,
    Model,
    Touch,
    TouchKind,
    attribute,
    person_touches,
)
from crm_analytics.domain.funnel import (
    FunnelBy,
    Journey,
    Step,
    funnel,
    funnels,
    funnels_of,
    in_cohort,
    is_interview_stage,
)
from crm_analytics.domain.time_zone import days_in_zone
from crm_analytics.repositories.journeys import journey_of, split_values, step_times_of
from crm_shared import valid_time_zone

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_a_later_step_counts_at_every_earlier_one_and_medians_take_ordered_pairs() -> None:
    people = [
        Journey("a", {Step.SOURCED: at(0), Step.ENGAGED: at(2), Step.RESPONDED: at(4)}),
        # Applied without engaging or responding: still passed them.
        Journey("b", {Step.SOURCED: at(0), Step.APPLIED: at(10)}),
        Journey("c", {Step.SOURCED: at(0), Step.ENGAGED: at(6)}),
        Journey("d", {Step.SOURCED: at(0)}),
        # Engaged before it was sourced (an ATS import of someone mailed before): not timed.
        Journey("e", {Step.SOURCED: at(5), Step.ENGAGED: at(1)}),
    ]
    found = funnel(None, people)
    assert [s.count for s in found.steps] == [5, 4, 2, 1, 0, 0]
    engaged, responded = found.steps[1], found.steps[2]
    assert (engaged.from_previous, engaged.from_first) == (0.8, 0.8)
    assert (engaged.median_hours_from_previous, engaged.timed) == (4.0, 2)
    assert (responded.from_previous, responded.median_hours_from_previous) == (0.5, 2.0)
    assert found.steps[0].from_previous is None
    assert found.steps[5].from_previous is None  # nobody interviewed: no rate


def test_merged_records_combine_as_one_person_sourced_first() -> None:
    survivor = Journey("s", {Step.SOURCED: at(10), Step.APPLIED: at(30)}, source="referral")
    merged = Journey(
        "m",
        {Step.SOURCED: at(0), Step.ENGAGED: at(5), Step.APPLIED: at(20)},
        source="sourced",
        broadcasts=frozenset({"b1"}),
    )
    both = survivor.combined(merged)
    assert both.person_id == "s"
    assert both.times == {Step.SOURCED: at(0), Step.ENGAGED: at(5), Step.APPLIED: at(20)}
    assert both.source == "sourced"  # the record sourced first
    assert both.broadcasts == {"b1"}
    assert in_cohort([both], at(1), at(40)) == []  # first sourced before the period


def test_one_funnel_per_value_sorted_and_those_with_none_last() -> None:
    people = [
        Journey("a", {Step.SOURCED: at(0)}, broadcasts=frozenset({"b2", "b1"})),
        Journey("b", {Step.SOURCED: at(0), Step.HIRED: at(9)}, broadcasts=frozenset({"b1"})),
        Journey("c", {Step.SOURCED: at(0)}),
    ]
    split = funnels(people, FunnelBy.BROADCAST)
    assert [(f.key, f.steps[0].count, f.steps[-1].count) for f in split] == [
        ("b1", 2, 1),
        ("b2", 1, 0),
        (None, 1, 0),
    ]
    assert [f.key for f in funnels(people, FunnelBy.NONE)] == [None]


def test_a_stored_journey_read_as_it_is_counts_as_the_journey_built_from_it() -> None:
    """The funnels take a lone record's step times and split values from its document
    without building a `Journey`: both ways give the same funnels for every split."""
    stored = [
        {
            "candidate_id": "a",
            "source": "referral",
            "sourced_at": at(0),
            "applied_at": at(7.5),
            "hired_at": at(30),
            "pools": ["p2", "p1"],
            "broadcasts": ["b1"],
        },
        {"candidate_id": "b", "source": "sourced", "sourced_at": at(1), "engaged_at": at(3)},
        # Engaged before it was sourced: counted, not timed.
        {"candidate_id": "c", "sourced_at": at(5), "engaged_at": at(2), "events": ["e1"]},
        {"candidate_id": "d", "source": "referral", "sourced_at": at(2), "segments": []},
    ]
    journeys = [journey_of(d) for d in stored]
    for by in FunnelBy:
        lean = funnels_of(((step_times_of(d), split_values(d, by)) for d in stored), by)
        assert lean == funnels(journeys, by), by
    [everyone] = funnels_of(
        ((step_times_of(d), split_values(d, FunnelBy.NONE)) for d in stored), FunnelBy.NONE
    )
    assert [s.count for s in everyone.steps] == [4, 3, 1, 1, 1, 1]
    assert (everyone.steps[1].timed, everyone.steps[1].median_hours_from_previous) == (1, 2.0)
    assert funnels_of([], FunnelBy.POOL) == []
    assert [s.count for s in funnels_of([], FunnelBy.NONE)[0].steps] == [0] * 6


@pytest.mark.parametrize(
    ("stage", "interview"),
    [
        ("Phone Interview", True),
        ("onsite interview", True),
        ("INTERVIEWING", True),
        ("Offer", False),
        ("Application Review", False),
        (None, False),
    ],
)
def test_an_interview_is_a_stage_named_so(stage: str | None, interview: bool) -> None:
    assert is_interview_stage(stage) is interview


def test_a_period_is_its_days_in_the_zone() -> None:
    zone = ZoneInfo("America/New_York")
    start, end = days_in_zone(date(2026, 11, 1), date(2026, 11, 30), zone)
    assert start == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # EDT until November 1, 2am
    assert end == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # EST
    assert valid_time_zone(" Europe/Berlin ") == "Europe/Berlin"
    for bad in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(ValueError, match="IANA"):
            valid_time_zone(bad)


TOUCHES = {
    "p": [
        Touch(at(-200 * 24), TouchKind.SOURCE, "sourced"),  # outside a 90-day lookback
        Touch(at(-48), TouchKind.BROADCAST, "b1"),
        Touch(at(-24), TouchKind.EVENT, "e1"),
        Touch(at(-2), TouchKind.SEQUENCE, "s1"),
        Touch(at(5), TouchKind.BROADCAST, "b2"),  # after the outcome
    ]
}


@pytest.mark.parametrize(
    ("model", "credits"),
    [
        (Model.FIRST, {("broadcast", "b1"): 1.0, ("event", "e1"): 0.0, ("sequence", "s1"): 0.0}),
        (Model.LAST, {("sequence", "s1"): 1.0, ("broadcast", "b1"): 0.0, ("event", "e1"): 0.0}),
        (
            Model.LINEAR,
            {("broadcast", "b1"): 0.3333, ("event", "e1"): 0.3333, ("sequence", "s1"): 0.3333},
        ),
    ],
)
def test_each_model_credits_the_touches_in_the_lookback(
    model: Model, credits: dict[tuple[str, str], float]
) -> None:
    outcomes = [Credited("app-1", "p", at(0)), Credited("app-2", "nobody", at(0))]
    found = attribute(outcomes, TOUCHES, timedelta(days=90), model)
    got = {(c.kind, c.ref): c.credit for c in found.credits}
    assert got == credits | {(NO_TOUCH, NO_TOUCH): 1.0}
    assert (found.outcomes, found.touched) == (2, 1)
    assert {(c.kind, c.ref): c.outcomes for c in found.credits}[("event", "e1")] == 1
    assert found.credits[0].credit == max(c.credit for c in found.credits)


def test_a_sequence_opened_at_two_steps_gets_two_linear_shares() -> None:
    touches = {
        "p": [
            Touch(at(-3), TouchKind.SEQUENCE, "s1"),
            Touch(at(-2), TouchKind.SEQUENCE, "s1"),
            Touch(at(-1), TouchKind.BROADCAST, "b1"),
        ]
    }
    found = attribute([Credited("a", "p", at(0))], touches, timedelta(days=1), Model.LINEAR)
    assert {(c.kind, c.ref): c.credit for c in found.credits} == {
        ("sequence", "s1"): 0.6667,
        ("broadcast", "b1"): 0.3333,
    }


def test_two_records_of_one_person_touch_as_one_record_would() -> None:
    """Merged records: one touch per broadcast, sequence step, event and sign-up, the
    earliest; each record's copy of a shared touch counted again gave 0.4/0.4/0.2."""
    survivor = {
        "source": Touch(at(-100), TouchKind.SOURCE, "referral"),
        "broadcast:b1": Touch(at(-48), TouchKind.BROADCAST, "b1"),
        "event:e1": Touch(at(-24), TouchKind.EVENT, "e1"),
        "sequence:s1:0": Touch(at(-10), TouchKind.SEQUENCE, "s1"),
    }
    merged = {
        "source": Touch(at(-99), TouchKind.SOURCE, "referral"),
        "broadcast:b1": Touch(at(-60), TouchKind.BROADCAST, "b1"),
        "sequence:s1:1": Touch(at(-5), TouchKind.SEQUENCE, "s1"),  # another step: its own
    }
    touches = person_touches([survivor, merged])
    assert touches == [
        Touch(at(-100), TouchKind.SOURCE, "referral"),
        Touch(at(-60), TouchKind.BROADCAST, "b1"),
        Touch(at(-24), TouchKind.EVENT, "e1"),
        Touch(at(-10), TouchKind.SEQUENCE, "s1"),
        Touch(at(-5), TouchKind.SEQUENCE, "s1"),
    ]
    found = attribute([Credited("h", "p", at(0))], {"p": touches}, timedelta(days=90), Model.LINEAR)
    assert {(c.kind, c.ref): c.credit for c in found.credits} == {
        ("sequence", "s1"): 0.4,
        ("source", "referral"): 0.2,
        ("broadcast", "b1"): 0.2,
        ("event", "e1"): 0.2,
    }
    # A record sourced first under another source is the person's one sign-up.
    earlier = {"source": Touch(at(-200), TouchKind.SOURCE, "sourced")}
    [sign_up] = [t for t in person_touches([survivor, earlier]) if t.kind is TouchKind.SOURCE]
    assert sign_up.ref == "sourced"

"""The event report's rules: a registration's state from the announcements folded in any
order or repeated, every figure of a scenario with a known answer, and a person with two
records merged counted once."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from functools import reduce

import pytest

from crm_analytics.domain.event_report import (
    EventChange,
    Milestone,
    Registrant,
    RegistrationState,
    ReportedEvent,
    figures,
    identified,
    one_per_person,
    totals,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
STARTS = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fold(changes: list[Registrant]) -> Registrant:
    """What the stored document says after the changes (as the repository's operators do)."""
    return reduce(lambda a, b: a.merged(b), changes)


def change(**told: object) -> Registrant:
    return Registrant(event_id="e1", registration_id="r1", **told)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("announcements", "state"),
    [
        # waitlisted, then promoted (event.registered later)
        ([change(waitlisted_at=at(1)), change(seated_at=at(5))], RegistrationState.REGISTERED),
        # registered, then cancelled
        ([change(seated_at=at(1)), change(cancelled_at=at(5))], RegistrationState.CANCELLED),
        # cancelled, then registered anew
        (
            [change(seated_at=at(1)), change(cancelled_at=at(5)), change(seated_at=at(9))],
            RegistrationState.REGISTERED,
        ),
        # waitlisted, then cancelled from the waitlist
        ([change(waitlisted_at=at(1)), change(cancelled_at=at(2))], RegistrationState.CANCELLED),
    ],
)
def test_a_registration_lands_in_its_state_whatever_the_order_or_redeliveries(
    announcements: list[Registrant], state: RegistrationState
) -> None:
    for order in itertools.permutations(announcements + announcements[:1]):
        assert fold(list(order)).state is state


def test_the_candidate_told_later_and_a_late_check_in_are_kept() -> None:
    announcements = [
        change(email="ada@example.org", seated_at=at(1)),
        change(candidate_id="c1", no_show=True),
        change(candidate_id="c1", attended=True, checked_in_at=at(30)),
        change(candidate_id="c1", checked_in_at=at(20)),
    ]
    for order in itertools.permutations(announcements):
        folded = fold(list(order))
        assert (folded.candidate_id, folded.email) == ("c1", "ada@example.org")
        assert folded.checked_in_at == at(20)
        assert folded.attended


def test_the_start_told_last_wins_and_completion_keeps_its_first_time() -> None:
    told = [
        EventChange("e1", "Open house", at(1), starts_at=STARTS, starts_told_at=at(1)),
        EventChange(
            "e1",
            "Open house (moved)",
            at(5),
            starts_at=STARTS + timedelta(days=1),
            starts_told_at=at(5),
        ),
        EventChange("e1", "Open house (moved)", at(9), completed_at=at(9)),
        EventChange("e1", "Open house (moved)", at(10), completed_at=at(10)),
    ]
    for order in itertools.permutations(told):
        event = reduce(lambda a, b: a.merged(b), order)
        assert event.starts_at == STARTS + timedelta(days=1)
        assert event.event_name == "Open house (moved)"
        assert event.completed_at == at(9)


def registrant(rid: str, **told: object) -> Registrant:
    return Registrant(event_id="e1", registration_id=rid, **told)  # type: ignore[arg-type]


EVENT = ReportedEvent(
    "e1", "Open house", starts_at=STARTS, completed_at=STARTS + timedelta(hours=3)
)
REGISTRANTS = [
    registrant(
        "r1",
        candidate_id="c1",
        email="a@x.org",
        seated_at=at(1),
        checked_in_at=STARTS,
        attended=True,
    ),
    registrant(
        "r2",
        candidate_id="c2",
        email="b@x.org",
        seated_at=at(2),
        checked_in_at=STARTS,
        attended=True,
    ),
    registrant("r3", candidate_id="c3", email="c@x.org", seated_at=at(3), no_show=True),
    registrant("r4", email="d@x.org", waitlisted_at=at(4)),
    registrant("r5", candidate_id="c5", email="e@x.org", seated_at=at(5), cancelled_at=at(6)),
    registrant(
        "r6",
        candidate_id="c6",
        email="f@x.org",
        seated_at=STARTS,
        walk_in=True,
        checked_in_at=STARTS,
        attended=True,
    ),
]
SOURCES = {"c1": "event", "c2": "sourced", "c3": "event", "c6": "event"}


def test_every_figure_of_a_scenario_with_a_known_answer() -> None:
    applications = [
        Milestone("c1", None, STARTS + timedelta(days=10)),  # in the window
        Milestone(None, "b@x.org", STARTS + timedelta(days=91)),  # after the window
        Milestone("c3", None, STARTS - timedelta(days=1)),  # before the event
        Milestone("c9", "zz@x.org", STARTS + timedelta(days=1)),  # nobody of this event
        Milestone(None, "d@x.org", STARTS + timedelta(days=2)),  # a waitlisted registrant
    ]
    hires = [Milestone("c1", "a@x.org", STARTS + timedelta(days=40))]
    found = figures(EVENT, REGISTRANTS, SOURCES, applications, hires, within_days=90)
    assert (found.registrations, found.registered, found.waitlisted, found.cancelled) == (
        6,
        4,
        1,
        1,
    )
    assert (found.checked_in, found.walk_ins, found.attended, found.no_shows) == (3, 1, 3, 1)
    assert found.no_show_rate == 0.25
    assert found.by_channel == {"online": 5, "walk_in": 1}
    assert found.by_source == {"event": 3, "sourced": 1, "unknown": 2}
    assert (found.applied.count, found.applied.candidate_ids) == (2, ["c1"])
    assert (found.hired.count, found.hired.candidate_ids) == (1, ["c1"])
    wider = figures(EVENT, REGISTRANTS, SOURCES, applications, hires, within_days=120)
    assert (wider.applied.count, wider.applied.candidate_ids) == (3, ["c1", "c2"])


def test_no_show_rate_is_null_before_completion_and_totals_sum() -> None:
    upcoming = ReportedEvent("e2", "Webinar", starts_at=STARTS + timedelta(days=30))
    early = figures(upcoming, [registrant("q1", seated_at=at(1))], {}, [], [], 90)
    assert early.no_show_rate is None
    done = figures(EVENT, REGISTRANTS, SOURCES, [], [], 90)
    summed = totals([done, early])
    assert (summed.registrations, summed.registered, summed.no_shows) == (7, 5, 1)
    assert summed.no_show_rate == 0.25
    assert summed.by_channel == {"online": 6, "walk_in": 1}


def test_an_event_without_a_known_start_has_no_follow_up() -> None:
    unscheduled = ReportedEvent("e3", "Old event")
    found = figures(unscheduled, REGISTRANTS, SOURCES, [Milestone("c1", None, STARTS)], [], 90)
    assert found.applied.count == 0


def test_a_registrant_known_only_by_address_is_named_by_the_candidate_holding_it() -> None:
    registrants = [
        change(email="new@x.org", seated_at=at(1)),  # the registration created the candidate
        Registrant("e1", "r2", candidate_id="c2", email="known@x.org", seated_at=at(2)),
        Registrant("e1", "r3", email="stranger@x.org", seated_at=at(3)),
    ]
    holders = {"new@x.org": "c1", "known@x.org": "c9"}
    named = identified(registrants, holders, {})
    # The registration's own candidate wins over an address another candidate holds.
    assert [r.candidate_id for r in named] == ["c1", "c2", None]
    found = figures(EVENT, named, {"c1": "event", "c2": "sourced"}, [], [], 90)
    assert found.by_source == {"event": 1, "sourced": 1, "unknown": 1}
    before = figures(EVENT, registrants, {"c1": "event", "c2": "sourced"}, [], [], 90)
    assert before.by_source == {"sourced": 1, "unknown": 2}


def test_a_merged_records_registration_is_the_survivors_and_the_person_counts_once() -> None:
    """Zoe registered under two records (c-old waitlisted by address, c-zoe with a seat and
    checked in) that were merged into c-zoe; c-old's application names only its old id."""
    registrants = [
        Registrant("e1", "r-old", email="old@x.org", waitlisted_at=at(1)),
        Registrant("e1", "r-zoe", candidate_id="c-zoe", seated_at=at(2), checked_in_at=STARTS),
        Registrant("e1", "r-ann", candidate_id="c-ann", seated_at=at(3)),
    ]
    holders = {"old@x.org": "c-old"}
    merged = identified(registrants, holders, {"c-old": "c-zoe"})
    assert [r.candidate_id for r in merged] == ["c-zoe", "c-zoe", "c-ann"]
    applied = [Milestone("c-zoe", None, STARTS + timedelta(days=3))]
    sources = {"c-zoe": "sourced", "c-ann": "event", "c-old": "referral"}
    found = figures(EVENT, merged, sources, applied, [], 90)
    assert (found.registrations, found.registered, found.waitlisted, found.checked_in) == (
        2,
        2,
        0,
        1,
    )
    assert found.by_source == {"event": 1, "sourced": 1}
    assert (found.applied.count, found.applied.candidate_ids) == (1, ["c-zoe"])
    # Before the merge (or after its undo): two people, the waitlisted one c-old.
    apart = figures(EVENT, identified(registrants, holders, {}), sources, applied, [], 90)
    assert (apart.registrations, apart.waitlisted, apart.by_source["referral"]) == (3, 1, 1)


def test_a_person_is_their_furthest_registration_whatever_the_order() -> None:
    """Attended over checked in over a seat over the waitlist over cancelled; between equals
    the smallest registration id, so the order they are read in does not matter."""
    regs = [
        Registrant("e1", "r1", candidate_id="c1", cancelled_at=at(1)),
        Registrant("e1", "r2", candidate_id="c1", waitlisted_at=at(2)),
        Registrant("e1", "r3", candidate_id="c1", seated_at=at(3), no_show=True),
        Registrant("e1", "r4", candidate_id="c1", seated_at=at(4), checked_in_at=at(9)),
        Registrant("e1", "r5", candidate_id="c1", seated_at=at(5), attended=True),
        Registrant("e1", "r6", candidate_id="c1", seated_at=at(6), attended=True),
    ]
    for end in range(1, len(regs) + 1):
        for order in itertools.permutations(regs[:end]):
            [lead] = one_per_person(list(order))
            assert lead.registration_id == ("r5" if end == 6 else f"r{end}")
    apart = [Registrant("e1", "r7", email="a@x.org"), Registrant("e1", "r8", email="b@x.org")]
    assert len(one_per_person([*regs, *apart])) == 3

"""An event's sessions (time slots): what can be offered, chosen, edited and who moves up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_events.domain.models import RegistrationStatus, registration_status
from crm_events.domain.sessions import (
    EventSession,
    SessionChoiceInvalid,
    SessionsInvalid,
    check_session_edit,
    check_sessions,
    chosen_session,
    promotion_order,
    with_session_ids,
)

pytestmark = pytest.mark.unit

NINE = datetime(2027, 3, 10, 9, tzinfo=UTC)


def slot(slot_id: str, hour: int, capacity: int = 2, name: str | None = None) -> EventSession:
    return EventSession(
        id=slot_id,
        name=name or slot_id,
        starts_at=NINE.replace(hour=hour),
        ends_at=NINE.replace(hour=hour + 1),
        capacity=capacity,
    )


def test_sessions_without_an_id_get_the_lowest_free_slot_number() -> None:
    named = with_session_ids([{"name": "A"}, {"id": "slot-1", "name": "B"}, {"name": "C"}])
    assert [s["id"] for s in named] == ["slot-2", "slot-1", "slot-3"]


def test_a_stored_time_without_a_zone_is_utc() -> None:
    stored = EventSession(
        id="a", name="A", starts_at=datetime(2027, 3, 10, 9), ends_at=NINE, capacity=1
    )
    assert stored.starts_at == NINE


@pytest.mark.parametrize(
    ("sessions", "ends", "index", "says"),
    [
        ([slot("Morning", 9)], NINE.replace(hour=17), 0, "lower-case"),
        ([slot("a", 9), slot("a", 10)], NINE.replace(hour=17), 1, "used twice"),
        ([slot("a", 8)], NINE.replace(hour=17), 0, "starts before the event"),
        ([slot("a", 17)], NINE.replace(hour=17), 0, "ends after the event"),
        ([slot("a", 9, capacity=101)], NINE.replace(hour=17), 0, "more people"),
        ([slot("a", 9)], None, 0, "needs an end"),
    ],
)
def test_sessions_that_cannot_be_offered_are_refused_by_place(
    sessions: list[EventSession], ends: datetime | None, index: int, says: str
) -> None:
    with pytest.raises(SessionsInvalid) as refused:
        check_sessions(sessions, event_starts=NINE, event_ends=ends, event_capacity=100)
    assert refused.value.index == index
    assert says in refused.value.detail


def test_a_session_ending_before_it_starts_is_refused() -> None:
    backwards = slot("a", 10).model_copy(update={"ends_at": NINE})
    with pytest.raises(SessionsInvalid, match="end after it starts"):
        check_sessions(
            [backwards], event_starts=NINE, event_ends=NINE + timedelta(hours=8), event_capacity=9
        )


def test_a_registrant_must_choose_one_of_the_sessions_not_over() -> None:
    sessions = [slot("morning", 9), slot("afternoon", 14)]
    assert chosen_session(sessions, "afternoon", NINE) == sessions[1]
    assert chosen_session([], None, NINE) is None
    with pytest.raises(SessionChoiceInvalid, match="'morning', 'afternoon'"):
        chosen_session(sessions, None, NINE)
    with pytest.raises(SessionChoiceInvalid, match="no session 'evening'"):
        chosen_session(sessions, "evening", NINE)
    with pytest.raises(SessionChoiceInvalid, match="is over"):
        chosen_session(sessions, "morning", NINE.replace(hour=12))
    with pytest.raises(SessionChoiceInvalid, match="no sessions"):
        chosen_session([], "morning", NINE)


def test_a_full_session_waitlists_even_when_the_event_has_seats() -> None:
    morning = slot("morning", 9, capacity=2)
    assert registration_status(10, 3, morning, 1) is RegistrationStatus.REGISTERED
    assert registration_status(10, 3, morning, 2) is RegistrationStatus.WAITLISTED
    assert registration_status(3, 3, morning, 0) is RegistrationStatus.WAITLISTED


def test_the_longest_waiting_whose_session_has_a_seat_moves_up() -> None:
    sessions = [slot("morning", 9, capacity=1), slot("afternoon", 14, capacity=2)]
    waiting = [("w1", "morning"), ("w2", "afternoon"), ("w3", "afternoon"), ("w4", "afternoon")]
    # The morning is full: w1 waits on; the afternoon has one seat free: w2 gets it.
    assert promotion_order(
        capacity=10, sessions=sessions, seated={"morning": 1, "afternoon": 1}, waitlisted=waiting
    ) == ["w2"]
    # The event's own capacity bounds all sessions together.
    assert promotion_order(
        capacity=2, sessions=sessions, seated={"morning": 0, "afternoon": 1}, waitlisted=waiting
    ) == ["w1"]
    assert promotion_order(capacity=3, sessions=[], seated={None: 1}, waitlisted=waiting) == [
        "w1",
        "w2",
    ]


def test_a_session_people_registered_for_cannot_go_or_shrink_below_its_seats() -> None:
    before = [slot("morning", 9, capacity=3), slot("afternoon", 14)]
    assert check_session_edit(before, before[:1], {"morning": 2}, {"morning": 3}) is None
    gone = check_session_edit(before, before[:1], {}, {"afternoon": 1})
    assert gone is not None
    assert "cannot be removed" in gone
    smaller = [slot("morning", 9, capacity=1), before[1]]
    shrunk = check_session_edit(before, smaller, {"morning": 2}, {"morning": 2})
    assert shrunk is not None
    assert "capacity cannot go below" in shrunk
    # Filled beyond its seats at the door, a session keeps its capacity in other edits.
    renamed = [slot("morning", 9, capacity=3, name="Früh"), before[1]]
    assert check_session_edit(before, renamed, {"morning": 5}, {"morning": 5}) is None
    split = check_session_edit([], before, {None: 4}, {None: 5})
    assert split is not None
    assert "cannot be split" in split

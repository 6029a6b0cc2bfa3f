"""The rules of an offline door's upload: which door times are kept, and what each check-in
did."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_events.domain.models import (
    DoorCheckInOutcome,
    EventKind,
    RecruitingEvent,
    Registration,
    RegistrationStatus,
    door_outcome,
    door_time_refusal,
    normalise_door_code,
)

pytestmark = pytest.mark.unit

# 09:00 in Berlin (summer time): the event's day began at 22:00 UTC the evening before.
STARTS = datetime(2031, 6, 14, 7, tzinfo=UTC)
EVENT = RecruitingEvent(
    tenant_id="t1",
    name="Career fair",
    kind=EventKind.CAREER_FAIR,
    starts_at=STARTS,
    time_zone="Europe/Berlin",
    capacity=10,
    created_by="u1",
)
NOW = STARTS + timedelta(hours=5)


def test_a_door_time_from_the_events_day_up_to_a_little_ahead_of_now_is_kept() -> None:
    assert door_time_refusal(EVENT, datetime(2031, 6, 13, 22, tzinfo=UTC), NOW) is None
    assert door_time_refusal(EVENT, NOW + timedelta(minutes=4), NOW) is None
    early = door_time_refusal(EVENT, datetime(2031, 6, 13, 21, 59, tzinfo=UTC), NOW)
    assert early is not None
    assert "before the event's day (2031-06-14)" in early
    ahead = door_time_refusal(EVENT, NOW + timedelta(minutes=6), NOW)
    assert ahead is not None
    assert "in the future" in ahead


def _registration(status: RegistrationStatus, checked_in: bool = False) -> Registration:
    return Registration(
        tenant_id="t1",
        event_id=EVENT.id,
        email="a@example.org",
        first_name="A",
        last_name="B",
        status=status,
        checked_in_at=NOW if checked_in else None,
    )


@pytest.mark.parametrize(
    ("registration", "outcome"),
    [
        (_registration(RegistrationStatus.REGISTERED), DoorCheckInOutcome.CHECKED_IN),
        (_registration(RegistrationStatus.REGISTERED, True), DoorCheckInOutcome.ALREADY_CHECKED_IN),
        (_registration(RegistrationStatus.WAITLISTED), DoorCheckInOutcome.WAITLISTED),
        (_registration(RegistrationStatus.CANCELLED), DoorCheckInOutcome.REGISTRATION_CANCELLED),
    ],
)
def test_each_check_in_says_what_it_did(
    registration: Registration, outcome: DoorCheckInOutcome
) -> None:
    assert door_outcome(registration) is outcome


def test_a_typed_code_is_compared_as_drawn() -> None:
    assert normalise_door_code(" abcd 2345\n") == "ABCD2345"
    # Typed as read out, with a dash between the halves, as the live search takes it.
    assert normalise_door_code("hn3n-dcrj") == "HN3NDCRJ"
    assert normalise_door_code("HN3N \u2013 DCRJ") == "HN3NDCRJ"

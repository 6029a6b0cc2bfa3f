"""An event's format, time zone, registration window and status as pure rules: wall-clock
times across a DST change, the place each format needs, and why a registration is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crm_events.domain.models import (
    DOOR_CODE_ALPHABET,
    DOOR_CODE_LENGTH,
    EventChangeRefused,
    EventDetailsInvalid,
    EventFormat,
    EventKind,
    EventStatus,
    RecruitingEvent,
    Registration,
    RegistrationRefusal,
    RegistrationStatus,
    check_event_details,
    new_door_code,
    next_status,
    refusal_detail,
    registration_refusal,
    time_zone,
    times_in_utc,
    to_utc,
)

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def event(**fields: Any) -> RecruitingEvent:
    return RecruitingEvent.model_validate(
        {
            "tenant_id": "acme",
            "name": "Night hackathon",
            "kind": EventKind.MEETUP,
            "starts_at": NOW + timedelta(days=10),
            "capacity": 10,
            "created_by": "user-1",
        }
        | fields
    )


def test_a_wall_clock_time_becomes_utc_with_the_offset_of_its_own_date() -> None:
    # Europe/Berlin moves from +01:00 to +02:00 at 02:00 on 28 March 2027.
    fields = times_in_utc(
        {"starts_at": datetime(2027, 3, 27, 22, 0), "ends_at": datetime(2027, 3, 28, 10, 0)},
        BERLIN,
    )
    assert fields["starts_at"] == datetime(2027, 3, 27, 21, 0, tzinfo=UTC)
    assert fields["ends_at"] == datetime(2027, 3, 28, 8, 0, tzinfo=UTC)
    hackathon = event(time_zone="Europe/Berlin", **fields)
    starts, ends = hackathon.local(hackathon.starts_at), hackathon.local(hackathon.ends_at)
    assert starts is not None
    assert ends is not None
    assert (starts.isoformat(), ends.isoformat()) == (
        "2027-03-27T22:00:00+01:00",
        "2027-03-28T10:00:00+02:00",
    )
    # Twelve hours on the wall clock, eleven in fact.
    assert fields["ends_at"] - fields["starts_at"] == timedelta(hours=11)


def test_an_instant_with_an_offset_is_kept_and_a_skipped_time_is_refused() -> None:
    aware = datetime(2027, 3, 28, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert to_utc("starts_at", aware, BERLIN) == datetime(2027, 3, 28, 13, 0, tzinfo=UTC)
    with pytest.raises(EventDetailsInvalid, match="does not exist in Europe/Berlin"):
        to_utc("starts_at", datetime(2027, 3, 28, 2, 30), BERLIN)
    # 02:30 on 31 October 2027 happens twice: the first (summer time) is meant.
    assert to_utc("starts_at", datetime(2027, 10, 31, 2, 30), BERLIN) == datetime(
        2027, 10, 31, 0, 30, tzinfo=UTC
    )
    with pytest.raises(EventDetailsInvalid) as unknown:
        time_zone("Mars/Olympus")
    assert unknown.value.field == "time_zone"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"format": EventFormat.VIRTUAL}, "join_url"),
        (
            {"format": EventFormat.VIRTUAL, "join_url": "https://meet.example/x", "location": "HQ"},
            "location",
        ),
        ({"format": EventFormat.HYBRID, "join_url": "https://meet.example/x"}, "location"),
        ({"format": EventFormat.HYBRID, "location": "HQ"}, "join_url"),
        ({"join_url": "https://meet.example/x"}, "join_url"),
        ({"ends_at": NOW + timedelta(days=9)}, "ends_at"),
        (
            {
                "registration_opens_at": NOW + timedelta(days=2),
                "registration_closes_at": NOW + timedelta(days=1),
            },
            "registration_closes_at",
        ),
        ({"registration_closes_at": NOW + timedelta(days=11)}, "registration_closes_at"),
        ({"time_zone": "Nowhere/Special"}, "time_zone"),
    ],
)
def test_fields_that_do_not_fit_together_are_refused_by_name(
    fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(EventDetailsInvalid) as refused:
        check_event_details(event(**fields))
    assert refused.value.field == field


def test_every_field_that_does_not_fit_is_named_at_once() -> None:
    """A form is fixed in one round: the zone, the end and the place together, not one per
    try; what is checked against the end waits for an end after the start."""
    with pytest.raises(EventDetailsInvalid) as refused:
        check_event_details(
            event(
                time_zone="Mars/Base",
                ends_at=NOW + timedelta(days=9),
                registration_closes_at=NOW + timedelta(days=12),
                format=EventFormat.VIRTUAL,
            )
        )
    assert refused.value.faults == (
        ("join_url", "a virtual event needs a join URL"),
        ("time_zone", "'Mars/Base' is not an IANA time zone"),
        ("ends_at", "the event must end after it starts"),
    )
    assert refused.value.field == "join_url"


def test_each_format_with_its_place_is_accepted_and_a_venue_may_come_later() -> None:
    check_event_details(event())  # in person, venue to be announced
    check_event_details(event(location="Acme HQ"))
    check_event_details(event(format=EventFormat.VIRTUAL, join_url="https://meet.example/x"))
    check_event_details(
        event(format=EventFormat.HYBRID, location="HQ", join_url="https://meet.example/x")
    )


def test_a_registration_is_refused_with_the_reason_that_applies() -> None:
    assert registration_refusal(event(), NOW) is None
    assert registration_refusal(event(status=EventStatus.DRAFT), NOW) is RegistrationRefusal.DRAFT
    assert (
        registration_refusal(event(status=EventStatus.CANCELLED), NOW)
        is RegistrationRefusal.CANCELLED
    )
    assert (
        registration_refusal(event(status=EventStatus.COMPLETED), NOW)
        is RegistrationRefusal.COMPLETED
    )
    assert registration_refusal(event(starts_at=NOW), NOW) is RegistrationRefusal.PAST
    # A webinar under way can still be joined until it ends.
    running = event(starts_at=NOW - timedelta(minutes=5), ends_at=NOW + timedelta(hours=1))
    assert registration_refusal(running, NOW) is None
    later = event(registration_opens_at=NOW + timedelta(days=1), time_zone="Europe/Berlin")
    assert registration_refusal(later, NOW) is RegistrationRefusal.NOT_YET_OPEN
    assert "opens at 2027-03-02T13:00:00+01:00" in refusal_detail(
        later, RegistrationRefusal.NOT_YET_OPEN
    )
    closed = event(registration_closes_at=NOW)
    assert registration_refusal(closed, NOW) is RegistrationRefusal.CLOSED


def test_a_draft_is_published_and_a_started_event_completed_nothing_else() -> None:
    assert next_status(event(status=EventStatus.DRAFT), EventStatus.PUBLISHED, NOW) is (
        EventStatus.PUBLISHED
    )
    with pytest.raises(EventChangeRefused):
        next_status(event(), EventStatus.PUBLISHED, NOW)
    with pytest.raises(EventChangeRefused, match="once it has started"):
        next_status(event(), EventStatus.COMPLETED, NOW)
    started = event(starts_at=NOW - timedelta(hours=1))
    assert next_status(started, EventStatus.COMPLETED, NOW) is EventStatus.COMPLETED
    with pytest.raises(EventChangeRefused):
        next_status(event(status=EventStatus.CANCELLED), EventStatus.PUBLISHED, NOW)


def test_door_codes_are_random_readable_and_do_not_follow_each_other() -> None:
    codes = [new_door_code() for _ in range(2000)]
    assert all(len(code) == DOOR_CODE_LENGTH for code in codes)
    assert all(set(code) <= set(DOOR_CODE_ALPHABET) for code in codes)
    assert not set("01IO") & set(DOOR_CODE_ALPHABET)
    assert len(set(codes)) == len(codes)
    # Registrations made in one second get codes with nothing in common (the code had been
    # the start of the id, which is its creation time).
    first = Registration(
        tenant_id="t",
        event_id="e",
        email="a@x.org",
        first_name="A",
        last_name="B",
        status=RegistrationStatus.REGISTERED,
    )
    # A registration read back keeps its stored code; a new one draws its own.
    assert Registration(**first.model_dump()).code == first.code
    assert Registration(**first.model_dump(exclude={"code", "id"})).code != first.code

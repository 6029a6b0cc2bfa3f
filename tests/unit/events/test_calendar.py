"""A registration's `.ics` invitation, parsed back with `icalendar`: the event's own time zone
across a DST change, one UID for every copy, SEQUENCE growing with edits, and cancelling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Component

from crm_events.adapters.calendar import invitation
from crm_events.domain.models import (
    EventFormat,
    EventKind,
    EventStatus,
    RecruitingEvent,
    Registration,
    RegistrationStatus,
)

pytestmark = pytest.mark.unit

BERLIN = ZoneInfo("Europe/Berlin")


def hackathon(**changes: object) -> RecruitingEvent:
    event = RecruitingEvent(
        id="event-1",
        tenant_id="acme",
        name="Night hackathon",
        kind=EventKind.MEETUP,
        format=EventFormat.HYBRID,
        location="Berlin, Alexanderplatz 1",
        join_url="https://meet.example.org/hack",
        time_zone="Europe/Berlin",
        starts_at=datetime(2027, 3, 27, 21, 0, tzinfo=UTC),
        ends_at=datetime(2027, 3, 28, 8, 0, tzinfo=UTC),
        capacity=20,
        created_by="user-1",
        created_at=datetime(2027, 1, 5, 9, 0, tzinfo=UTC),
    )
    return event.model_copy(update=changes)


def ada(**changes: object) -> Registration:
    registration = Registration(
        id="reg-1",
        tenant_id="acme",
        event_id="event-1",
        email="ada@example.org",
        first_name="Ada",
        last_name="Lovelace",
        status=RegistrationStatus.REGISTERED,
        registered_at=datetime(2027, 2, 1, 9, 0, tzinfo=UTC),
    )
    return registration.model_copy(update=changes)


def parsed(ics: bytes) -> tuple[Calendar, Component]:
    calendar = Calendar.from_ical(ics)
    [entry] = calendar.walk("VEVENT")
    return calendar, entry


def when(entry: Component, name: str) -> datetime:
    """A date-time property of `entry`, as the parser gives it back."""
    value = entry.decoded(name)
    assert isinstance(value, datetime)
    return value


def test_the_invitation_keeps_the_wall_clock_times_on_both_sides_of_the_dst_change() -> None:
    ics = invitation(
        hackathon(), ada(), page_url="https://crm.example/console/public/registrations/x"
    )
    calendar, entry = parsed(ics)
    assert str(calendar["method"]) == "REQUEST"
    starts, ends = when(entry, "dtstart"), when(entry, "dtend")
    assert isinstance(starts.tzinfo, ZoneInfo)
    assert (starts.tzinfo.key, starts.replace(tzinfo=None)) == (
        "Europe/Berlin",
        datetime(2027, 3, 27, 22, 0),
    )
    assert (starts.utcoffset(), ends.utcoffset()) == (timedelta(hours=1), timedelta(hours=2))
    assert ends.astimezone(UTC) == datetime(2027, 3, 28, 8, 0, tzinfo=UTC)
    assert [tz["tzid"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert str(entry["uid"]) == "reg-1.event-1@events.recruitcrm"
    assert (entry["sequence"], str(entry["status"])) == (1, "CONFIRMED")
    assert str(entry["location"]) == "Berlin, Alexanderplatz 1"
    assert "https://meet.example.org/hack" in str(entry["description"])
    assert str(entry["attendee"]) == "mailto:ada@example.org"
    # The same copy fetched twice is the same bytes (DTSTAMP is the last change, not now).
    assert (
        invitation(
            hackathon(), ada(), page_url="https://crm.example/console/public/registrations/x"
        )
        == ics
    )


def test_an_edit_raises_the_sequence_and_a_cancellation_cancels_the_same_uid() -> None:
    edited = hackathon(version=3, updated_at=datetime(2027, 2, 2, 9, 0, tzinfo=UTC))
    _, entry = parsed(invitation(edited, ada()))
    assert entry["sequence"] == 3

    cancelled_event = edited.model_copy(
        update={
            "version": 4,
            "status": EventStatus.CANCELLED,
            "cancelled_at": datetime(2027, 2, 3, 9, 0, tzinfo=UTC),
            "cancellation_reason": "Venue flooded",
        }
    )
    calendar, entry = parsed(invitation(cancelled_event, ada()))
    assert (str(calendar["method"]), str(entry["status"])) == ("CANCEL", "CANCELLED")
    assert (str(entry["uid"]), entry["sequence"]) == ("reg-1.event-1@events.recruitcrm", 4)
    assert "Venue flooded" in str(entry["description"])

    gone = ada(status=RegistrationStatus.CANCELLED, cancelled_at=datetime(2027, 2, 4, tzinfo=UTC))
    calendar, entry = parsed(invitation(edited, gone))
    assert (str(calendar["method"]), entry["sequence"]) == ("CANCEL", 4)


def test_a_waitlisted_registrant_gets_a_tentative_entry() -> None:
    _, entry = parsed(invitation(hackathon(), ada(status=RegistrationStatus.WAITLISTED)))
    assert str(entry["status"]) == "TENTATIVE"
    assert str(entry["summary"]) == "Night hackathon (waitlist)"

"""A registration's calendar invitation as iCalendar (RFC 5545 / 5546), made with `icalendar`.

One VEVENT per registration with a UID that never changes, so every later copy (an edit, a
cancellation) updates the same entry in the registrant's calendar; SEQUENCE follows the
event's version, so the newer copy wins.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText

from crm_events.domain.models import (
    EventStatus,
    RecruitingEvent,
    Registration,
    RegistrationStatus,
    as_attended,
    as_utc,
)

PRODUCT_ID = "-//Recruit CRM//Events//EN"
UID_DOMAIN = "events.recruitcrm"
# An event without an end shows as this long in a calendar (nothing says otherwise).
DEFAULT_DURATION = timedelta(hours=1)
MEDIA_TYPE = "text/calendar"


def invitation_uid(registration: Registration) -> str:
    """The UID of a registration's invitation: the same for every copy of it."""
    return f"{registration.id}.{registration.event_id}@{UID_DOMAIN}"


def invitation_sequence(event: RecruitingEvent, registration: Registration) -> int:
    """The event's version (it grows with every edit and with its cancellation), one more once
    the registration itself is cancelled: always higher than the copy it replaces."""
    cancelled = registration.status is RegistrationStatus.CANCELLED
    return event.version + (1 if cancelled else 0)


def is_cancellation(event: RecruitingEvent, registration: Registration) -> bool:
    """Whether the invitation takes the entry out of calendars: the event or the registration
    was cancelled."""
    return (
        event.status is EventStatus.CANCELLED or registration.status is RegistrationStatus.CANCELLED
    )


def invitation(
    event: RecruitingEvent, registration: Registration, *, page_url: str | None = None
) -> bytes:
    """The `.ics` of `registration`: METHOD:REQUEST, or METHOD:CANCEL with STATUS:CANCELLED
    once the event or the registration is cancelled. Times carry the event's time zone (with
    its VTIMEZONE), so calendars show them right on both sides of a DST change. A registrant
    of a session gets the session's time, and its name after the event's."""
    session = event.session(registration.session_id)
    event = as_attended(event, registration)
    starts = event.local(event.starts_at)
    assert starts is not None
    ends = event.local(event.ends_at) or starts + DEFAULT_DURATION
    cancelled = is_cancellation(event, registration)

    entry = Event()
    entry.add("uid", invitation_uid(registration))
    entry.add("sequence", invitation_sequence(event, registration))
    entry.add("dtstamp", as_utc(_stamp(event, registration)))
    entry.add("dtstart", starts)
    entry.add("dtend", ends)
    waitlisted = registration.status is RegistrationStatus.WAITLISTED
    summary = f"{event.name}: {session.name}" if session else event.name
    entry.add("summary", f"{summary} (waitlist)" if waitlisted else summary)
    if event.location or event.join_url:
        entry.add("location", event.location or event.join_url)
    if event.join_url:
        entry.add("url", event.join_url)
    entry.add("description", _description(event, registration, page_url))
    if cancelled:
        entry.add("status", "CANCELLED")
    else:
        entry.add("status", "TENTATIVE" if waitlisted else "CONFIRMED")
    attendee = vCalAddress(f"mailto:{registration.email}")
    attendee.params["cn"] = vText(f"{registration.first_name} {registration.last_name}")
    attendee.params["partstat"] = vText("DECLINED" if cancelled else "ACCEPTED")
    entry.add("attendee", attendee)

    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "CANCEL" if cancelled else "REQUEST")
    calendar.add_component(entry)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())


def _stamp(event: RecruitingEvent, registration: Registration) -> datetime:
    """When this copy was made: the latest change of the event or the registration (the same
    copy fetched twice is byte for byte the same)."""
    changes = [
        event.created_at,
        event.updated_at,
        event.cancelled_at,
        registration.registered_at,
        registration.promoted_at,
        registration.cancelled_at,
    ]
    return max(as_utc(at) for at in changes if at is not None)


def _description(event: RecruitingEvent, registration: Registration, page_url: str | None) -> str:
    lines: list[str] = []
    if event.status is EventStatus.CANCELLED:
        reason = f": {event.cancellation_reason}" if event.cancellation_reason else ""
        lines.append(f"This event was cancelled{reason}.")
    elif registration.status is RegistrationStatus.CANCELLED:
        lines.append("Your registration was cancelled.")
    elif registration.status is RegistrationStatus.WAITLISTED:
        lines.append("You are on the waitlist; you will be told if a seat comes free.")
    if event.join_url:
        lines.append(f"Join: {event.join_url}")
    if page_url and registration.status is not RegistrationStatus.CANCELLED:
        lines.append(f"Your registration (or to cancel it): {page_url}")
    return "\n".join(lines) or event.name

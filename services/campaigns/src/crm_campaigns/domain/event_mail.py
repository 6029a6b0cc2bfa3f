"""Mails to an event's registrants: the confirmation of a registration (with the QR code of
their door code), the notice that their event moved or was cancelled, each with the event's
calendar invitation attached (`text/calendar`, the same UID in every copy, so calendars update
the entry they have), and the notice that they are on the waitlist (no invitation: no seat).
A change notice to someone still on the waitlist says so and carries no invitation either: they
never got one, so it would be the first entry in their calendar, for a seat they do not have."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from crm_campaigns.domain.mail import set_header
from crm_shared import (
    EventInvitationChanged,
    EventRegistered,
    EventReminderRequested,
    EventTimeAndPlace,
    EventWaitlisted,
    utc_now,
)


class EventMailKind(StrEnum):
    CONFIRMATION = "confirmation"
    UPDATE = "update"
    CANCELLATION = "cancellation"
    REMINDER = "reminder"
    WAITLISTED = "waitlisted"


class EventMailStatus(StrEnum):
    SENT = "sent"
    # Not sent: the person or address may get no mail at all (erased, bounced, suppressed).
    SUPPRESSED = "suppressed"
    # The mail server refused it or could not be reached; retried, then dead-lettered.
    FAILED = "failed"


class EventMail(BaseModel):
    """What was done with one mail to a registrant: kept by address digest, never the address."""

    model_config = ConfigDict(frozen=True)

    id: str
    tenant_id: str
    event_id: str
    registration_id: str
    candidate_id: str | None = None
    email_sha256: str
    kind: EventMailKind
    status: EventMailStatus
    reason: str | None = Field(default=None, description="Why it was suppressed, or the error.")
    attempts: int = 0
    sequence: int | None = Field(default=None, description="The invitation's SEQUENCE.")
    recorded_at: datetime = Field(default_factory=utc_now)


@dataclass(frozen=True)
class RegistrantMail:
    """One mail to a registrant, before it is written: what it is and what it says."""

    kind: EventMailKind
    email: str
    first_name: str
    event_id: str
    event_name: str
    registration_id: str
    candidate_id: str | None
    starts_at: datetime | None
    time_zone: str | None
    location: str | None
    join_url: str | None
    # The registrant's own page (the JSON link in events announced before pages existed).
    manage_url: str | None
    # None: no calendar entry (the waitlisted have no seat).
    invitation_ics: str | None
    sequence: int | None = None
    cancellation_reason: str | None = None
    minutes_before: int | None = None
    # The door code and the URL its QR code holds (confirmations only).
    code: str | None = None
    check_in_url: str | None = None
    # The session (time slot) of an event with sessions; `starts_at` is the session's start.
    session_name: str | None = None
    # A confirmation of a seat that came free to someone on the waitlist.
    promoted: bool = False
    # Change notices: the new end, which fields changed, and the time and place before.
    ends_at: datetime | None = None
    changed_fields: tuple[str, ...] = ()
    previous: EventTimeAndPlace | None = None
    # A change notice to someone who holds a place on the waitlist, not a seat.
    waitlisted: bool = False

    @classmethod
    def confirming(cls, registered: EventRegistered) -> RegistrantMail | None:
        """The confirmation of a registration; None when none is due (registered at the door,
        or announced before registrations carried their invitation)."""
        if registered.walk_in or registered.invitation_ics is None:
            return None
        return cls(
            kind=EventMailKind.CONFIRMATION,
            **_registrant_fields(registered),
            join_url=registered.join_url,
            manage_url=registered.manage_page_url or registered.manage_url,
            invitation_ics=registered.invitation_ics,
            code=registered.code,
            check_in_url=registered.check_in_url,
            promoted=registered.promoted,
        )

    @classmethod
    def waitlisting(cls, waitlisted: EventWaitlisted) -> RegistrantMail:
        """The notice that a registrant is on the waitlist: their place is not confirmed."""
        return cls(
            kind=EventMailKind.WAITLISTED,
            **_registrant_fields(waitlisted),
            join_url=None,
            manage_url=waitlisted.manage_page_url or waitlisted.manage_url,
            invitation_ics=None,
        )

    @classmethod
    def telling(cls, changed: EventInvitationChanged) -> RegistrantMail | None:
        """The notice that a registrant's event moved or was cancelled; None when the organiser
        chose not to tell registrants of the edit. The waitlisted get no invitation (and no
        join URL, which is for those with a seat), as when they joined the waitlist."""
        if not changed.notify_registrant:
            return None
        cancelled = changed.change == "cancelled"
        seated = not changed.waitlisted
        return cls(
            kind=EventMailKind.CANCELLATION if cancelled else EventMailKind.UPDATE,
            **_registrant_fields(changed),
            join_url=changed.join_url if seated else None,
            manage_url=None if cancelled else (changed.manage_page_url or changed.manage_url),
            invitation_ics=changed.invitation_ics if seated else None,
            sequence=changed.sequence if seated else None,
            cancellation_reason=changed.cancellation_reason,
            ends_at=changed.ends_at,
            changed_fields=tuple(changed.changed_fields),
            previous=changed.previous,
            waitlisted=changed.waitlisted,
        )

    @classmethod
    def reminding(cls, reminder: EventReminderRequested) -> RegistrantMail:
        """A reminder before the event, with the invitation as it is now."""
        return cls(
            kind=EventMailKind.REMINDER,
            **_registrant_fields(reminder),
            join_url=reminder.join_url,
            manage_url=reminder.manage_page_url or reminder.manage_url,
            invitation_ics=reminder.invitation_ics,
            sequence=reminder.sequence,
            minutes_before=reminder.minutes_before,
        )


def _registrant_fields(
    payload: EventRegistered | EventWaitlisted | EventInvitationChanged | EventReminderRequested,
) -> dict[str, Any]:
    """Who is mailed about which event, and when and where it is: what every registrant mail
    takes from its topic alike."""
    return {
        "email": payload.email,
        "first_name": payload.first_name,
        "event_id": payload.event_id,
        "event_name": payload.event_name,
        "registration_id": payload.registration_id,
        "candidate_id": payload.candidate_id,
        "starts_at": payload.starts_at,
        "time_zone": payload.time_zone,
        "location": payload.location,
        "session_name": payload.session_name,
    }


def lead_time(minutes: int) -> str:
    """`minutes` in words: "24 hours", "1 hour", "2 days", "90 minutes"."""
    if minutes == 1440:
        return "24 hours"  # what people say of the day before
    for size, unit in ((1440, "day"), (60, "hour")):
        if minutes % size == 0:
            count = minutes // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


SUBJECTS = {
    EventMailKind.CONFIRMATION: "You are registered: {name}",
    EventMailKind.UPDATE: "Changed: {name}",
    EventMailKind.CANCELLATION: "Cancelled: {name}",
    EventMailKind.REMINDER: "Reminder: {name}",
    EventMailKind.WAITLISTED: "You are on the waitlist: {name}",
}
PROMOTED_SUBJECT = "A seat came free, you are registered: {name}"


def local_time(at: datetime | None, zone: str | None) -> str | None:
    """`at` as the event's wall clock shows it, with the zone's abbreviation."""
    if at is None:
        return None
    try:
        local = at.astimezone(ZoneInfo(zone or "UTC"))
    except ZoneInfoNotFoundError:  # an unknown zone cannot be stored; UTC says the truth anyway
        local = at.astimezone(ZoneInfo("UTC"))
    return local.strftime("%A %d %B %Y, %H:%M %Z").strip()


# How a change notice names each field that can change (`changed_fields`), in this order.
CHANGE_LABELS = {
    "starts_at": "Starts",
    "ends_at": "Ends",
    "location": "Where",
    "join_url": "Online link",
}
STILL_WAITLISTED = (
    "You are still on the waitlist: your place is not confirmed, so no calendar invitation "
    "comes with this notice. If a seat frees up, it goes to the longest-waiting person, and we "
    "will mail you the confirmation with a calendar invitation."
)


def _change_lines(mail: RegistrantMail) -> list[str]:
    """What changed, old against new, times in the event's zone: "Where: Hall C (was Hall B)".
    Without the old values (an older producer) it still names what changed. The waitlisted
    are not shown the online link, which is for those with a seat."""
    lines: list[str] = []
    for field, label in CHANGE_LABELS.items():
        if field not in mail.changed_fields:
            continue
        if field == "join_url" and mail.waitlisted:
            lines.append(f"{label}: changed (you get it with the confirmation, if a seat frees up)")
            continue
        now = _shown(mail, field, getattr(mail, field))
        if mail.previous is None:
            lines.append(f"{label}: now {now}")
        else:
            lines.append(
                f"{label}: now {now} (was {_shown(mail, field, getattr(mail.previous, field))})"
            )
    return lines


def _shown(mail: RegistrantMail, field: str, value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, datetime):
        return local_time(value, mail.time_zone) or "none"
    return str(value)


def _lines(mail: RegistrantMail) -> list[str]:
    when = local_time(mail.starts_at, mail.time_zone)
    if when and mail.session_name:
        when = f"{when} ({mail.session_name})"
    if mail.kind is EventMailKind.CANCELLATION:
        reason = f": {mail.cancellation_reason}" if mail.cancellation_reason else "."
        lines = [f"{mail.event_name} has been cancelled{reason}"]
        if when:
            lines.append(f"It was to take place on {when}.")
        if mail.waitlisted:
            lines.append(
                "You were on its waitlist, so there is nothing to take out of your calendar."
            )
        else:
            lines.append("The attached update takes it out of your calendar.")
        return lines
    if mail.kind is EventMailKind.UPDATE:
        lines = [f"{mail.event_name} has changed."]
        if mail.waitlisted:  # first: what they may not read as a seat
            lines.append(STILL_WAITLISTED)
        changes = _change_lines(mail)
        if changes:
            lines += ["What changed:", *changes]
        lines.append("It now takes place:")
        if when:
            lines.append(f"When: {when}")
        if mail.location:
            lines.append(f"Where: {mail.location}")
        if mail.waitlisted:
            if mail.manage_url:
                lines.append(f"Your place on the waitlist (or to cancel it): {mail.manage_url}")
            return lines
        if mail.join_url:
            lines.append(f"Join online: {mail.join_url}")
        lines.append("The updated calendar invitation is attached.")
        if mail.manage_url:
            lines.append(f"Your registration (or to cancel it): {mail.manage_url}")
        return lines
    if mail.kind is EventMailKind.WAITLISTED:
        lines = [
            f"Thank you for registering for {mail.event_name}. "
            f"{'That session' if mail.session_name else 'It'} is full, so you are on the "
            "waitlist: your place is not confirmed yet.",
            "If a seat frees up, it goes to the longest-waiting person, and we will mail you "
            "the confirmation with a calendar invitation.",
        ]
        if when:
            lines.append(f"When: {when}")
        if mail.location:
            lines.append(f"Where: {mail.location}")
        if mail.manage_url:
            lines.append(f"Your place on the waitlist (or to cancel it): {mail.manage_url}")
        return lines
    if mail.kind is EventMailKind.REMINDER and mail.minutes_before:
        lines = [f"{mail.event_name} starts in {lead_time(mail.minutes_before)}."]
    elif mail.promoted:
        lines = [
            f"A seat came free at {mail.event_name} and it is yours: you are registered. "
            "You no longer wait on the waitlist."
        ]
    else:
        lines = [f"Thank you for registering for {mail.event_name}."]
    if when:
        lines.append(f"When: {when}")
    if mail.location:
        lines.append(f"Where: {mail.location}")
    if mail.join_url:
        lines.append(f"Join online: {mail.join_url}")
    lines.append("The calendar invitation is attached.")
    if mail.code:
        lines.append(f"Your code for the door: {mail.code}")
    if mail.manage_url:
        lines.append(f"Your registration (or to cancel it): {mail.manage_url}")
    return lines


def registrant_email(
    mail: RegistrantMail,
    *,
    sender: str,
    message_id: str,
    domain: str,
    qr_png: bytes | None = None,
) -> EmailMessage:
    """The mail, plain text and HTML, with the invitation (if any) as a `text/calendar`
    attachment whose METHOD matches the calendar's (REQUEST, or CANCEL for a cancellation).
    `qr_png`, the QR code of the door code, is shown in the HTML as an inline image (`cid:`),
    after the code in words for readers that show no images."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = mail.email
    subject = PROMOTED_SUBJECT if mail.promoted else SUBJECTS[mail.kind]
    set_header(email, "Subject", subject.format(name=mail.event_name))
    email["Message-ID"] = make_msgid(idstring=message_id, domain=domain)
    email["X-CRM-Message-Id"] = message_id
    email["Auto-Submitted"] = "auto-generated"
    greeting = f"Hello {mail.first_name}" if mail.first_name else "Hello"
    lines = _lines(mail)
    email.set_content(f"{greeting},\n\n" + "\n".join(lines) + "\n")
    qr_cid = make_msgid(idstring="qr", domain=domain) if qr_png is not None else None
    image = (
        f'<p><img src="cid:{qr_cid[1:-1]}" alt="QR code of your code {html.escape(mail.code or "")}'
        '" width="200" height="200"></p>'
        if qr_cid
        else ""
    )
    email.add_alternative(
        f"<html><body><p>{html.escape(greeting)},</p>"
        + "".join(f"<p>{html.escape(line)}</p>" for line in lines)
        + image
        + "</body></html>",
        subtype="html",
    )
    if qr_png is not None and qr_cid is not None:
        html_part = email.get_body(("html",))
        assert html_part is not None
        html_part.add_related(
            qr_png, maintype="image", subtype="png", cid=qr_cid, filename="check-in.png"
        )
    if mail.invitation_ics is not None:
        method = "CANCEL" if mail.kind is EventMailKind.CANCELLATION else "REQUEST"
        email.add_attachment(
            mail.invitation_ics,
            subtype="calendar",
            filename="invitation.ics",
            params={"method": method},
        )
    return email

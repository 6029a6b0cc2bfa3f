"""What an event tells people and the rest of the system, end to end on the real broker,
database and SMTP sink: confirmations with a calendar invitation and the door code's QR code,
the waitlisted told their place is not confirmed, a change and a cancellation
mailed with the same UID and a higher SEQUENCE, and a completed event's attendees and no-shows
(`event.attended`, `event.no_show`) following up in sequences and segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import SmtpSink
from icalendar import Calendar

from crm_campaigns.adapters.qr import qr_png
from crm_shared import (
    EVENT_ATTENDED,
    EVENT_INVITATION_CHANGED,
    EVENT_NO_SHOW,
    EVENT_REGISTERED,
    EVENT_WAITLISTED,
)
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_TOKEN, Stack
from integration.flow.sequencing import create_sequence, enrolment_of, mails_to

pytestmark = pytest.mark.integration

LONG_WAIT = [{"type": "wait", "days": 30}]


async def register(stack: Stack, event_id: str, name: str) -> tuple[str, str]:
    """Registers somebody new through the public page; (registration id, email)."""
    email = f"{unique(name)}@example.org"
    registered = await stack.gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={"first_name": name.title(), "last_name": "Doe", "email": email},
    )
    assert registered.status_code == 201, registered.text
    return registered.json()["id"], email


async def new_event(stack: Stack, fields: dict[str, Any]) -> dict[str, Any]:
    """Creates an event as Acme's staff; the event as the API answers."""
    created = await stack.gateway.post("/api/v1/events", headers=stack.as_(ACME_TOKEN), json=fields)
    assert created.status_code == 201, created.text
    event: dict[str, Any] = created.json()
    return event


def invitation(mail: Any) -> tuple[str, str, Any]:
    """The calendar invitation attached to a received mail: (part METHOD, calendar METHOD,
    its VEVENT)."""
    [part] = [
        p for p in mail.parsed().iter_attachments() if p.get_content_type() == "text/calendar"
    ]
    calendar = Calendar.from_ical(part.get_content())
    [entry] = calendar.walk("VEVENT")
    return str(part.get_param("method")), str(calendar["METHOD"]), entry


async def test_registrants_get_a_confirmation_a_change_and_a_cancellation_with_the_ics(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    acme = stack.as_(ACME_TOKEN)
    event = await new_event(
        stack,
        {
            "name": unique("Open house"),
            "kind": "open_house",
            "time_zone": "Europe/Berlin",
            # The evening after the change to summer time (early on 30 March 2031): the mail
            # and the calendar both say 18:00, summer time.
            "starts_at": "2031-03-30T18:00:00",
            "ends_at": "2031-03-30T21:00:00",
            "location": "München, Leopoldstraße 1",
            "capacity": 10,
        },
    )
    registration_id, email = await register(stack, event["id"], "carol")

    [confirmation] = await mails_to(smtp_sink, email, 1)
    assert confirmation.subject == f"You are registered: {event['name']}"
    part_method, method, first = invitation(confirmation)
    assert (part_method, method, str(first["STATUS"])) == ("REQUEST", "REQUEST", "CONFIRMED")
    assert str(first["UID"]) == f"{registration_id}.{event['id']}@events.recruitcrm"
    assert first.decoded("DTSTART").isoformat() == "2031-03-30T18:00:00+02:00"
    body = confirmation.parsed().get_body(("plain",)).get_content()
    assert "Sunday 30 March 2031, 18:00 CEST" in body
    # The link to see or cancel it is the registrant's page (HTML), not the JSON API.
    assert "/console/public/registrations/" in body
    assert "/public/v1/event-registrations/" not in body

    url = f"/api/v1/events/{event['id']}"
    moved = await stack.gateway.patch(
        url, headers=acme | {"If-Match": '"1"'}, json={"location": "München, Marienplatz 8"}
    )
    assert moved.status_code == 200, moved.text
    [_, change] = await mails_to(smtp_sink, email, 2)
    assert change.subject == f"Changed: {event['name']}"
    _, method, updated = invitation(change)
    assert (method, str(updated["UID"]), str(updated["LOCATION"])) == (
        "REQUEST",
        str(first["UID"]),
        "München, Marienplatz 8",
    )
    assert int(updated["SEQUENCE"]) > int(first["SEQUENCE"])
    assert (
        "Where: now München, Marienplatz 8 (was München, Leopoldstraße 1)"
        in change.parsed().get_body(("plain",)).get_content()
    )

    cancelled = await stack.gateway.post(f"{url}/cancel", headers=acme, json={"reason": "Flood"})
    assert cancelled.status_code == 200, cancelled.text
    [_, _, cancellation] = await mails_to(smtp_sink, email, 3)
    assert cancellation.subject == f"Cancelled: {event['name']}"
    part_method, method, withdrawn = invitation(cancellation)
    assert (part_method, method, str(withdrawn["STATUS"])) == ("CANCEL", "CANCEL", "CANCELLED")
    assert str(withdrawn["UID"]) == str(first["UID"])
    assert int(withdrawn["SEQUENCE"]) > int(updated["SEQUENCE"])
    assert "Flood" in cancellation.parsed().get_body(("plain",)).get_content()

    # Each mail is on record where staff look, by registration; none failed.
    async def all_recorded() -> bool:
        listed = await stack.gateway.get(
            "/api/v1/event-mails", headers=acme, params={"registration_id": registration_id}
        )
        return len(listed.json()["items"]) == 3

    await eventually(all_recorded, message="the mails were not recorded")
    listed = await stack.gateway.get(
        "/api/v1/event-mails", headers=acme, params={"event_id": event["id"]}
    )
    assert {(m["kind"], m["status"]) for m in listed.json()["items"]} == {
        ("confirmation", "sent"),
        ("update", "sent"),
        ("cancellation", "sent"),
    }


async def test_an_edit_that_does_not_notify_registrants_mails_no_change(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    """`notify_registrants: false` moves the event without a `Changed:` mail; the change is
    still announced (for analytics), marked not to be mailed; the next edit is mailed."""
    acme = stack.as_(ACME_TOKEN)
    event = await new_event(
        stack,
        {
            "name": unique("Campus day"),
            "kind": "campus",
            "starts_at": "2031-05-06T10:00:00",
            "ends_at": "2031-05-06T16:00:00",
            "location": "TU Berlin, Hauptgebude",
            "capacity": 10,
        },
    )
    registration_id, email = await register(stack, event["id"], "quinn")
    await mails_to(smtp_sink, email, 1)  # the confirmation
    url = f"/api/v1/events/{event['id']}"
    quiet = await stack.gateway.patch(
        url,
        headers=acme | {"If-Match": '"1"'},
        json={"location": "TU Berlin, Hauptgebäude", "notify_registrants": False},
    )
    assert quiet.status_code == 200, quiet.text
    assert quiet.json()["location"] == "TU Berlin, Hauptgebäude"
    [announced] = await read_events(
        kafka_bootstrap_servers,
        EVENT_INVITATION_CHANGED.name,
        where=lambda e: e["data"]["registration_id"] == registration_id,
        count=1,
    )
    assert announced["data"]["notify_registrant"] is False
    assert announced["data"]["location"] == "TU Berlin, Hauptgebäude"

    # Told: the move is mailed. Its notice is consumed after the quiet one (same registration,
    # same partition), so once it arrives the quiet one was handled, and mailed nothing.
    loud = await stack.gateway.patch(
        url,
        headers=acme | {"If-Match": f'"{quiet.json()["version"]}"'},
        json={"starts_at": "2031-05-07T10:00:00", "ends_at": "2031-05-07T16:00:00"},
    )
    assert loud.status_code == 200, loud.text
    [_, change] = await mails_to(smtp_sink, email, 2)
    assert change.subject == f"Changed: {event['name']}"
    assert "7 May 2031" in change.parsed().get_body(("plain",)).get_content()
    assert len(smtp_sink.messages_to(email)) == 2

    async def recorded() -> list[str]:
        listed = await stack.gateway.get(
            "/api/v1/event-mails", headers=acme, params={"registration_id": registration_id}
        )
        return sorted(m["kind"] for m in listed.json()["items"])

    async def both_recorded() -> bool:
        return len(await recorded()) >= 2

    await eventually(both_recorded, message="the mails were not recorded")
    assert await recorded() == ["confirmation", "update"]  # one update: the quiet edit's is none
    malformed = await stack.gateway.patch(
        url,
        headers=acme | {"If-Match": f'"{loud.json()["version"]}"'},
        json={"notify_registrants": None},
    )
    assert malformed.status_code == 422


async def test_a_full_events_registrant_is_told_of_the_waitlist_and_a_seat_holder_gets_a_qr(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    acme = stack.as_(ACME_TOKEN)
    event = await new_event(
        stack,
        {
            "name": unique("Hackathon"),
            "kind": "meetup",
            "time_zone": "Europe/Berlin",
            "starts_at": "2031-06-14T10:00:00",
            "location": "Berlin, Hall 3",
            "capacity": 1,
        },
    )
    seated, seated_email = await register(stack, event["id"], "sam")
    waiting, waiting_email = await register(stack, event["id"], "wes")

    [notice] = await mails_to(smtp_sink, waiting_email, 1)
    assert notice.subject == f"You are on the waitlist: {event['name']}"
    parsed = notice.parsed()
    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]  # no calendar invitation: no seat
    body = parsed.get_body(("plain",)).get_content()
    assert "your place is not confirmed" in body
    assert "If a seat frees up" in body
    assert "Saturday 14 June 2031, 10:00 CEST" in body
    assert "/console/public/registrations/" in body  # to leave the waitlist
    [waitlisted] = await read_events(
        kafka_bootstrap_servers,
        EVENT_WAITLISTED.name,
        where=lambda e: e["data"]["event_id"] == event["id"],
        count=1,
    )
    assert (waitlisted["tenant_id"], waitlisted["data"]["registration_id"]) == (
        stack.acme,
        waiting,
    )

    # The seat holder's confirmation shows the door code and its QR code: the console's
    # check-in page of the event, the code filled in.
    [confirmation] = await mails_to(smtp_sink, seated_email, 1)
    [registered] = await read_events(
        kafka_bootstrap_servers,
        EVENT_REGISTERED.name,
        where=lambda e: e["data"]["registration_id"] == seated,
        count=1,
    )
    code, url = registered["data"]["code"], registered["data"]["check_in_url"]
    assert url.endswith(f"/console/events/{event['id']}/check-in?code={code}")
    [image] = [p for p in confirmation.parsed().walk() if p.get_content_type() == "image/png"]
    assert image.get_content() == qr_png(url)
    content_id = str(image["Content-ID"]).strip("<>")
    html = confirmation.parsed().get_body(("html",)).get_content()
    assert f'src="cid:{content_id}"' in html
    assert (
        f"Your code for the door: {code}"
        in confirmation.parsed().get_body(("plain",)).get_content()
    )
    invitation(confirmation)  # the calendar invitation is still there

    async def both_recorded() -> bool:
        listed = await stack.gateway.get(
            "/api/v1/event-mails", headers=acme, params={"event_id": event["id"]}
        )
        return len(listed.json()["items"]) == 2

    await eventually(both_recorded, message="the mails were not recorded")
    listed = await stack.gateway.get(
        "/api/v1/event-mails", headers=acme, params={"event_id": event["id"]}
    )
    assert {(m["registration_id"], m["kind"], m["status"]) for m in listed.json()["items"]} == {
        (seated, "confirmation", "sent"),
        (waiting, "waitlisted", "sent"),
    }

    # The event moves: the seat holder gets the new invitation; the waitlisted person is told
    # they still wait, old time against new, and gets no calendar entry (they never had one).
    moved = await stack.gateway.patch(
        f"/api/v1/events/{event['id']}",
        headers=acme | {"If-Match": '"1"'},
        json={"starts_at": "2031-06-14T14:00:00"},
    )
    assert moved.status_code == 200, moved.text
    [_, seat_change] = await mails_to(smtp_sink, seated_email, 2)
    invitation(seat_change)
    [_, wait_change] = await mails_to(smtp_sink, waiting_email, 2)
    assert wait_change.subject == f"Changed: {event['name']}"
    assert [p.get_content_type() for p in wait_change.parsed().walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    body = wait_change.parsed().get_body(("plain",)).get_content()
    assert "You are still on the waitlist" in body
    assert (
        "Starts: now Saturday 14 June 2031, 14:00 CEST (was Saturday 14 June 2031, 10:00 CEST)"
        in body
    )
    assert "attached" not in body


async def test_a_completed_event_announces_attendees_and_no_shows_who_follow_up(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    acme = stack.as_(ACME_TOKEN)
    now = datetime.now(UTC)
    event_id = (
        await new_event(
            stack,
            {
                "name": unique("Campus day"),
                "kind": "campus",
                # Under way: people may still register, and it may be completed.
                "starts_at": (now - timedelta(minutes=30)).isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat(),
                "capacity": 10,
            },
        )
    )["id"]
    no_shows = await create_sequence(
        stack, ACME_TOKEN, trigger={"type": "event_no_show", "event_id": event_id}, steps=LONG_WAIT
    )
    attendees = await create_sequence(
        stack, ACME_TOKEN, trigger={"type": "event_attended"}, steps=LONG_WAIT
    )
    came, came_email = await register(stack, event_id, "ada")
    stayed_away, away_email = await register(stack, event_id, "bob")
    checked_in = await stack.gateway.post(
        f"/api/v1/events/{event_id}/registrations/{came}/check-in", headers=acme
    )
    assert checked_in.status_code == 200, checked_in.text

    completed = await stack.gateway.post(f"/api/v1/events/{event_id}/complete", headers=acme)
    assert completed.status_code == 200, completed.text
    again = await stack.gateway.post(f"/api/v1/events/{event_id}/complete", headers=acme)
    assert again.status_code == 409, again.text

    [attended] = await read_events(
        kafka_bootstrap_servers,
        EVENT_ATTENDED.name,
        where=lambda e: e["data"]["event_id"] == event_id,
        count=1,
    )
    [no_show] = await read_events(
        kafka_bootstrap_servers,
        EVENT_NO_SHOW.name,
        where=lambda e: e["data"]["event_id"] == event_id,
        count=1,
    )
    assert (attended["data"]["registration_id"], attended["tenant_id"]) == (came, stack.acme)
    assert attended["data"]["tenant_id"] == stack.acme
    assert (no_show["data"]["registration_id"], no_show["data"]["email"]) == (
        stayed_away,
        away_email,
    )
    # Both were new: the candidates service created them from their registrations, and the
    # outcomes name those candidates.
    ada, bob = attended["data"]["candidate_id"], no_show["data"]["candidate_id"]
    assert None not in (ada, bob)

    listed = await stack.gateway.get(f"/api/v1/events/{event_id}/registrations", headers=acme)
    assert {r["id"]: r["outcome"] for r in listed.json()["items"]} == {
        came: "attended",
        stayed_away: "no_show",
    }
    enrolled = await enrolment_of(
        stack, ACME_TOKEN, no_shows["id"], bob, lambda e: True, "the no-show was not enrolled"
    )
    assert enrolled["enrolled_by"] == f"event:{event_id}"
    await enrolment_of(
        stack, ACME_TOKEN, attendees["id"], ada, lambda e: True, "the attendee was not enrolled"
    )

    async def no_show_recorded() -> bool:
        profile = await stack.gateway.get(f"/api/v1/candidates/{bob}", headers=acme)
        return bool(profile.json().get("events_no_show") == [event_id])

    await eventually(no_show_recorded, message="events_no_show not projected")
    segment = await stack.gateway.post(
        "/api/v1/segments",
        headers=acme,
        json={
            "name": unique("No-shows"),
            "rule": {"all": [{"field": "events_no_show", "op": "equals", "value": event_id}]},
        },
    )
    assert segment.status_code == 201, segment.text

    async def only_bob() -> bool:
        members = await stack.gateway.get(
            f"/api/v1/segments/{segment.json()['id']}/members", headers=acme
        )
        return members.status_code == 200 and [m["id"] for m in members.json()["items"]] == [bob]

    await eventually(only_bob, message="the no-show segment does not hold exactly the no-show")
    # Both had their confirmation; nobody mails an outcome by itself.
    assert len(smtp_sink.messages_to(came_email)) == 1
    assert len(smtp_sink.messages_to(away_email)) == 1


async def test_a_reminder_is_mailed_once_with_the_invitation(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    acme = stack.as_(ACME_TOKEN)
    event = await new_event(
        stack,
        {
            "name": unique("Webinar"),
            "kind": "webinar",
            "format": "virtual",
            "join_url": "https://meet.example/room-1",
            # Its 5-minute reminder falls due three seconds from now.
            "starts_at": (datetime.now(UTC) + timedelta(minutes=5, seconds=3)).isoformat(),
            "reminders": [5],
            "capacity": 10,
        },
    )
    assert event["reminders"] == [5]
    registration_id, email = await register(stack, event["id"], "dora")

    [_, reminder] = await mails_to(smtp_sink, email, 2)
    assert reminder.subject == f"Reminder: {event['name']}"
    body = reminder.parsed().get_body(("plain",)).get_content()
    assert "starts in 5 minutes" in body
    assert "https://meet.example/room-1" in body
    _, method, entry = invitation(reminder)
    assert (method, str(entry["UID"])) == (
        "REQUEST",
        f"{registration_id}.{event['id']}@events.recruitcrm",
    )
    shown = await stack.gateway.get(f"/api/v1/events/{event['id']}", headers=acme)
    assert shown.json()["next_reminder_at"] is None
    listed = await stack.gateway.get(
        "/api/v1/event-mails", headers=acme, params={"registration_id": registration_id}
    )
    assert {m["kind"] for m in listed.json()["items"]} == {"confirmation", "reminder"}
    assert len(smtp_sink.messages_to(email)) == 2  # once

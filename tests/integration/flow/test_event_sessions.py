"""An event with sessions (a career fair's time slots), end to end on the real broker,
database and SMTP sink: a registrant chooses a session, each session fills and waitlists on
its own, its registrants' mails and calendar invitations carry the session's time, a
cancellation seats the longest-waiting person of that session, and moving one session tells
only its registrants."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from conftest import SmtpSink

from crm_shared import EVENT_REGISTRATION_PROMOTED
from helpers import read_events, unique
from integration.flow.conftest import ACME_TOKEN, Stack
from integration.flow.sequencing import mails_to
from integration.flow.test_event_communications import invitation, new_event

pytestmark = pytest.mark.integration

BERLIN = ZoneInfo("Europe/Berlin")


async def register(
    stack: Stack, event_id: str, name: str, session_id: str | None
) -> tuple[dict[str, Any], str]:
    """Registers somebody new for a session; (the answer's body with its status, email)."""
    email = f"{unique(name)}@example.org"
    body: dict[str, Any] = {"first_name": name.title(), "last_name": "Weiß", "email": email}
    if session_id is not None:
        body["session_id"] = session_id
    answer = await stack.gateway.post(f"/public/v1/events/{event_id}/registrations", json=body)
    return answer.json() | {"http_status": answer.status_code}, email


async def test_each_session_fills_waitlists_and_is_told_on_its_own(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    acme = stack.as_(ACME_TOKEN)
    fair = await new_event(
        stack,
        {
            "name": unique("Career fair"),
            "kind": "career_fair",
            "time_zone": "Europe/Berlin",
            "starts_at": "2031-06-12T09:00:00",
            "ends_at": "2031-06-12T17:00:00",
            "location": "Köln, Messeplatz 1",
            "capacity": 50,
            "sessions": [
                {
                    "id": "morning",
                    "name": "Morgens",
                    "starts_at": "2031-06-12T09:00:00",
                    "ends_at": "2031-06-12T12:00:00",
                    "capacity": 1,
                },
                {
                    "name": "Nachmittags",
                    "starts_at": "2031-06-12T14:00:00",
                    "ends_at": "2031-06-12T17:00:00",
                    "capacity": 2,
                },
            ],
        },
    )
    assert [s["id"] for s in fair["sessions"]] == ["morning", "slot-1"]
    assert fair["sessions"][1]["starts_at"] == "2031-06-12T12:00:00Z"  # 14:00 summer time
    public = await stack.gateway.get(f"/public/v1/events/{fair['id']}")
    assert [(s["id"], s["places_left"]) for s in public.json()["sessions"]] == [
        ("morning", 1),
        ("slot-1", 2),
    ]

    unchosen, _ = await register(stack, fair["id"], "anna", None)
    assert unchosen["http_status"] == 422, unchosen
    assert unchosen["errors"] == [
        {
            "field": "session_id",
            "pointer": "#/session_id",
            "source": "body",
            "detail": "choose one of the event's sessions: 'morning', 'slot-1'",
        }
    ]
    unknown, _ = await register(stack, fair["id"], "anna", "evening")
    assert (unknown["http_status"], unknown["errors"][0]["field"]) == (422, "session_id")

    seated, seated_email = await register(stack, fair["id"], "jörg", "morning")
    waiting, waiting_email = await register(stack, fair["id"], "émilie", "morning")
    afternoon, afternoon_email = await register(stack, fair["id"], "zoë", "slot-1")
    assert [r["status"] for r in (seated, waiting, afternoon)] == [
        "registered",
        "waitlisted",
        "registered",
    ]
    assert (seated["session_id"], afternoon["session_id"]) == ("morning", "slot-1")

    # The confirmation states the session's time, and so does its invitation.
    [confirmation] = await mails_to(smtp_sink, afternoon_email, 1)
    body = confirmation.parsed().get_body(("plain",)).get_content()
    assert "When: Thursday 12 June 2031, 14:00 CEST (Nachmittags)" in body
    _, _, entry = invitation(confirmation)
    assert entry.decoded("DTSTART") == datetime(2031, 6, 12, 14, tzinfo=BERLIN)
    assert entry.decoded("DTEND") == datetime(2031, 6, 12, 17, tzinfo=BERLIN)
    assert str(entry["SUMMARY"]) == f"{fair['name']}: Nachmittags"
    await mails_to(smtp_sink, waiting_email, 1)  # the waitlist notice

    # The morning's seat comes free: the morning's waitlist moves up, nobody else's.
    link = urlsplit(seated["manage_url"]).path
    cancelled = await stack.gateway.post(f"{link}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    [promoted] = await read_events(
        kafka_bootstrap_servers,
        EVENT_REGISTRATION_PROMOTED.name,
        where=lambda e: e["data"]["event_id"] == fair["id"],
        count=1,
    )
    assert (promoted["data"]["email"], promoted["data"]["session_id"]) == (waiting_email, "morning")
    mails = await mails_to(smtp_sink, waiting_email, 2)  # the waitlist notice, the seat's
    [seat] = [m for m in mails if m.subject.startswith("A seat came free, you are registered")]
    assert invitation(seat)[2].decoded("DTSTART") == datetime(2031, 6, 12, 9, tzinfo=BERLIN)

    # The afternoon moves an hour later: only its registrant is told.
    url = f"/api/v1/events/{fair['id']}"
    current = (await stack.gateway.get(url, headers=acme)).json()
    sessions = [
        {k: s[k] for k in ("id", "name", "capacity")}
        | {"starts_at": s["starts_at"], "ends_at": s["ends_at"]}
        for s in current["sessions"]
    ]
    sessions[1] |= {
        "starts_at": "2031-06-12T15:00:00+02:00",
        "ends_at": "2031-06-12T17:00:00+02:00",
    }
    removed = await stack.gateway.patch(
        url,
        headers=acme | {"If-Match": f'"{current["version"]}"'},
        json={"sessions": sessions[:1]},
    )
    assert removed.status_code == 409, removed.text
    assert "cannot be removed" in removed.json()["detail"]
    moved = await stack.gateway.patch(
        url, headers=acme | {"If-Match": f'"{current["version"]}"'}, json={"sessions": sessions}
    )
    assert moved.status_code == 200, moved.text
    [_, change] = await mails_to(smtp_sink, afternoon_email, 2)
    assert change.subject == f"Changed: {fair['name']}"
    assert invitation(change)[2].decoded("DTSTART") == datetime(2031, 6, 12, 15, tzinfo=BERLIN)
    listed = await stack.gateway.get(f"{url}/registrations", headers=acme)
    assert {r["email"]: (r["session_id"], r["session_name"]) for r in listed.json()["items"]} == {
        seated_email: ("morning", "Morgens"),
        waiting_email: ("morning", "Morgens"),
        afternoon_email: ("slot-1", "Nachmittags"),
    }
    assert len(smtp_sink.messages_to(waiting_email)) == 2  # not told of the afternoon's move

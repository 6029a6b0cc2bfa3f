"""An event's lifecycle through the gateway, on the real broker and database: edits with
If-Match, a larger capacity registering the waitlist, cancelling (a registrant through the
console's page their link opens, served behind the module's gateway), and deleting only an
event nobody registered for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar, Component

from crm_console.config import ConsoleSettings
from crm_console.main import create_app as create_console
from crm_devstack.infra import free_ports
from crm_shared import EVENT_REGISTERED, EVENT_REGISTRATION_PROMOTED
from crm_shared.errors import PROBLEM_TYPE_PREFIX as PROBLEM_PREFIX
from helpers import read_events, serving, unique
from integration.flow.conftest import ACME_TOKEN, Stack
from internal_keys import INTERNAL_TOKEN_PUBLIC_KEY

pytestmark = pytest.mark.integration
# Its tests make many public requests (registrations, links, invitations) from one address; on
# a fast run they exceeded the default per-address budget of 120 a minute (a 429 in CI), which
# test_community_rate_limits covers.
# The console, for the registrant's page the links open: the module's gateway serves it.
[CONSOLE_PORT] = free_ports(1)
GATEWAY_SETTINGS = {
    "public_requests_per_minute_per_ip": 1000,
    "console_url": f"http://127.0.0.1:{CONSOLE_PORT}",
}


@pytest.fixture(scope="module")
async def console(stack: Stack) -> AsyncIterator[str]:
    """The console behind the module's gateway (it calls the gateway's public API back)."""
    settings = ConsoleSettings(
        gateway_url=stack.gateway_url, internal_token_public_key=INTERNAL_TOKEN_PUBLIC_KEY
    )
    async with serving(create_console(settings), CONSOLE_PORT) as url:
        yield url


async def new_event(stack: Stack, capacity: int) -> dict[str, Any]:
    created = await stack.gateway.post(
        "/api/v1/events",
        headers=stack.as_(ACME_TOKEN),
        json={
            "name": unique("Open house"),
            "kind": "open_house",
            "starts_at": "2027-03-25T18:00:00+01:00",
            "location": "München, Leopoldstraße 1",
            "capacity": capacity,
        },
    )
    assert created.status_code == 201, created.text
    event: dict[str, Any] = created.json()
    return event


async def register(stack: Stack, event_id: str, email: str) -> dict[str, Any]:
    registered = await stack.gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={"first_name": "Zoë", "last_name": "Ångström", "email": email},
    )
    assert registered.status_code in (200, 201, 409), registered.text
    body: dict[str, Any] = registered.json()
    return body | {"http_status": registered.status_code}


async def test_an_event_is_edited_its_waitlist_promoted_and_then_cancelled(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    event = await new_event(stack, capacity=1)
    url = f"/api/v1/events/{event['id']}"
    first = await register(stack, event["id"], f"{unique('first')}@example.org")
    second_email = f"{unique('second')}@example.org"
    second = await register(stack, event["id"], second_email)
    assert (first["status"], second["status"]) == ("registered", "waitlisted")

    headers = stack.as_(ACME_TOKEN)
    grow = {"capacity": 2, "location": "München, Marienplatz 8"}
    assert (await stack.gateway.patch(url, headers=headers, json=grow)).status_code == 428
    grown = await stack.gateway.patch(url, headers=headers | {"If-Match": '"1"'}, json=grow)
    assert grown.status_code == 200, grown.text
    assert (grown.json()["capacity"], grown.json()["registered"]) == (2, 2)
    assert (grown.json()["version"], grown.headers["etag"]) == (2, '"2"')
    [promoted] = await read_events(
        kafka_bootstrap_servers,
        EVENT_REGISTERED.name,
        where=lambda e: e["data"]["email"] == second_email,
        count=1,
    )
    assert promoted["data"]["event_id"] == event["id"]
    registrations = await stack.gateway.get(f"{url}/registrations", headers=headers)
    assert {r["status"] for r in registrations.json()["items"]} == {"registered"}

    stale = await stack.gateway.patch(
        url, headers=headers | {"If-Match": '"1"'}, json={"name": "Someone else's"}
    )
    assert stale.status_code == 412, stale.text
    shrink = await stack.gateway.patch(
        url, headers=headers | {"If-Match": '"2"'}, json={"capacity": 1}
    )
    assert shrink.status_code == 409, shrink.text
    assert "2 people are registered" in shrink.json()["detail"]

    undeletable = await stack.gateway.delete(url, headers=headers)
    assert undeletable.status_code == 409, undeletable.text
    cancelled = await stack.gateway.post(
        f"{url}/cancel", headers=headers, json={"reason": "Venue flooded"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["cancellation_reason"]) == (
        "cancelled",
        "Venue flooded",
    )
    closed = await register(stack, event["id"], f"{unique('late')}@example.org")
    assert closed["http_status"] == 409
    assert closed["type"].endswith("event-cancelled")
    frozen = await stack.gateway.patch(
        url, headers=headers | {"If-Match": cancelled.headers["etag"]}, json={"name": "x"}
    )
    assert frozen.status_code == 409, frozen.text
    listed = await stack.gateway.get(f"{url}/registrations", headers=headers)
    assert len(listed.json()["items"]) == 2


async def test_an_events_registrations_are_read_a_page_at_a_time(stack: Stack) -> None:
    """More registrants than a page holds are all listed through `next_cursor`, each once, in
    the order they registered (waitlisted among the seated); nothing is cut off."""
    event = await new_event(stack, capacity=3)
    url = f"/api/v1/events/{event['id']}/registrations"
    headers = stack.as_(ACME_TOKEN)
    registered = [
        await register(stack, event["id"], f"{unique(f'page{n}')}@example.org") for n in range(5)
    ]
    assert [r["http_status"] for r in registered] == [201] * 5

    seen: list[dict[str, Any]] = []
    params: dict[str, str | int] = {"limit": 2}
    pages = 0
    while True:
        page = await stack.gateway.get(url, headers=headers, params=params)
        assert page.status_code == 200, page.text
        pages += 1
        assert len(page.json()["items"]) <= 2
        seen += page.json()["items"]
        if page.json()["next_cursor"] is None:
            break
        params = {"limit": 2, "cursor": page.json()["next_cursor"]}
    assert pages == 3
    assert [r["id"] for r in seen] == [r["id"] for r in registered]
    assert [r["status"] for r in seen] == ["registered"] * 3 + ["waitlisted"] * 2
    whole = await stack.gateway.get(url, headers=headers)
    assert [r["id"] for r in whole.json()["items"]] == [r["id"] for r in registered]
    assert whole.json()["next_cursor"] is None

    invalid = await stack.gateway.get(url, headers=headers, params={"cursor": "not-a-cursor"})
    assert invalid.status_code == 400, invalid.text
    assert invalid.headers["content-type"] == "application/problem+json"
    assert invalid.json()["type"] == f"{PROBLEM_PREFIX}invalid-cursor"
    too_many = await stack.gateway.get(url, headers=headers, params={"limit": 201})
    assert too_many.status_code == 422, too_many.text
    # There is no filter: a misspelt or guessed one is refused, not a silently wider list.
    unknown = await stack.gateway.get(url, headers=headers, params={"status": "registered"})
    assert unknown.status_code == 422, unknown.text


async def test_an_event_nobody_registered_for_can_be_deleted(stack: Stack) -> None:
    event = await new_event(stack, capacity=50)
    url = f"/api/v1/events/{event['id']}"
    deleted = await stack.gateway.delete(url, headers=stack.as_(ACME_TOKEN))
    assert deleted.status_code == 204, deleted.text
    assert (await stack.gateway.get(url, headers=stack.as_(ACME_TOKEN))).status_code == 404


async def test_concurrent_registrations_never_overbook_the_last_seat(stack: Stack) -> None:
    event = await new_event(stack, capacity=2)
    outcomes = await asyncio.gather(
        *(register(stack, event["id"], f"{unique(f'rush{n}')}@example.org") for n in range(12))
    )
    assert sorted(o["status"] for o in outcomes) == ["registered"] * 2 + ["waitlisted"] * 10
    shown = await stack.gateway.get(f"/api/v1/events/{event['id']}", headers=stack.as_(ACME_TOKEN))
    assert shown.json()["registered"] == 2


async def test_anyone_reads_an_event_as_its_registration_page_shows_it(stack: Stack) -> None:
    event = await new_event(stack, capacity=1)
    public = f"/public/v1/events/{event['id']}"
    before = await stack.gateway.get(public)
    assert before.status_code == 200, before.text
    assert (before.json()["name"], before.json()["places_left"]) == (event["name"], 1)
    assert "capacity" not in before.json()
    await register(stack, event["id"], f"{unique('only')}@example.org")
    after = (await stack.gateway.get(public)).json()
    assert (after["places_left"], after["status"]) == (0, "published")
    assert (await stack.gateway.get("/public/v1/events/no-such-event")).status_code == 404


async def test_a_draft_crossing_a_dst_change_is_shown_in_local_time_then_published(
    stack: Stack,
) -> None:
    headers = stack.as_(ACME_TOKEN)
    # Wall-clock times in Berlin, across the change to summer time at 02:00 on 28 March 2027.
    created = await stack.gateway.post(
        "/api/v1/events",
        headers=headers,
        json={
            "name": unique("Night hackathon"),
            "kind": "meetup",
            "format": "hybrid",
            "location": "Berlin, Alexanderplatz 1",
            "join_url": "https://meet.example.org/hack",
            "time_zone": "Europe/Berlin",
            "starts_at": "2027-03-27T22:00:00",
            "ends_at": "2027-03-28T10:00:00",
            "capacity": 30,
            "status": "draft",
        },
    )
    assert created.status_code == 201, created.text
    event = created.json()
    assert (event["starts_at"], event["ends_at"]) == (
        "2027-03-27T21:00:00Z",
        "2027-03-28T08:00:00Z",
    )
    assert (event["starts_at_local"], event["ends_at_local"]) == (
        "2027-03-27T22:00:00+01:00",
        "2027-03-28T10:00:00+02:00",
    )
    assert (event["status"], len(event["organisers"])) == ("draft", 1)  # the creator

    public = f"/public/v1/events/{event['id']}"
    assert (await stack.gateway.get(public)).status_code == 404
    draft = await register(stack, event["id"], f"{unique('early')}@example.org")
    assert (draft["http_status"], draft["type"]) == (409, PROBLEM_PREFIX + "event-not-published")

    url = f"/api/v1/events/{event['id']}"
    skipped = await stack.gateway.patch(
        url, headers=headers | {"If-Match": '"1"'}, json={"starts_at": "2027-03-28T02:30:00"}
    )
    assert skipped.status_code == 422, skipped.text
    assert skipped.json()["errors"][0]["field"] == "starts_at"
    nulled = await stack.gateway.patch(
        url, headers=headers | {"If-Match": '"1"'}, json={"name": None, "capacity": None}
    )
    assert nulled.status_code == 422, nulled.text
    assert [e["field"] for e in nulled.json()["errors"]] == ["name", "capacity"]
    published = await stack.gateway.post(f"{url}/publish", headers=headers)
    assert published.status_code == 200, published.text
    assert (published.json()["status"], published.json()["version"]) == ("published", 2)
    shown = (await stack.gateway.get(public)).json()
    assert (shown["starts_at_local"], shown["registration_open"]) == (
        "2027-03-27T22:00:00+01:00",
        True,
    )
    assert "join_url" not in shown
    registered = await register(stack, event["id"], f"{unique('on-time')}@example.org")
    assert registered["status"] == "registered"
    again = await stack.gateway.post(f"{url}/publish", headers=headers)
    assert again.status_code == 409, again.text
    early = await stack.gateway.post(f"{url}/complete", headers=headers)
    assert early.status_code == 409, early.text


async def test_registration_outside_its_window_or_for_a_past_event_is_refused(
    stack: Stack,
) -> None:
    headers = stack.as_(ACME_TOKEN)
    virtual = await stack.gateway.post(
        "/api/v1/events",
        headers=headers,
        json={
            "name": unique("Webinar"),
            "kind": "webinar",
            "format": "virtual",
            "starts_at": "2030-06-01T10:00:00+02:00",
            "capacity": 100,
        },
    )
    assert virtual.status_code == 422, virtual.text
    assert virtual.json()["errors"] == [
        {
            "field": "join_url",
            "pointer": "#/join_url",
            "source": "body",
            "detail": "a virtual event needs a join URL",
        }
    ]
    # Every field that does not fit is named in one answer, not one per try.
    backwards = await stack.gateway.post(
        "/api/v1/events",
        headers=headers,
        json={
            "name": unique("Webinar"),
            "kind": "webinar",
            "format": "virtual",
            "starts_at": "2030-06-01T10:00:00+02:00",
            "ends_at": "2030-06-01T09:00:00+02:00",
            "capacity": 100,
        },
    )
    assert backwards.status_code == 422, backwards.text
    assert [(e["field"], e["detail"]) for e in backwards.json()["errors"]] == [
        ("join_url", "a virtual event needs a join URL"),
        ("ends_at", "the event must end after it starts"),
    ]
    windowed = await stack.gateway.post(
        "/api/v1/events",
        headers=headers,
        json={
            "name": unique("Webinar"),
            "kind": "webinar",
            "format": "virtual",
            "join_url": "https://meet.example.org/webinar",
            "time_zone": "America/New_York",
            "starts_at": "2030-06-01T10:00:00",
            "registration_opens_at": "2030-05-01T09:00:00",
            "capacity": 100,
        },
    )
    assert windowed.status_code == 201, windowed.text
    not_yet = await register(stack, windowed.json()["id"], f"{unique('eager')}@example.org")
    assert not_yet["http_status"] == 409
    assert not_yet["type"] == PROBLEM_PREFIX + "registration-not-open"
    assert "opens at 2030-05-01T09:00:00-04:00" in not_yet["detail"]

    past = await stack.gateway.post(
        "/api/v1/events",
        headers=headers,
        json={
            "name": unique("Yesterday's fair"),
            "kind": "career_fair",
            "starts_at": "2020-01-01T10:00:00Z",
            "capacity": 10,
        },
    )
    assert past.status_code == 201, past.text
    late = await register(stack, past.json()["id"], f"{unique('late')}@example.org")
    assert (late["http_status"], late["type"]) == (409, PROBLEM_PREFIX + "event-past")
    url = f"/api/v1/events/{past.json()['id']}"
    completed = await stack.gateway.post(f"{url}/complete", headers=headers)
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed"
    over = await register(stack, past.json()["id"], f"{unique('later')}@example.org")
    assert (over["http_status"], over["type"]) == (409, PROBLEM_PREFIX + "event-completed")
    frozen = await stack.gateway.post(f"{url}/cancel", headers=headers, json={})
    assert frozen.status_code == 409, frozen.text


async def test_a_registrant_cancels_on_their_page_and_the_oldest_waitlisted_is_promoted(
    stack: Stack, console: str, kafka_bootstrap_servers: str
) -> None:
    event = await new_event(stack, capacity=1)
    seated_email = f"{unique('seated')}@example.org"
    seated = await register(stack, event["id"], seated_email)
    first_email = f"{unique('first-waiting')}@example.org"
    first = await register(stack, event["id"], first_email)
    second = await register(stack, event["id"], f"{unique('second-waiting')}@example.org")
    assert (seated["status"], first["status"], second["status"]) == (
        "registered",
        "waitlisted",
        "waitlisted",
    )
    link = urlsplit(seated["manage_url"]).path
    assert link.startswith("/public/v1/event-registrations/")
    token = link.rsplit("/", 1)[1]
    page = urlsplit(seated["manage_page_url"]).path
    assert page == f"/console/public/registrations/{token}"
    repeat = await register(stack, event["id"], seated_email)
    assert (repeat["http_status"], repeat["manage_url"], repeat["manage_page_url"]) == (
        200,
        None,
        None,
    )

    # The JSON stays for API users.
    shown = await stack.gateway.get(link)
    assert shown.status_code == 200, shown.text
    assert (shown.json()["status"], shown.json()["event"]["id"]) == ("registered", event["id"])
    assert shown.json()["event"]["starts_at"] == "2027-03-25T17:00:00Z"
    # A person opens the page the mails link to: the event, their seat, a cancel button.
    opened = await stack.gateway.get(page)
    assert opened.status_code == 200, opened.text
    assert opened.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in opened.headers["content-security-policy"]
    assert event["name"] in opened.text
    assert 'data-testid="registration-registered"' in opened.text
    assert f'<form method="post" action="{page}/cancel"' in opened.text
    # The button is a plain form post, without cookie or CSRF token (the link is the key).
    cancelled = await stack.gateway.post(f"{page}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert f"Your registration for {event['name']} is cancelled" in cancelled.text
    assert first_email not in cancelled.text  # who moved up is nobody else's business
    [promoted] = await read_events(
        kafka_bootstrap_servers,
        EVENT_REGISTRATION_PROMOTED.name,
        where=lambda e: e["data"]["event_id"] == event["id"],
        count=1,
    )
    assert (promoted["data"]["email"], promoted["data"]["reason"]) == (first_email, "cancellation")
    listed = await stack.gateway.get(
        f"/api/v1/events/{event['id']}/registrations", headers=stack.as_(ACME_TOKEN)
    )
    statuses = {r["id"]: r["status"] for r in listed.json()["items"]}
    assert statuses == {
        seated["id"]: "cancelled",
        first["id"]: "registered",
        second["id"]: "waitlisted",
    }
    reopened = await stack.gateway.get(page)
    assert 'data-testid="registration-cancelled"' in reopened.text
    assert "Cancel my registration" not in reopened.text
    twice = await stack.gateway.post(f"{page}/cancel")
    assert twice.status_code == 409
    assert "cancelled already" in twice.text

    reused = await stack.gateway.post(f"{link}/cancel")
    assert (reused.status_code, reused.json()["type"]) == (
        409,
        PROBLEM_PREFIX + "registration-cancelled",
    )
    tampered = link[: -len(token)] + token[::-1]
    forged = await stack.gateway.post(f"{tampered}/cancel")
    assert (forged.status_code, forged.json()["type"]) == (404, PROBLEM_PREFIX + "invalid-link")
    forged_page = await stack.gateway.get(page[: -len(token)] + token[::-1])
    assert forged_page.status_code == 404
    assert forged_page.headers["content-type"].startswith("text/html")


def parsed_invitation(ics: bytes) -> tuple[Calendar, Component]:
    calendar = Calendar.from_ical(ics)
    [entry] = calendar.walk("VEVENT")
    return calendar, entry


async def test_the_invitation_follows_the_event_through_an_edit_and_its_cancellation(
    stack: Stack,
) -> None:
    headers = stack.as_(ACME_TOKEN)
    created = await stack.gateway.post(
        "/api/v1/events",
        headers=headers,
        json={
            "name": unique("Night hackathon"),
            "kind": "meetup",
            "location": "Berlin, Alexanderplatz 1",
            "time_zone": "Europe/Berlin",
            "starts_at": "2027-03-27T22:00:00",
            "ends_at": "2027-03-28T10:00:00",
            "capacity": 30,
        },
    )
    assert created.status_code == 201, created.text
    event = created.json()
    registered = await register(stack, event["id"], f"{unique('ada')}@example.org")
    link = urlsplit(registered["invitation_url"]).path
    first = await stack.gateway.get(link)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"].startswith("text/calendar")
    calendar, entry = parsed_invitation(first.content)
    starts, ends = entry.decoded("dtstart"), entry.decoded("dtend")
    assert (starts.isoformat(), ends.isoformat()) == (
        "2027-03-27T22:00:00+01:00",
        "2027-03-28T10:00:00+02:00",
    )
    uid = str(entry["uid"])
    assert (str(calendar["method"]), entry["sequence"]) == ("REQUEST", 1)

    url = f"/api/v1/events/{event['id']}"
    moved = await stack.gateway.patch(
        url, headers=headers | {"If-Match": '"1"'}, json={"starts_at": "2027-03-27T21:00:00"}
    )
    assert moved.status_code == 200, moved.text
    _, entry = parsed_invitation((await stack.gateway.get(link)).content)
    assert (str(entry["uid"]), entry["sequence"]) == (uid, 2)
    assert entry.decoded("dtstart").isoformat() == "2027-03-27T21:00:00+01:00"

    await stack.gateway.post(f"{url}/cancel", headers=headers, json={"reason": "Venue flooded"})
    staff = await stack.gateway.get(
        f"{url}/registrations/{registered['id']}/invitation.ics", headers=headers
    )
    assert staff.status_code == 200, staff.text
    calendar, entry = parsed_invitation(staff.content)
    assert (str(calendar["method"]), str(entry["status"])) == ("CANCEL", "CANCELLED")
    assert (str(entry["uid"]), entry["sequence"]) == (uid, 3)
    assert (await stack.gateway.get(link)).content == staff.content
    forged = await stack.gateway.get(
        link.replace("/event-registrations/", "/event-registrations/x")
    )
    assert forged.status_code == 404

"""An event's lifecycle through the gateway, on the real broker and database: edits with
If-Match, a larger capacity registering the waitlist, cancelling, and deleting only an event
nobody registered for."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crm_shared import EVENT_REGISTERED
from helpers import read_events, unique
from integration.flow.conftest import ACME_TOKEN, Stack

pytestmark = pytest.mark.integration


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
    assert registered.status_code in (201, 409), registered.text
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
    assert {r["status"] for r in registrations.json()} == {"registered"}

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
    assert len((await stack.gateway.get(f"{url}/registrations", headers=headers)).json()) == 2


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

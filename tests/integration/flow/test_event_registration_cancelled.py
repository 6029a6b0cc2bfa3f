"""A cancelled registration leaves the candidate's record: the event leaves their
`events_registered` (and "registered for the event" segments) and the cancellation is in their
timeline; a completed event's attendance is in the timeline too. Real broker and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_shared import (
    EVENT_ATTENDED,
    EVENT_REGISTERED,
    EVENT_REGISTRATION_CANCELLED,
    EventAttended,
    EventRegistered,
    EventRegistrationCancelled,
)
from helpers import eventually, publish_event, unique
from integration.flow.conftest import ACME_TOKEN, Stack
from integration.flow.test_segment_facts import (
    candidate,
    member_ids,
    new_candidate,
    new_segment,
    wait_members,
)

pytestmark = pytest.mark.integration


async def timeline_types(stack: Stack, candidate_id: str) -> list[str]:
    response = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}/timeline", headers=stack.as_(ACME_TOKEN)
    )
    assert response.status_code == 200, response.text
    return [entry["type"] for entry in response.json()["items"]]


async def test_a_cancelled_registrant_leaves_the_registered_segment_and_the_timeline_says_so(
    stack: Stack,
) -> None:
    acme = stack.as_(ACME_TOKEN)
    created = await stack.gateway.post(
        "/api/v1/events",
        headers=acme,
        json={
            "name": unique("Open house"),
            "kind": "open_house",
            "time_zone": "Europe/Dublin",
            "starts_at": "2031-05-20T18:00:00",
            "ends_at": "2031-05-20T21:00:00",
            "location": "Dublin, Grand Canal Dock",
            "capacity": 10,
        },
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    registered_for_it = await new_segment(
        stack,
        ACME_TOKEN,
        {"all": [{"field": "events_registered", "op": "equals", "value": event_id}]},
    )
    registered = await stack.gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={
            "first_name": "Aoife",
            "last_name": "Byrne",
            "email": f"{unique('aoife')}@example.org",
        },
    )
    assert registered.status_code == 201, registered.text

    async def one_member() -> bool:
        return len(await member_ids(stack, ACME_TOKEN, registered_for_it["id"])) == 1

    await eventually(one_member, message="the registrant did not enter the segment")
    [aoife] = await member_ids(stack, ACME_TOKEN, registered_for_it["id"])

    cancelled = await stack.gateway.post(
        f"/api/v1/events/{event_id}/registrations/{registered.json()['id']}/cancel", headers=acme
    )
    assert cancelled.status_code == 200, cancelled.text

    await wait_members(stack, ACME_TOKEN, registered_for_it["id"], set())
    assert (await candidate(stack, ACME_TOKEN, aoife))["events_registered"] == []

    async def cancellation_on_timeline() -> bool:
        return "event.registration_cancelled" in await timeline_types(stack, aoife)

    await eventually(cancellation_on_timeline, message="the cancellation is not on the timeline")
    types = await timeline_types(stack, aoife)
    assert "event.registered" in types
    assert "segment.exited" in types


async def test_a_cancellation_applied_before_its_registration_still_wins(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    # Each topic has its own consumer: the cancellation may be applied first.
    tag = unique("cancel-first")
    person = await new_candidate(stack, ACME_TOKEN, tag)
    event_id, registration_id = unique("event"), unique("reg")
    registered_at = datetime.now(UTC) - timedelta(minutes=5)
    common: dict[str, Any] = {
        "event_id": event_id,
        "event_name": "Open house",
        "registration_id": registration_id,
        "candidate_id": person["id"],
        "email": person["emails"][0],
    }
    await publish_event(
        kafka_bootstrap_servers,
        EVENT_REGISTRATION_CANCELLED,
        tenant_id=stack.acme,
        subject=person["id"],
        data=EventRegistrationCancelled(
            **common, cancelled_at=registered_at + timedelta(minutes=1), held="seat"
        ),
    )

    async def cancellation_on_timeline() -> bool:
        return "event.registration_cancelled" in await timeline_types(stack, person["id"])

    await eventually(cancellation_on_timeline, message="the cancellation is not on the timeline")
    await publish_event(
        kafka_bootstrap_servers,
        EVENT_REGISTERED,
        tenant_id=stack.acme,
        subject=person["id"],
        data=EventRegistered(
            **common, first_name="Fact", last_name=tag, registered_at=registered_at
        ),
    )

    async def registration_on_timeline() -> bool:
        return "event.registered" in await timeline_types(stack, person["id"])

    await eventually(registration_on_timeline, message="the registration is not on the timeline")
    assert (await candidate(stack, ACME_TOKEN, person["id"]))["events_registered"] == []


async def test_a_completed_events_attendance_is_on_the_timeline(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    person = await new_candidate(stack, ACME_TOKEN, unique("attended"))
    event_id = unique("event")
    now = datetime.now(UTC)
    await publish_event(
        kafka_bootstrap_servers,
        EVENT_ATTENDED,
        tenant_id=stack.acme,
        subject=person["id"],
        data=EventAttended(
            tenant_id=stack.acme,
            event_id=event_id,
            event_name="Open house",
            registration_id=unique("reg"),
            candidate_id=person["id"],
            email=person["emails"][0],
            occurred_at=now,
            checked_in_at=now - timedelta(hours=2),
        ),
    )

    async def attended_on_timeline() -> bool:
        return "event.attended" in await timeline_types(stack, person["id"])

    await eventually(attended_on_timeline, message="the attendance is not on the timeline")
    assert (await candidate(stack, ACME_TOKEN, person["id"]))["events_attended"] == [event_id]

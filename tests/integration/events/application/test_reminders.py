"""Reminders against SecantusDB: the worker leases an event whose reminder is due, stages
`event.reminder_requested` for each registrant holding a seat, once, however many workers
look; an event moved later gets its reminders again."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from icalendar import Calendar

from crm_events.application import lifecycle, registrations
from crm_events.application.reminders import Reminders
from crm_events.application.storage import EventsStorage
from crm_shared import EVENT_REMINDER_REQUESTED, utc_now
from helpers import eventually, unique
from integration.events.application.test_registrations import _fields, _person, storage

pytestmark = pytest.mark.integration

__all__ = ["storage"]


async def _reminders(storage: EventsStorage, event_id: str) -> list[dict[str, Any]]:
    envelopes = [
        json.loads(r["value"])
        async for r in storage.outbox.records.find({"topic": EVENT_REMINDER_REQUESTED.name})
    ]
    return [e["data"] for e in envelopes if e["data"]["event_id"] == event_id]


def workers(storage: EventsStorage, count: int) -> list[Reminders]:
    return [
        Reminders(storage, owner=f"worker-{n}", lease=timedelta(seconds=30)) for n in range(count)
    ]


async def test_each_due_reminder_goes_to_each_seated_registrant_once(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    # Its 5-minute reminder falls due two seconds from now; the hour's has passed already.
    soon = _fields(1) | {
        "starts_at": utc_now() + timedelta(minutes=5, seconds=2),
        "reminders": [60, 5],
    }
    event = (await lifecycle.create_event(storage, tenant, "user-1", soon)).event
    assert (event.reminders_sent, event.next_reminder_at is not None) == ([60], True)
    seated = (await registrations.register(storage, event.id, _person("ada"))).registration
    await registrations.register(storage, event.id, _person("bob"))  # waitlisted: not reminded
    replicas = workers(storage, 3)
    assert sum([await w.run_due() for w in replicas]) == 0  # not due yet

    async def due() -> bool:
        # Three replicas at once: the lease and the transaction let one of them send it.
        await asyncio.gather(*(w.run_due() for w in replicas))
        return bool(await _reminders(storage, event.id))

    await eventually(due, timeout=15, message="the reminder never went out")
    for worker in replicas:
        await worker.run_due()
    [reminder] = await _reminders(storage, event.id)
    assert (reminder["registration_id"], reminder["minutes_before"]) == (seated.id, 5)
    [entry] = Calendar.from_ical(reminder["invitation_ics"]).walk("VEVENT")
    assert str(entry["UID"]).startswith(f"{seated.id}.{event.id}@")
    shown = (await lifecycle.find_event(storage, tenant, event.id)).event
    assert (sorted(shown.reminders_sent), shown.next_reminder_at) == ([5, 60], None)
    assert shown.version == event.version  # reminding is no edit

    # Moved a week later: both reminders are pending again.
    moved = await lifecycle.edit_event(
        storage, tenant, event.id, shown.version, {"starts_at": utc_now() + timedelta(days=7)}
    )
    assert moved == 0
    later = (await lifecycle.find_event(storage, tenant, event.id)).event
    assert later.reminders_sent == []
    assert later.next_reminder_at is not None
    assert later.next_reminder_at > utc_now() + timedelta(days=6)


async def test_each_session_is_reminded_before_its_own_start(storage: EventsStorage) -> None:
    tenant = unique("tenant")
    now = utc_now()
    # The early slot's 5-minute reminder falls due in two seconds; the late slot's in an hour.
    fields = _fields(10) | {
        "starts_at": now + timedelta(minutes=4),
        "ends_at": now + timedelta(hours=3),
        "reminders": [5],
        "sessions": [
            {
                "id": "early",
                "name": "Early",
                "starts_at": now + timedelta(minutes=5, seconds=2),
                "ends_at": now + timedelta(minutes=35),
                "capacity": 5,
            },
            {
                "id": "late",
                "name": "Late",
                "starts_at": now + timedelta(hours=1, minutes=5),
                "ends_at": now + timedelta(hours=2),
                "capacity": 5,
            },
        ],
    }
    event = (await lifecycle.create_event(storage, tenant, "user-1", fields)).event
    early = await registrations.register(
        storage, event.id, replace(_person("ada"), session_id="early")
    )
    await registrations.register(storage, event.id, replace(_person("bob"), session_id="late"))
    [worker] = workers(storage, 1)

    async def due() -> bool:
        await worker.run_due()
        return bool(await _reminders(storage, event.id))

    await eventually(due, timeout=15, message="the early slot's reminder never went out")
    [reminder] = await _reminders(storage, event.id)
    assert (reminder["registration_id"], reminder["session_id"]) == (
        early.registration.id,
        "early",
    )
    assert reminder["starts_at"].startswith(
        (now + timedelta(minutes=5, seconds=2)).strftime("%Y-%m-%dT%H:%M")
    )
    shown = (await lifecycle.find_event(storage, tenant, event.id)).event
    assert shown.session_reminders_sent == {"early": [5], "late": []}
    assert shown.next_reminder_at is not None
    assert abs(
        shown.next_reminder_at.replace(tzinfo=None)
        - (now + timedelta(hours=1)).replace(tzinfo=None)
    ) < timedelta(seconds=5)

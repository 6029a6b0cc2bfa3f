"""The events service's registration and lifecycle use cases against SecantusDB, below HTTP
and Kafka: the waitlist, its promotion when seats open, walk-ins, check-ins and deletion."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from crm_events.application import lifecycle, registrations
from crm_events.application.links import RegistrationLinks
from crm_events.application.registrations import Registrant
from crm_events.application.storage import EventsStorage
from crm_events.config import EventsSettings
from crm_events.domain.models import (
    EventCancelled,
    EventChangeRefused,
    EventKind,
    EventNotFound,
    RegistrationStatus,
)
from crm_events.repositories import ensure_indexes
from crm_shared import (
    EVENT_REGISTERED,
    SignedLinks,
    StaleVersionError,
    utc_now,
)
from helpers import unique
from integration.service_storage import service_storage

pytestmark = pytest.mark.integration

LINK_SECRET = "application-tests-link-signing-secret-0123456789"


@pytest.fixture
async def storage(mongodb_uri: str) -> AsyncIterator[EventsStorage]:
    settings = EventsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("events"))
    async with service_storage(settings, ensure_indexes) as built:
        yield EventsStorage(
            mongo=built.mongo,
            database=built.database,
            outbox=built.outbox,
            links=RegistrationLinks(SignedLinks(LINK_SECRET), "https://crm.example"),
        )


def _fields(capacity: int) -> dict[str, Any]:
    return {
        "name": "Campus fair",
        "kind": EventKind.CAREER_FAIR,
        "starts_at": utc_now() + timedelta(days=7),
        "capacity": capacity,
    }


def _person(name: str) -> Registrant:
    return Registrant(email=f"{name}@example.com", first_name=name.title(), last_name="Doe")


async def _staged(storage: EventsStorage, topic: str) -> list[dict[str, Any]]:
    return [r async for r in storage.outbox.records.find({"topic": topic})]


async def test_a_full_event_waitlists_and_a_larger_capacity_promotes_first_come(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(1))).event
    first = await registrations.register(storage, event.id, _person("ada"))
    second = await registrations.register(storage, event.id, _person("bob"))
    third = await registrations.register(storage, event.id, _person("cy"))
    assert first.registration.status is RegistrationStatus.REGISTERED
    assert second.registration.status is RegistrationStatus.WAITLISTED
    assert third.registration.status is RegistrationStatus.WAITLISTED

    again = await registrations.register(storage, event.id, _person("bob"))
    assert not again.created
    assert again.registration.id == second.registration.id

    promoted = await lifecycle.edit_event(storage, tenant, event.id, 1, {"capacity": 2})
    assert promoted == 1
    standing = await lifecycle.find_event(storage, tenant, event.id)
    assert standing.registered == 2
    assert standing.event.version == 2
    statuses = {
        r.email: r.status
        for r in await registrations.registrations_for(storage, tenant, event.id, limit=50)
    }
    assert statuses["bob@example.com"] is RegistrationStatus.REGISTERED
    assert statuses["cy@example.com"] is RegistrationStatus.WAITLISTED
    assert len(await _staged(storage, EVENT_REGISTERED.name)) == 2

    with pytest.raises(StaleVersionError):
        await lifecycle.edit_event(storage, tenant, event.id, 1, {"capacity": 3})
    with pytest.raises(EventChangeRefused):
        await lifecycle.edit_event(storage, tenant, event.id, 2, {"capacity": 1})


async def test_a_cancelled_event_takes_no_registrations_and_cannot_be_cancelled_again(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(10))).event
    await lifecycle.cancel_event(storage, tenant, event.id, "the venue fell through")
    with pytest.raises(EventCancelled):
        await registrations.register(storage, event.id, _person("ada"))
    with pytest.raises(EventChangeRefused):
        await lifecycle.cancel_event(storage, tenant, event.id, None)
    with pytest.raises(EventNotFound):
        await registrations.register(storage, unique("no-event"), _person("ada"))


async def test_a_walk_in_is_checked_in_at_once_and_a_registrant_is_simply_checked_in(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(10))).event
    walked_in = await registrations.walk_in(storage, tenant, event.id, _person("ada"))
    assert walked_in.created
    assert walked_in.registration.walk_in
    assert walked_in.registration.checked_in_at is not None

    registered = await registrations.register(storage, event.id, _person("bob"))
    at_the_door = await registrations.walk_in(storage, tenant, event.id, _person("bob"))
    assert not at_the_door.created
    assert at_the_door.registration.id == registered.registration.id
    assert at_the_door.registration.checked_in_at is not None

    checked_again = await registrations.check_in(
        storage, tenant, event.id, registered.registration.id
    )
    assert checked_again.checked_in_at == at_the_door.registration.checked_in_at


async def test_an_event_walk_ins_filled_beyond_its_seats_can_still_be_edited(
    storage: EventsStorage,
) -> None:
    """Walk-ins seat 3 at an event of 1 seat: moving it to another room keeps the capacity of
    1; only lowering it is refused."""
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(1))).event
    for name in ("zoë", "josé", "jürgen"):
        await registrations.walk_in(storage, tenant, event.id, _person(name))
    assert (await lifecycle.find_event(storage, tenant, event.id)).registered == 3

    await lifecycle.edit_event(
        storage, tenant, event.id, 1, {"location": "Ødegård Hall, Room 2", "capacity": 1}
    )
    moved = await lifecycle.find_event(storage, tenant, event.id)
    assert (moved.event.location, moved.event.capacity) == ("Ødegård Hall, Room 2", 1)
    with pytest.raises(EventChangeRefused, match="3 people are registered"):
        await lifecycle.edit_event(storage, tenant, event.id, 2, {"capacity": 0})


async def test_only_an_event_nobody_registered_for_can_be_deleted(storage: EventsStorage) -> None:
    tenant = unique("tenant")
    empty = (await lifecycle.create_event(storage, tenant, "user-1", _fields(10))).event
    taken = (await lifecycle.create_event(storage, tenant, "user-1", _fields(10))).event
    await registrations.register(storage, taken.id, _person("ada"))

    await lifecycle.delete_event(storage, tenant, empty.id)
    with pytest.raises(EventNotFound):
        await lifecycle.find_event(storage, tenant, empty.id)
    with pytest.raises(EventChangeRefused):
        await lifecycle.delete_event(storage, tenant, taken.id)
    with pytest.raises(EventNotFound):
        await lifecycle.find_event(storage, unique("other-tenant"), taken.id)


async def test_a_full_session_waitlists_and_its_larger_capacity_seats_its_own_queue(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    starts = utc_now() + timedelta(days=7)
    hour = timedelta(hours=1)
    am = {"id": "am", "name": "AM", "starts_at": starts, "ends_at": starts + 2 * hour}
    pm = {"id": "pm", "name": "PM", "starts_at": starts + 3 * hour, "ends_at": starts + 6 * hour}
    fields = _fields(3) | {
        "starts_at": starts,
        "ends_at": starts + 6 * hour,
        "sessions": [am | {"capacity": 1}, pm | {"capacity": 3}],
    }
    event = (await lifecycle.create_event(storage, tenant, "user-1", fields)).event
    people = [("ada", "am"), ("bob", "am"), ("cy", "pm"), ("dee", "pm"), ("eve", "pm")]
    recorded = {}
    for name, slot in people:
        person = replace(_person(name), session_id=slot)
        recorded[name] = (await registrations.register(storage, event.id, person)).registration
    # The AM slot holds one; the event holds three in all, so Eve waits although PM has room.
    assert {n: r.status.value for n, r in recorded.items()} == {
        "ada": "registered",
        "bob": "waitlisted",
        "cy": "registered",
        "dee": "registered",
        "eve": "waitlisted",
    }
    standing = await lifecycle.find_event(storage, tenant, event.id)
    assert (standing.registered, standing.seated) == (3, {"am": 1, "pm": 2})
    # More room at the event and in AM: Bob (waiting longest, for AM) and Eve (PM) get seats.
    sessions = [am | {"capacity": 2}, pm | {"capacity": 3}]
    promoted = await lifecycle.edit_event(
        storage, tenant, event.id, event.version, {"capacity": 6, "sessions": sessions}
    )
    assert promoted == 2
    listed = {
        r.email: r.status.value
        for r in await registrations.registrations_for(storage, tenant, event.id, limit=50)
    }
    assert listed["bob@example.com"] == listed["eve@example.com"] == "registered"
    # A session somebody holds a place in cannot go.
    with pytest.raises(EventChangeRefused, match="cannot be removed"):
        await lifecycle.edit_event(
            storage, tenant, event.id, event.version + 1, {"sessions": sessions[:1]}
        )

"""Cancelling a registration against SecantusDB, below HTTP: through the registrant's signed
link (tampered and reused links refused), and the freed seat going to the longest-waiting
person, announced as `event.registration_promoted`."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from crm_events.application import cancellations, lifecycle, registrations
from crm_events.application.cancellations import InvalidLink
from crm_events.application.storage import EventsStorage
from crm_events.domain.models import CheckInRefused, RegistrationCancelRefused, RegistrationStatus
from crm_shared import EVENT_REGISTRATION_PROMOTED, utc_now
from helpers import unique
from integration.events.application.test_registrations import _fields, _person, storage

pytestmark = pytest.mark.integration

__all__ = ["storage"]  # the fixture, shared with the registration tests


async def _staged(storage: EventsStorage, topic: str) -> list[dict[str, Any]]:
    """The payloads staged on `topic`."""
    return [
        json.loads(r["value"])["data"] async for r in storage.outbox.records.find({"topic": topic})
    ]


def _token(url: str | None) -> str:
    assert url is not None
    return url.rsplit("/", 1)[1]


async def test_a_cancellation_through_the_link_seats_the_longest_waiting_once(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(1))).event
    seated = (await registrations.register(storage, event.id, _person("ada"))).registration
    first_waiting = (await registrations.register(storage, event.id, _person("bob"))).registration
    await registrations.register(storage, event.id, _person("cy"))
    link = storage.links.manage_url(seated)
    assert link.startswith("https://crm.example/public/v1/event-registrations/")

    cancelled = await cancellations.cancel_by_link(storage, _token(link))
    assert cancelled.registration.status is RegistrationStatus.CANCELLED
    assert cancelled.registration.cancelled_at is not None
    assert [r.id for r in cancelled.promoted] == [first_waiting.id]
    standing = {
        r.email: r.status
        for r in await registrations.registrations_for(storage, tenant, event.id, limit=50)
    }
    assert standing == {
        "ada@example.com": RegistrationStatus.CANCELLED,
        "bob@example.com": RegistrationStatus.REGISTERED,
        "cy@example.com": RegistrationStatus.WAITLISTED,
    }
    [promoted] = await _staged(storage, EVENT_REGISTRATION_PROMOTED.name)
    assert promoted["email"] == "bob@example.com"
    assert promoted["reason"] == "cancellation"
    assert promoted["manage_url"].startswith("https://crm.example/")

    with pytest.raises(RegistrationCancelRefused) as reused:
        await cancellations.cancel_by_link(storage, _token(link))
    assert reused.value.problem_type == "registration-cancelled"
    assert len(await _staged(storage, EVENT_REGISTRATION_PROMOTED.name)) == 1

    tampered = _token(link)[:-2] + ("AA" if not _token(link).endswith("AA") else "BB")
    with pytest.raises(InvalidLink):
        await cancellations.cancel_by_link(storage, tampered)
    with pytest.raises(InvalidLink):
        await cancellations.cancel_by_link(storage, "not-a-token")


async def test_a_waitlisted_cancellation_frees_no_seat_and_a_checked_in_one_is_refused(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(1))).event
    seated = (await registrations.register(storage, event.id, _person("ada"))).registration
    waiting = (await registrations.register(storage, event.id, _person("bob"))).registration
    later = (await registrations.register(storage, event.id, _person("cy"))).registration
    left = await cancellations.cancel_registration(storage, tenant, event.id, waiting.id)
    assert left.promoted == []
    await registrations.check_in(storage, tenant, event.id, seated.id)
    with pytest.raises(RegistrationCancelRefused) as attended:
        await cancellations.cancel_registration(storage, tenant, event.id, seated.id)
    assert attended.value.problem_type == "registration-attended"
    # A larger capacity seats the one still waiting, announced as a promotion too.
    assert await lifecycle.edit_event(storage, tenant, event.id, 1, {"capacity": 3}) == 1
    [promoted] = await _staged(storage, EVENT_REGISTRATION_PROMOTED.name)
    assert promoted["registration_id"] == later.id
    assert promoted["reason"] == "capacity"


async def test_a_registration_for_an_event_that_is_over_cannot_be_cancelled(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    fields = _fields(5) | {"starts_at": utc_now() + timedelta(seconds=2)}
    event = (await lifecycle.create_event(storage, tenant, "user-1", fields)).event
    seated = (await registrations.register(storage, event.id, _person("ada"))).registration
    await lifecycle.edit_event(
        storage, tenant, event.id, 1, {"starts_at": utc_now() - timedelta(hours=1)}
    )
    with pytest.raises(RegistrationCancelRefused) as over:
        await cancellations.cancel_registration(storage, tenant, event.id, seated.id)
    assert over.value.problem_type == "event-past"


async def test_somebody_who_cancelled_registers_again_at_the_end_of_the_queue(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(1))).event
    seated = (await registrations.register(storage, event.id, _person("ada"))).registration
    await registrations.register(storage, event.id, _person("bob"))
    await cancellations.cancel_registration(storage, tenant, event.id, seated.id)
    again = await registrations.register(storage, event.id, _person("ada"))
    assert again.created
    assert again.registration.id == seated.id
    assert again.registration.status is RegistrationStatus.WAITLISTED  # bob has the seat now
    assert again.registration.cancelled_at is None
    assert again.registration.registered_at > seated.registered_at
    repeat = await registrations.register(storage, event.id, _person("ada"))
    assert (repeat.created, repeat.registration.id) == (False, seated.id)


async def test_somebody_who_cancelled_but_came_is_registered_again_and_checked_in(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(5))).event
    seated = (await registrations.register(storage, event.id, _person("ada"))).registration
    await cancellations.cancel_registration(storage, tenant, event.id, seated.id)
    at_the_door = await registrations.walk_in(storage, tenant, event.id, _person("ada"))
    assert (at_the_door.created, at_the_door.registration.id) == (False, seated.id)
    assert at_the_door.registration.status is RegistrationStatus.REGISTERED
    assert at_the_door.registration.checked_in_at is not None
    assert at_the_door.registration.cancelled_at is None


async def test_a_cancelled_registration_is_not_checked_in_plainly_its_seat_is_gone(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(1))).event
    zoe = (await registrations.register(storage, event.id, _person("zoe"))).registration
    bob = (await registrations.register(storage, event.id, _person("bob"))).registration
    await cancellations.cancel_registration(storage, tenant, event.id, zoe.id)  # bob moves up
    with pytest.raises(CheckInRefused) as refused:
        await registrations.check_in(storage, tenant, event.id, zoe.id)
    assert refused.value.problem_type == "registration-cancelled"
    assert "cancelled this registration" in refused.value.detail
    assert "walk-in" in refused.value.detail
    seated = await storage.registrations(tenant).by_ids(event.id, [zoe.id, bob.id])
    assert seated[zoe.id].status is RegistrationStatus.CANCELLED
    assert seated[zoe.id].checked_in_at is None
    assert seated[bob.id].status is RegistrationStatus.REGISTERED
    assert await storage.registrations(tenant).registered_count(event.id) == 1
    # The door's explicit choice: letting her in as a walk-in registers her again.
    let_in = await registrations.walk_in(storage, tenant, event.id, _person("zoe"))
    assert (let_in.created, let_in.registration.id) == (False, zoe.id)
    assert let_in.registration.status is RegistrationStatus.REGISTERED
    assert let_in.registration.checked_in_at is not None

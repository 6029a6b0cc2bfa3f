"""What the events service tells the rest of the system, against SecantusDB below HTTP and
Kafka: a completed event's outcomes (`event.attended`, `event.no_show`, once per registration,
only for known candidates) and the registrants' notices when their event moves or is cancelled
(`event.invitation_changed`, with the new copy of the invitation)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from icalendar import Calendar

from crm_events.application import lifecycle, registrations
from crm_events.application.cancellations import cancel_registration
from crm_events.application.candidates import CandidateFacts
from crm_events.application.storage import EventsStorage
from crm_events.domain.models import (
    EventChangeRefused,
    EventStatus,
    Outcome,
    RegistrationStatus,
)
from crm_shared import (
    EVENT_ATTENDED,
    EVENT_INVITATION_CHANGED,
    EVENT_NO_SHOW,
    EVENT_REGISTERED,
    CandidateCreated,
    utc_now,
)
from crm_shared.directory import ProfileChange
from helpers import unique
from integration.events.application.test_registrations import _fields, _person, storage

pytestmark = pytest.mark.integration

__all__ = ["storage"]


async def _staged(storage: EventsStorage, topic: str, event_id: str) -> list[dict[str, Any]]:
    """The envelopes staged on `topic` about `event_id`."""
    envelopes = [
        json.loads(r["value"]) async for r in storage.outbox.records.find({"topic": topic})
    ]
    return [e for e in envelopes if e["data"]["event_id"] == event_id]


async def _know(storage: EventsStorage, tenant: str, name: str) -> str:
    """The candidates service announced the person: the events service learns them."""
    candidate_id = unique(f"cand-{name}")
    profile = CandidateCreated(
        candidate_id=candidate_id,
        first_name=name.title(),
        last_name="Doe",
        emails=[f"{name}@example.com"],
        source="event",
    )

    async def learn(session: Any) -> None:
        await CandidateFacts(storage).know(
            tenant, [ProfileChange(profile, utc_now())], session=session
        )

    await storage.in_transaction(learn)
    return candidate_id


def _vevent(ics: str) -> tuple[str, Any]:
    calendar = Calendar.from_ical(ics)
    [entry] = calendar.walk("VEVENT")
    return str(calendar["METHOD"]), entry


async def test_completing_an_event_settles_each_registration_once(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    under_way = _fields(2) | {
        "starts_at": utc_now() - timedelta(hours=1),
        "ends_at": utc_now() + timedelta(hours=2),
    }
    event = (await lifecycle.create_event(storage, tenant, "user-1", under_way)).event
    came = (await registrations.register(storage, event.id, _person("ada"))).registration
    stayed_away = (await registrations.register(storage, event.id, _person("bob"))).registration
    await registrations.register(storage, event.id, _person("cy"))  # waitlisted
    ada = await _know(storage, tenant, "ada")  # known before the event is completed
    await registrations.check_in(storage, tenant, event.id, came.id)

    await lifecycle.move_event(storage, tenant, event.id, EventStatus.COMPLETED)
    [attended] = await _staged(storage, EVENT_ATTENDED.name, event.id)
    assert attended["subject"] == ada
    assert attended["tenant_id"] == tenant
    assert attended["data"]["tenant_id"] == tenant
    assert attended["data"]["registration_id"] == came.id
    assert attended["data"]["event_name"] == "Campus fair"
    assert attended["data"]["occurred_at"] is not None
    # Bob was nobody's candidate yet: his no-show goes out once he is known, naming him.
    assert await _staged(storage, EVENT_NO_SHOW.name, event.id) == []
    bob = await _know(storage, tenant, "bob")
    [no_show] = await _staged(storage, EVENT_NO_SHOW.name, event.id)
    assert (no_show["data"]["candidate_id"], no_show["data"]["registration_id"]) == (
        bob,
        stayed_away.id,
    )

    # A retried completion is refused and settles nothing twice; nor does relearning people.
    with pytest.raises(EventChangeRefused):
        await lifecycle.move_event(storage, tenant, event.id, EventStatus.COMPLETED)
    await _know(storage, tenant, "cy")
    assert len(await _staged(storage, EVENT_ATTENDED.name, event.id)) == 1
    assert len(await _staged(storage, EVENT_NO_SHOW.name, event.id)) == 1
    listed = await registrations.registrations_for(storage, tenant, event.id, limit=50)
    assert {r.email: r.outcome for r in listed} == {
        "ada@example.com": "attended",
        "bob@example.com": "no_show",
        "cy@example.com": None,
    }

    # Bob turns up late after all: he attended.
    await registrations.check_in(storage, tenant, event.id, stayed_away.id)
    late = [
        e
        for e in await _staged(storage, EVENT_ATTENDED.name, event.id)
        if e["data"]["registration_id"] == stayed_away.id
    ]
    assert len(late) == 1


async def test_registrants_are_told_when_the_event_moves_and_when_it_is_cancelled(
    storage: EventsStorage,
) -> None:
    tenant = unique("tenant")
    event = (await lifecycle.create_event(storage, tenant, "user-1", _fields(1))).event
    seated = (await registrations.register(storage, event.id, _person("ada"))).registration
    waiting = (await registrations.register(storage, event.id, _person("bob"))).registration
    gone = (await registrations.register(storage, event.id, _person("cy"))).registration
    await cancel_registration(storage, tenant, event.id, gone.id)
    [confirmation] = await _staged(storage, EVENT_REGISTERED.name, event.id)
    method, first_copy = _vevent(confirmation["data"]["invitation_ics"])
    assert (method, int(first_copy["SEQUENCE"])) == ("REQUEST", 1)
    assert confirmation["data"]["walk_in"] is False

    # A new name is not worth a mail; a new venue is.
    await lifecycle.edit_event(storage, tenant, event.id, 1, {"name": "Campus fair 2027"})
    assert await _staged(storage, EVENT_INVITATION_CHANGED.name, event.id) == []
    await lifecycle.edit_event(storage, tenant, event.id, 2, {"location": "Hall B"})
    updates = await _staged(storage, EVENT_INVITATION_CHANGED.name, event.id)
    assert {u["data"]["registration_id"] for u in updates} == {seated.id, waiting.id}
    update = next(u["data"] for u in updates if u["data"]["registration_id"] == seated.id)
    assert (update["change"], update["changed_fields"], update["location"]) == (
        "updated",
        ["location"],
        "Hall B",
    )
    method, moved = _vevent(update["invitation_ics"])
    assert (method, str(moved["UID"]), str(moved["LOCATION"])) == (
        "REQUEST",
        str(first_copy["UID"]),
        "Hall B",
    )
    assert int(moved["SEQUENCE"]) > int(first_copy["SEQUENCE"])
    assert update["notify_registrant"] is True
    # Old against new, so the mail can say what changed; and who holds no seat.
    assert update["previous"]["location"] is None
    assert update["previous"]["starts_at"] == update["starts_at"]
    assert update["waitlisted"] is False
    on_waitlist = next(u["data"] for u in updates if u["data"]["registration_id"] == waiting.id)
    assert on_waitlist["waitlisted"] is True

    # A correction the organiser keeps quiet is announced all the same, marked not to mail.
    await lifecycle.edit_event(
        storage, tenant, event.id, 3, {"location": "Hall B2"}, notify_registrants=False
    )
    notices = await _staged(storage, EVENT_INVITATION_CHANGED.name, event.id)
    quiet = [n["data"] for n in notices if n["data"]["location"] == "Hall B2"]
    assert {q["registration_id"] for q in quiet} == {seated.id, waiting.id}
    assert {q["notify_registrant"] for q in quiet} == {False}

    await lifecycle.cancel_event(storage, tenant, event.id, "Venue flooded")
    notices = await _staged(storage, EVENT_INVITATION_CHANGED.name, event.id)
    cancellations = [n["data"] for n in notices if n["data"]["change"] == "cancelled"]
    assert {c["registration_id"] for c in cancellations} == {seated.id, waiting.id}
    cancelled = next(c for c in cancellations if c["registration_id"] == seated.id)
    assert cancelled["cancellation_reason"] == "Venue flooded"
    assert cancelled["notify_registrant"] is True
    assert cancelled["previous"] is None
    method, withdrawn = _vevent(cancelled["invitation_ics"])
    assert (method, str(withdrawn["STATUS"]), str(withdrawn["UID"])) == (
        "CANCEL",
        "CANCELLED",
        str(first_copy["UID"]),
    )
    assert int(withdrawn["SEQUENCE"]) > int(moved["SEQUENCE"])


async def test_a_waitlisted_person_checked_in_at_the_door_takes_a_seat(
    storage: EventsStorage,
) -> None:
    """The door let Cy in from the waitlist: the events service's own counts say what the
    analytics report and the console say, a seat taken (over the capacity) and one fewer
    waiting, and completing the event makes Cy `attended` like anybody checked in."""
    tenant = unique("tenant")
    under_way = _fields(2) | {
        "starts_at": utc_now() - timedelta(hours=1),
        "ends_at": utc_now() + timedelta(hours=2),
    }
    event = (await lifecycle.create_event(storage, tenant, "user-1", under_way)).event
    for name in ("ada", "bob"):
        await registrations.register(storage, event.id, _person(name))
    cy = (await registrations.register(storage, event.id, _person("cy"))).registration
    dee = (await registrations.register(storage, event.id, _person("dee"))).registration
    assert (cy.status, dee.status) == (RegistrationStatus.WAITLISTED, RegistrationStatus.WAITLISTED)

    seated = await registrations.check_in(storage, tenant, event.id, cy.id)
    assert seated.status is RegistrationStatus.REGISTERED
    assert seated.checked_in_at is not None
    assert seated.promoted_at == seated.checked_in_at
    assert await storage.registrations(tenant).registered_count(event.id) == 3  # capacity 2
    now = await registrations.registrations_for(storage, tenant, event.id, limit=50)
    assert [r.id for r in now if r.status is RegistrationStatus.WAITLISTED] == [dee.id]

    await lifecycle.move_event(storage, tenant, event.id, EventStatus.COMPLETED)
    listed = await registrations.registrations_for(storage, tenant, event.id, limit=50)
    assert {r.id: r.outcome for r in listed if r.id in (cy.id, dee.id)} == {
        cy.id: Outcome.ATTENDED,
        dee.id: None,
    }

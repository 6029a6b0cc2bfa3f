"""What the event pages read and change through the API: events, their registrations and the
door's check-in; and the public registration page's two calls."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from crm_console.adapters.gateway_api import ApiProblem, Caller, Download, GatewayApi, SignedOut
from crm_console.application.parts import Part, items, part
from crm_console.domain.events import (
    Attendance,
    OffDayDoor,
    attendance,
    door_matches,
    has_started,
    mail_outcomes,
    off_day_door,
    readmission_note,
    readmitted_outcome,
    took_a_seat,
    waitlist_note,
    walk_in_outcome,
    was_readmitted,
)

API = "/api/v1/events"
PUBLIC = "/public/v1/events"
# The registrant's own link, answered as JSON by the events service (docs/events.md).
REGISTRANT_LINKS = "/public/v1/event-registrations"


# Registrant mails (campaigns) an event page shows: one page of the API's largest size.
MAILS_SHOWN = 200

# Registrations asked for a page at a time (the API's largest page): the event page and the
# door read every page, so a fair with thousands of registrants shows them all.
REGISTRATIONS_PAGE = 200


# What the report panel says for an event analytics has not counted anything of yet.
NO_REPORT_YET = "nothing counted yet: the report starts with the first registration."


@dataclass(frozen=True)
class EventPage:
    event: dict[str, Any]
    attendance: Attendance
    # Why the registrants' mail outcomes are not shown, when they are not.
    mails_unavailable: str | None = None
    # The event's analytics report (docs/analytics.md), or why it is not shown.
    report: Part = field(default_factory=Part)
    # The tenant's embedding settings (the sites that may frame the form), or why not shown.
    embedding: Part = field(default_factory=Part)
    # Whether its start has come: only then may it be marked completed.
    started: bool = True


class EventDesk:
    """The event coordinator's use cases."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def events(self, caller: Caller) -> list[dict[str, Any]]:
        """The tenant's events, soonest first."""
        found: list[dict[str, Any]] = await self._api.get(caller, API)
        return found

    async def event(self, caller: Caller, event_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.get(caller, f"{API}/{event_id}")
        return found

    async def registrations(self, caller: Caller, event_id: str) -> list[dict[str, Any]]:
        """Every registration of the event, page after page (one call per 200)."""
        return await self._api.every_page(
            caller, f"{API}/{event_id}/registrations", {"limit": REGISTRATIONS_PAGE}
        )

    async def page(self, caller: Caller, event_id: str) -> EventPage:
        """The event, who registered (every page), what became of the mails to them, the
        event's report and the sites that may embed its form, fetched together (one call each,
        a call per 200 registrations; the page still shows when the mails, the report or the
        sites cannot be read)."""
        event, registrations, mails, report, embedding = await asyncio.gather(
            self._api.get(caller, f"{API}/{event_id}"),
            self.registrations(caller, event_id),
            part(
                self._api.get(
                    caller, "/api/v1/event-mails", {"event_id": event_id, "limit": MAILS_SHOWN}
                )
            ),
            part(
                self._api.get(caller, f"/api/v1/analytics/events/{event_id}"),
                when_missing=NO_REPORT_YET,
            ),
            part(self._api.get(caller, "/api/v1/settings/event-embedding")),
        )
        outcomes = mail_outcomes(items(mails.data)) if mails.data is not None else {}
        return EventPage(
            event,
            attendance(registrations, outcomes, event),
            mails.unavailable,
            report=report,
            embedding=embedding,
            started=has_started(event, datetime.now(UTC)),
        )

    async def report_csv(
        self, caller: Caller, event_id: str, params: dict[str, str] | None = None
    ) -> Download:
        """The event's analytics report as the API's CSV file (`params`: its separator)."""
        return await self._api.download(
            caller, f"/api/v1/analytics/events/{event_id}", {"format": "csv", **(params or {})}
        )

    async def create(self, caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = await self._api.send(caller, "POST", API, body)
        return created

    async def update(
        self, caller: Caller, event_id: str, version: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Edits the version the form was filled from (a 412 when someone changed it since)."""
        updated: dict[str, Any] = await self._api.send(
            caller, "PATCH", f"{API}/{event_id}", body, headers={"If-Match": f'"{version}"'}
        )
        return updated

    async def cancel(self, caller: Caller, event_id: str, reason: str) -> None:
        await self._api.send(
            caller, "POST", f"{API}/{event_id}/cancel", {"reason": reason.strip() or None}
        )

    async def delete(self, caller: Caller, event_id: str) -> None:
        """Deletes an event nobody registered for (the API refuses one with registrations)."""
        await self._api.send(caller, "DELETE", f"{API}/{event_id}")

    async def move(
        self, caller: Caller, event_id: str, action: Literal["publish", "complete"]
    ) -> None:
        """Publishes a draft or completes a started event."""
        await self._api.send(caller, "POST", f"{API}/{event_id}/{action}")

    async def door(
        self, caller: Caller, event_id: str, query: str, event: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Registrants the door's search finds among all the event's registrations (a call
        per 200 of them); one who cancelled carries what letting them in would do to the seats
        (`readmission`), one waiting what checking them in would (`seating`), from the event's
        counts (`event`, read only when such a person is found and it was not given; for the
        waitlisted alone, an event that cannot be read just now leaves the note out)."""
        matches = door_matches(await self.registrations(caller, event_id), query)
        # Not checked in yet: what their check-in would do to the seats is said beside it.
        waiting = [
            person
            for person in matches
            if person.get("status") in ("cancelled", "waitlisted")
            and not person.get("checked_in_at")
        ]
        if waiting:
            try:
                counts = event if event is not None else await self.event(caller, event_id)
            except ApiProblem:
                if any(person["status"] == "cancelled" for person in waiting):
                    raise
                return matches
            for person in waiting:
                if person["status"] == "cancelled":
                    person["readmission"] = readmission_note(counts, person)
                else:
                    person["seating"] = waitlist_note(counts, person)
        return matches

    async def time_zone(self, caller: Caller, event_id: str) -> str:
        """The event's time zone, in which the door shows its times; UTC (so labelled) when the
        event cannot be read just now: the check-in itself is done."""
        return (await self.door_clock(caller, event_id))[0]

    async def door_clock(self, caller: Caller, event_id: str) -> tuple[str, OffDayDoor | None]:
        """The event's time zone (as `time_zone`) and, while the door is open on another day
        than the event's, that day (`off_day_door`; None when the event cannot be read just
        now)."""
        try:
            event = await self.event(caller, event_id)
        except SignedOut:
            raise
        except ApiProblem:
            return "UTC", None
        return str(event.get("time_zone") or "UTC"), off_day_door(event, datetime.now(UTC))

    async def check_in(self, caller: Caller, event_id: str, registration_id: str) -> dict[str, Any]:
        attended: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/{event_id}/registrations/{registration_id}/check-in"
        )
        return attended

    async def upload_check_ins(self, caller: Caller, event_id: str, batch: Any) -> dict[str, Any]:
        """Uploads the check-ins a door queued while offline; the API's report by item."""
        report: dict[str, Any] = await self._api.send(
            caller, "POST", f"{API}/{event_id}/check-ins", batch
        )
        return report

    async def walk_in(
        self, caller: Caller, event_id: str, person: dict[str, str]
    ) -> tuple[dict[str, Any], bool]:
        """Registers somebody at the door and checks them in; whether the registration is new
        (201) or theirs from before (200)."""
        answer = await self._api.request(caller, "POST", f"{API}/{event_id}/walk-ins", json=person)
        registration: dict[str, Any] = answer.json()
        return registration, answer.status_code == 201

    async def walk_in_said(
        self,
        caller: Caller,
        event_id: str,
        person: dict[str, str],
        *,
        had_cancelled: bool = False,
    ) -> tuple[dict[str, Any], bool, str]:
        """A walk-in (`walk_in`) and what the door says of it. Somebody who had cancelled
        (`had_cancelled`: the door let them in as such, or the answer shows it) is said to be
        registered again, and whether that took a seat, from the event's counts read after."""
        registration, created = await self.walk_in(caller, event_id, person)
        if not (had_cancelled or was_readmitted(registration, created=created)):
            return registration, created, walk_in_outcome(registration, created=created)
        try:
            event = await self.event(caller, event_id)
        except SignedOut:
            raise
        except ApiProblem:
            return registration, created, readmitted_outcome(registration)
        seat = took_a_seat(event, registration)
        return registration, created, readmitted_outcome(registration, seat)


class PublicRegistration:
    """The public registration page: anyone, no session."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def event(self, event_id: str, visitor: str | None) -> dict[str, Any]:
        found: dict[str, Any] = await self._api.public(
            "GET", f"{PUBLIC}/{event_id}", forwarded_for=visitor
        )
        return found

    async def register(
        self, event_id: str, person: dict[str, Any], visitor: str | None
    ) -> dict[str, Any]:
        registered: dict[str, Any] = await self._api.public(
            "POST", f"{PUBLIC}/{event_id}/registrations", person, forwarded_for=visitor
        )
        return registered


class RegistrantLink:
    """The registrant's own page, behind the signed link the mails carry: anyone holding the
    link, no session."""

    def __init__(self, api: GatewayApi) -> None:
        self._api = api

    async def registration(self, token: str, visitor: str | None) -> dict[str, Any]:
        """The registration the link names, with its event (a 404 problem for a forged one)."""
        found: dict[str, Any] = await self._api.public(
            "GET", f"{REGISTRANT_LINKS}/{token}", forwarded_for=visitor
        )
        return found

    async def cancel(self, token: str, visitor: str | None) -> dict[str, Any]:
        """Cancels it; the API's 409 says why it cannot be (cancelled already, attended, over)."""
        cancelled: dict[str, Any] = await self._api.public(
            "POST", f"{REGISTRANT_LINKS}/{token}/cancel", forwarded_for=visitor
        )
        return cancelled

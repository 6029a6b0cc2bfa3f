"""Events as the console's pages handle them: the event form (a local date and time in a named
time zone, as a coordinator thinks of it) turned into the API's fields, registrations split
into the registered and the waitlist, and the door's search by name, e-mail or code."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_console.domain.navigation import CONSOLE_PREFIX

KINDS = {
    "career_fair": "Career fair",
    "webinar": "Webinar",
    "meetup": "Meetup",
    "campus": "Campus",
    "open_house": "Open house",
}
# A registration's code is the start of its id: short enough to read out at the door, long
# enough that one event's registrations do not share it.
CODE_LENGTH = 8
# Who the door's search shows at most; a longer list is narrowed by typing more.
CHECK_IN_MATCHES = 20


@dataclass(frozen=True)
class EventForm:
    """The event form as the person filled it in, and what is wrong with it before the API is
    asked (the API's own refusals are added next to the same fields)."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors


def _local_starts_at(date_time: str, zone_name: str) -> tuple[str | None, dict[str, str]]:
    """The ISO time with its offset of a `datetime-local` value in the IANA zone `zone_name`."""
    errors: dict[str, str] = {}
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = "not a time zone name such as Europe/Berlin or UTC"
        zone = None
    try:
        local = datetime.fromisoformat(date_time)
    except ValueError:
        errors["starts_at"] = "a date and a time are needed"
        local = None
    if zone is None or local is None:
        return None, errors
    return local.replace(tzinfo=zone).isoformat(), errors


def event_form(form: Mapping[str, str]) -> EventForm:
    """The API body of the create and the edit form: every field (an empty location clears
    it), with the start as an instant with its offset."""
    values = {name: str(form.get(name, "")).strip() for name in EVENT_FIELDS}
    values["time_zone"] = values["time_zone"] or "UTC"
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "a name is needed"
    if values["kind"] not in KINDS:
        errors["kind"] = "choose a kind of event"
    starts_at, time_errors = _local_starts_at(values["starts_at"], values["time_zone"])
    errors.update(time_errors)
    capacity: int | None = None
    try:
        capacity = int(values["capacity"])
    except ValueError:
        errors["capacity"] = "a whole number of seats"
    body: dict[str, Any] = {
        "name": values["name"],
        "kind": values["kind"],
        "starts_at": starts_at,
        "location": values["location"] or None,
        "capacity": capacity,
    }
    return EventForm(values=values, errors=errors, body=body)


EVENT_FIELDS = ("name", "kind", "starts_at", "time_zone", "location", "capacity")


def form_values(event: Mapping[str, Any]) -> dict[str, str]:
    """An event's fields as the edit form shows them: its start in UTC (the API keeps the
    instant, not the zone it was entered in)."""
    starts = datetime.fromisoformat(str(event["starts_at"]).replace("Z", "+00:00"))
    in_utc = starts.astimezone(ZoneInfo("UTC"))
    return {
        "name": str(event.get("name") or ""),
        "kind": str(event.get("kind") or ""),
        "starts_at": in_utc.strftime("%Y-%m-%dT%H:%M"),
        "time_zone": "UTC",
        "location": str(event.get("location") or ""),
        "capacity": str(event.get("capacity") or ""),
    }


def code_of(registration: Mapping[str, Any]) -> str:
    """The code a registrant shows at the door."""
    return str(registration["id"])[:CODE_LENGTH].upper()


@dataclass(frozen=True)
class Attendance:
    """An event's registrations as its page lists them."""

    registered: list[dict[str, Any]]
    waitlisted: list[dict[str, Any]]
    checked_in: int


def attendance(registrations: Iterable[Mapping[str, Any]]) -> Attendance:
    """Registered people by name, the waitlist in the order it is served (first come)."""
    registered = [dict(r) for r in registrations if r.get("status") == "registered"]
    waitlisted = [dict(r) for r in registrations if r.get("status") == "waitlisted"]
    for person in (*registered, *waitlisted):
        person["code"] = code_of(person)
    registered.sort(key=lambda r: (str(r["last_name"]).lower(), str(r["first_name"]).lower()))
    waitlisted.sort(key=lambda r: str(r["registered_at"]))
    checked_in = sum(1 for r in registered if r.get("checked_in_at"))
    return Attendance(registered, waitlisted, checked_in)


def door_matches(registrations: Iterable[Mapping[str, Any]], query: str) -> list[dict[str, Any]]:
    """Who the door's search finds: a code matches its registration exactly, otherwise every
    word must start a part of the name or the e-mail address. Waitlisted people are included
    (the coordinator decides whether a seat is free); an empty search finds nobody."""
    words = query.strip().lower().split()
    if not words:
        return []
    people = [dict(r) | {"code": code_of(r)} for r in registrations]
    by_code = [p for p in people if len(words) == 1 and p["code"].lower() == words[0]]
    if by_code:
        return by_code

    def matches(person: Mapping[str, Any]) -> bool:
        parts = f"{person['first_name']} {person['last_name']} {person['email']}".lower()
        pieces = [*parts.replace("@", " ").replace(".", " ").split(), str(person["email"])]
        return all(any(piece.startswith(word) for piece in pieces) for word in words)

    found = [p for p in people if matches(p)]
    found.sort(key=lambda p: (str(p["last_name"]).lower(), str(p["first_name"]).lower()))
    return found[:CHECK_IN_MATCHES]


WALK_IN_FIELDS = ("first_name", "last_name", "email")


def walk_in_person(form: Mapping[str, str]) -> dict[str, str]:
    """The door's walk-in form as the API takes it (the events API checks the values)."""
    return {name: str(form.get(name, "")).strip() for name in WALK_IN_FIELDS}


def walk_in_outcome(registration: Mapping[str, Any], *, created: bool) -> str:
    """What the door says after a walk-in: a new registration checked in, or somebody who had
    registered under that address and is now checked in (the API answers 200, not 201)."""
    name = f"{registration['first_name']} {registration['last_name']}"
    if created:
        return f"{name} is registered as a walk-in and checked in (code {code_of(registration)})."
    return f"{name} had registered (code {code_of(registration)}) and is now checked in."


def registration_path(event_id: str) -> str:
    """The event's public registration page, to share (the browser prefixes its origin: the
    console does not know the address people reach the gateway at)."""
    return f"{CONSOLE_PREFIX}/public/events/{event_id}"

"""Events as the console's pages handle them: the event form (a local date and time in a named
time zone, as a coordinator thinks of it) turned into the API's fields, registrations split
into the registered and the waitlist, and the door's search by name, e-mail or code."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_console.domain.navigation import CONSOLE_PREFIX
from crm_console.domain.questions import Question
from crm_shared.text import APOSTROPHES, fold, umlauts_spelt_out, without_apostrophes

KINDS = {
    "career_fair": "Career fair",
    "webinar": "Webinar",
    "meetup": "Meetup",
    "campus": "Campus",
    "open_house": "Open house",
}
# Who the door's search shows at most; a longer list is narrowed by typing more.
CHECK_IN_MATCHES = 20


@dataclass(frozen=True)
class EventForm:
    """The event form as the person filled it in, and what is wrong with it before the API is
    asked (the API's own refusals are added next to the same fields)."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    # The registration questions as typed, one row each (`question_rows`).
    questions: list[dict[str, str]] = field(default_factory=list)
    # The sessions (time slots) as typed, one row each (`session_rows`).
    sessions: list[dict[str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors


FORMATS = {"in_person": "In person", "virtual": "Virtual", "hybrid": "Hybrid"}
# The form's times: wall-clock times in the event's zone, as a coordinator thinks of them.
TIME_FIELDS = ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")
EVENT_FIELDS = (
    "name",
    "kind",
    "format",
    "starts_at",
    "ends_at",
    "time_zone",
    "location",
    "join_url",
    "registration_opens_at",
    "registration_closes_at",
    "capacity",
    "draft",
    "notify_registrants",
)


def _local_time(name: str, value: str, errors: dict[str, str]) -> str | None:
    """A `datetime-local` value as the API takes a wall-clock time (no offset: the API reads
    it in the event's zone, and refuses a time the clocks skip there); None when empty."""
    if not value:
        if name == "starts_at":
            errors[name] = "a date and a time are needed"
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=None).isoformat(timespec="seconds")
    except ValueError:
        errors[name] = "a date and a time are needed"
        return None


def event_form(form: Mapping[str, str], *, creating: bool = False) -> EventForm:
    """The API body of the create and the edit form: every field (an empty location, join URL
    or time clears it), the times as wall-clock times in the named zone; a new event can be
    saved as a draft, an edit says whether registrants are told of it (the box unticked sends
    nothing, so it is told only when ticked)."""
    values = {name: str(form.get(name, "")).strip() for name in EVENT_FIELDS}
    values["time_zone"] = values["time_zone"] or "UTC"
    values["format"] = values["format"] or "in_person"
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "a name is needed"
    if values["kind"] not in KINDS:
        errors["kind"] = "choose a kind of event"
    if values["format"] not in FORMATS:
        errors["format"] = "choose in person, virtual or hybrid"
    try:
        ZoneInfo(values["time_zone"])
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = "not a time zone name such as Europe/Berlin or UTC"
    times = {name: _local_time(name, values[name], errors) for name in TIME_FIELDS}
    # Said here with the rest, as the API says them only once the fields are otherwise valid
    # (one round of errors, not three); both times are in the event's zone.
    for first, then, why in (
        ("starts_at", "ends_at", "the event must end after it starts"),
        (
            "registration_opens_at",
            "registration_closes_at",
            "registration must close after it opens",
        ),
    ):
        start, end = times[first], times[then]
        if start is not None and end is not None and end <= start:
            errors.setdefault(then, why)
    capacity: int | None = None
    try:
        capacity = int(values["capacity"])
    except ValueError:
        errors["capacity"] = "a whole number of seats"
    else:
        if capacity < 1:
            errors["capacity"] = "Enter 1 or more."
    body: dict[str, Any] = {
        "name": values["name"],
        "kind": values["kind"],
        "format": values["format"],
        "time_zone": values["time_zone"],
        **times,
        "location": values["location"] or None,
        "join_url": values["join_url"] or None,
        "capacity": capacity,
    }
    questions = question_rows(form)
    body["questions"] = question_body(questions)
    sessions = session_rows(form)
    body["sessions"] = session_body(sessions, errors)
    if creating and values["draft"]:
        body["status"] = "draft"
    if not creating:
        body["notify_registrants"] = bool(values["notify_registrants"])
    return EventForm(
        values=values, errors=errors, body=body, questions=questions, sessions=sessions
    )


QUESTION_KINDS = {
    "text": "Text",
    "choice": "Choice (one of the options)",
    "yes_no": "Yes or no",
    "consent": "Consent box (optional; confirmed by a mailed link)",
}
CONSENT_PURPOSES = {
    "marketing": "Marketing mail (jobs, events)",
    "talent_community": "Talent community",
}
# Empty rows the form offers under the event's questions, to add more.
BLANK_QUESTION_ROWS = 2
_QUESTION_PART = re.compile(r"^q(\d+)\.(id|label|kind|required|options|purpose|help)$")


def question_rows(form: Mapping[str, str]) -> list[dict[str, str]]:
    """The question rows of the event form (`q<n>.<part>`) in their order, those left without
    a label dropped (a blank row, or a question taken out)."""
    return _rows(form, _QUESTION_PART, "label")


def _rows(form: Mapping[str, str], part: re.Pattern[str], needed: str) -> list[dict[str, str]]:
    """The form's rows whose fields `part` names (`<letter><n>.<part>`), by row number, those
    with `needed` left empty dropped."""
    rows: dict[int, dict[str, str]] = {}
    for name, value in form.items():
        if matched := part.match(name):
            rows.setdefault(int(matched[1]), {})[matched[2]] = str(value).strip()
    return [rows[n] for n in sorted(rows) if rows[n].get(needed)]


def question_body(rows: Iterable[Mapping[str, str]]) -> list[dict[str, Any]]:
    """The questions as the events API takes them. A new question's id is made from its label
    (the API names answers by it); a question the event had keeps its id, so its answers stay
    linked."""
    rows = list(rows)
    # A new question's id never takes an id a question the event had keeps.
    taken = {row["id"] for row in rows if row.get("id")}
    questions: list[dict[str, Any]] = []
    for row in rows:
        kind = row.get("kind") or "text"
        question_id = row.get("id") or _id_for(row.get("label", ""), taken)
        taken.add(question_id)
        questions.append(
            {
                "id": question_id,
                "label": row.get("label", ""),
                "kind": kind,
                "required": bool(row.get("required")) and kind != "consent",
                "options": _lines(row.get("options", "")) if kind == "choice" else [],
                "purpose": (row.get("purpose") or "marketing") if kind == "consent" else None,
                "help": row.get("help") or None,
            }
        )
    return questions


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _id_for(label: str, taken: set[str]) -> str:
    """A question id from its label: `Which team?` -> `which_team` (ASCII, at most 40)."""
    folded = unicodedata.normalize("NFKD", label.casefold()).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "_", folded).strip("_")[:32] or "question"
    if not stem[0].isalpha():
        stem = f"q_{stem}"[:32]
    candidate, n = stem, 2
    while candidate in taken:
        candidate, n = f"{stem}_{n}", n + 1
    return candidate


def event_question_rows(event: Mapping[str, Any]) -> list[dict[str, str]]:
    """An event's questions as the edit form's rows."""
    return [
        {
            "id": str(question.get("id") or ""),
            "label": str(question.get("label") or ""),
            "kind": str(question.get("kind") or "text"),
            "required": "on" if question.get("required") else "",
            "options": "\n".join(question.get("options") or []),
            "purpose": str(question.get("purpose") or ""),
            "help": str(question.get("help") or ""),
        }
        for question in event.get("questions") or []
    ]


def row_errors(paths: Mapping[str, str]) -> dict[str, str]:
    """The API's refusals of questions and sessions by row (`questions[<n>]`,
    `sessions[<n>]`): its own (`questions[2]`) and request validation's
    (`questions.2.label`)."""
    errors: dict[str, str] = {}
    for path, detail in paths.items():
        if matched := re.match(r"^(questions|sessions)(?:\[(\d+)\]|\.(\d+))", path):
            errors.setdefault(f"{matched[1]}[{matched[2] or matched[3]}]", detail)
    return errors


# Empty rows the form offers under the event's sessions, to add more.
BLANK_SESSION_ROWS = 2
_SESSION_PART = re.compile(r"^s(\d+)\.(id|name|starts_at|ends_at|capacity)$")


def session_rows(form: Mapping[str, str]) -> list[dict[str, str]]:
    """The session rows of the event form (`s<n>.<part>`) in their order, those left without
    a name dropped (a blank row, or a session taken out)."""
    return _rows(form, _SESSION_PART, "name")


def session_body(rows: Iterable[Mapping[str, str]], errors: dict[str, str]) -> list[dict[str, Any]]:
    """The sessions as the events API takes them: times as wall-clock times in the event's
    zone; a session the event had keeps its id (and its registrants), a new one gets one from
    the API. A row without its times or seats is named in `errors` by its place."""
    sessions: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        found: dict[str, str] = {}
        times = {
            part: _local_time(part, row.get(part, ""), found) for part in ("starts_at", "ends_at")
        }
        if found or times["ends_at"] is None:
            errors[f"sessions[{index}]"] = "a session needs a start and an end (date and time)"
        try:
            capacity: int | None = int(row.get("capacity", ""))
        except ValueError:
            capacity = None
            errors.setdefault(f"sessions[{index}]", "a session needs a whole number of seats")
        sessions.append(
            {"name": row.get("name", ""), **times, "capacity": capacity}
            | ({"id": row["id"]} if row.get("id") else {})
        )
    return sessions


def event_session_rows(event: Mapping[str, Any]) -> list[dict[str, str]]:
    """An event's sessions as the edit form's rows: times in the event's own zone."""
    zone = _zone_of(event)
    return [
        {
            "id": str(session.get("id") or ""),
            "name": str(session.get("name") or ""),
            "starts_at": _local_value(session.get("starts_at"), zone),
            "ends_at": _local_value(session.get("ends_at"), zone),
            "capacity": str(session.get("capacity") or ""),
        }
        for session in event.get("sessions") or []
    ]


def _zone_of(event: Mapping[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(str(event.get("time_zone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def in_zone(instant: Any, zone_name: Any) -> str:
    """An API instant (UTC) as the wall-clock time in the zone named (UTC when unknown), for
    staff and registrant pages that label it with that zone; empty for none."""
    return _local_value(instant, _zone_of({"time_zone": zone_name}))


def _local_value(instant: Any, zone: ZoneInfo) -> str:
    """An API instant as a `datetime-local` value in `zone`; empty for none."""
    if not instant:
        return ""
    parsed = datetime.fromisoformat(str(instant).replace("Z", "+00:00"))
    return parsed.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def form_values(event: Mapping[str, Any]) -> dict[str, str]:
    """An event's fields as the edit form shows them: its times in its own time zone."""
    zone_name = str(event.get("time_zone") or "UTC")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone_name, zone = "UTC", ZoneInfo("UTC")
    return {
        "name": str(event.get("name") or ""),
        "kind": str(event.get("kind") or ""),
        "format": str(event.get("format") or "in_person"),
        "time_zone": zone_name,
        **{name: _local_value(event.get(name), zone) for name in TIME_FIELDS},
        "location": str(event.get("location") or ""),
        "join_url": str(event.get("join_url") or ""),
        "capacity": str(event.get("capacity") or ""),
        "notify_registrants": "on",  # ticked: telling registrants is the default
    }


def has_started(event: Mapping[str, Any], now: datetime) -> bool:
    """Whether the event's start has come (the API completes only an event that has started);
    an event whose start cannot be read counts as started, so the API decides."""
    try:
        starts_at = datetime.fromisoformat(str(event.get("starts_at")))
    except ValueError:
        return True
    if starts_at.tzinfo is None:
        return True
    return starts_at <= now


def status_question(action: str, event: Mapping[str, Any], started: bool) -> Question | None:
    """What the event page's publish, complete, cancel or delete button asks first; None for
    the publish of an event that has not started (nobody is surprised by it)."""
    name = str(event.get("name") or "this event")
    if action == "publish":
        if not started:
            return None
        return Question(
            f"{name} has started already: publish it all the same? Nobody can register for it.",
            "Publish all the same",
            "primary",
        )
    if action == "complete":
        return Question(
            f"Mark {name} as completed? Registration and edits close.", "Mark completed", "primary"
        )
    if action == "cancel":
        return Question(
            f"Cancel {name}? Registration closes and this cannot be undone.", "Cancel event"
        )
    return Question(f"Delete {name}? It cannot be brought back.", "Delete event")


@dataclass(frozen=True)
class OffDayDoor:
    """A door open on another day than the event's (in its zone): `early`, before its first
    day begins (an offline door's upload of a check-in then is refused), or after its last
    day ended. A check-in then still counts as attendance (a late one turns a no-show into an
    attendee), so the door asks first."""

    day: str
    early: bool

    @property
    def question(self) -> str:
        """How the door's question before a check-in begins."""
        return (
            f"The event's day is {self.day}:" if self.early else f"The event ended on {self.day}:"
        )

    @property
    def check_in_question(self) -> str:
        """What the door asks before a check-in, for a browser without script."""
        late = "" if self.early else " (a no-show becomes an attendee)"
        return f"{self.question} a check-in now counts as attendance{late}."


def off_day_door(event: Mapping[str, Any], now: datetime) -> OffDayDoor | None:
    """The event's first day (before it begins in the event's zone) or last day (after it
    ended there) while the door is open on another day; None on the event's days, or when
    its times cannot be read."""
    starts_at = _instant(event.get("starts_at"))
    if starts_at is None or starts_at.tzinfo is None:
        return None
    ends_at = _instant(event.get("ends_at"))
    if ends_at is None or ends_at.tzinfo is None:
        ends_at = starts_at
    zone = _zone_of(event)
    today = now.astimezone(zone).date()
    first_day, last_day = starts_at.astimezone(zone).date(), ends_at.astimezone(zone).date()
    if today < first_day:
        return OffDayDoor(first_day.isoformat(), early=True)
    if today > last_day:
        return OffDayDoor(last_day.isoformat(), early=False)
    return None


def registration_closed_note(event: Mapping[str, Any], now: datetime) -> str:
    """What the public page says while it takes no registration: when it opens, if that is
    ahead, or since when it is closed, in the event's own time zone."""
    zone = _zone_of(event)
    opens = _instant(event.get("registration_opens_at"))
    closes = _instant(event.get("registration_closes_at"))
    if opens is not None and opens.tzinfo is not None and opens > now:
        at = opens.astimezone(zone)
        return f"Registration opens on {at:%Y-%m-%d} at {at:%H:%M} ({zone.key})."
    if closes is not None and closes.tzinfo is not None and closes <= now:
        at = closes.astimezone(zone)
        return f"Registration closed on {at:%Y-%m-%d} at {at:%H:%M} ({zone.key})."
    return "Registration is not open at the moment."


def code_of(registration: Mapping[str, Any]) -> str:
    """The code a registrant shows at the door (the events service draws it at random); empty
    where the API leaves it out (a repeat registration, which anybody knowing the address
    could send)."""
    return str(registration.get("code") or "")


@dataclass(frozen=True)
class Attendance:
    """An event's registrations as its page lists them."""

    registered: list[dict[str, Any]]
    waitlisted: list[dict[str, Any]]
    checked_in: int
    # Every registration, cancelled ones too: an event anyone ever registered for is kept.
    ever_registered: int = 0
    # Who cancelled, the latest first.
    cancelled: list[dict[str, Any]] = field(default_factory=list)


def mail_outcomes(mails: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Per registration, what became of the mails to it, in words ("confirmation sent",
    "update failed: ..."), failures first so they are not missed."""
    by_registration: dict[str, list[Mapping[str, Any]]] = {}
    for mail in mails:
        by_registration.setdefault(str(mail.get("registration_id")), []).append(mail)
    outcomes: dict[str, str] = {}
    for registration_id, sent in by_registration.items():
        ordered = sorted(
            sent, key=lambda m: (m.get("status") != "failed", str(m.get("recorded_at")))
        )
        outcomes[registration_id] = "; ".join(_mail_outcome(m) for m in ordered)
    return outcomes


def _mail_outcome(mail: Mapping[str, Any]) -> str:
    words = f"{mail.get('kind')} {mail.get('status')}"
    reason = mail.get("reason")
    return f"{words}: {reason}" if reason and mail.get("status") != "sent" else words


# A registration's times the event page shows, in the event's zone (`<name>_local`).
REGISTRATION_TIMES = ("registered_at", "checked_in_at", "cancelled_at")


def _seated(registration: Mapping[str, Any]) -> bool:
    """Holds a seat: registered, or checked in from the waitlist (they came; the events
    service seats them at check-in, and the analytics report counts them so)."""
    status = registration.get("status")
    return status == "registered" or (
        status == "waitlisted" and bool(registration.get("checked_in_at"))
    )


def attendance(
    registrations: Iterable[Mapping[str, Any]],
    mails: Mapping[str, str] | None = None,
    event: Mapping[str, Any] | None = None,
) -> Attendance:
    """Registered people by name, the waitlist in the order it is served (first come), who
    cancelled (latest first), each with what became of the mails to them (`mails`, by
    registration) and their times in the `event`'s zone (`registered_at_local`, ...)."""
    zone = _zone_of(event or {})
    every = list(registrations)
    registered = [dict(r) for r in every if _seated(r)]
    waitlisted = [dict(r) for r in every if r.get("status") == "waitlisted" and not _seated(r)]
    cancelled = [dict(r) for r in every if r.get("status") == "cancelled"]
    for person in (*registered, *waitlisted, *cancelled):
        person["code"] = code_of(person)
        person["mails"] = (mails or {}).get(str(person.get("id")), "")
        for name in REGISTRATION_TIMES:
            person[f"{name}_local"] = _local_value(person.get(name), zone)
    registered.sort(key=lambda r: (str(r["last_name"]).lower(), str(r["first_name"]).lower()))
    waitlisted.sort(key=lambda r: str(r["registered_at"]))
    cancelled.sort(key=lambda r: str(r.get("cancelled_at") or ""), reverse=True)
    checked_in = sum(1 for r in registered if r.get("checked_in_at"))
    return Attendance(
        registered, waitlisted, checked_in, ever_registered=len(every), cancelled=cancelled
    )


_CODE_SEPARATORS = re.compile(r"[\s-]+")


def door_matches(registrations: Iterable[Mapping[str, Any]], query: str) -> list[dict[str, Any]]:
    """Who the door's search finds: a code matches its registration exactly (spaces and dashes
    typed in it ignored), otherwise every
    word must start a part of the name or appear anywhere in the e-mail address (its domain,
    `nunez@`, the whole address), folded on both sides as the candidate search folds them
    (accents and other marks dropped, letters spelled as a plain keyboard types them). A name
    splits into parts at spaces and hyphens, and a word with an apostrophe (straight or
    typographic) is found with or without it, on either side (`l'hôpital`, `lhopital`,
    `l hopital`).
    People whose every word starts a part of the name or of the address (the whole, or a part
    between `@ . - _ +`) come first, then those found only inside an address; each by name.
    Waitlisted and cancelled people are included (the page marks them; whether a seat is free
    is the door's call); an empty search finds nobody."""
    words = fold(query).split()
    if not words:
        return []
    people = [dict(r) | {"code": code_of(r)} for r in registrations]
    # A code read out or copied in groups (`JCDJ GN5R`, `JCDJ-GN5R`) is still the code.
    typed_code = _CODE_SEPARATORS.sub("", fold(query))
    by_code = [p for p in people if p["code"] and p["code"].lower() == typed_code]
    if by_code:
        return by_code

    def rank(person: Mapping[str, Any]) -> int | None:
        """0: every word starts a part; 1: some are found only inside the address; None: no."""
        names = name_parts(f"{person['first_name']} {person['last_name']}")
        address = fold(str(person.get("email") or ""))
        pieces = [*names, address, *_ADDRESS_PARTS.split(address)]
        starts = [_starts_a_part(word, names, pieces) for word in words]
        if all(starts):
            return 0
        if all(started or word in address for started, word in zip(starts, words, strict=True)):
            return 1
        return None

    ranked = [(r, p) for p in people if (r := rank(p)) is not None]
    ranked.sort(
        key=lambda rp: (rp[0], str(rp[1]["last_name"]).lower(), str(rp[1]["first_name"]).lower())
    )
    return [p for _, p in ranked[:CHECK_IN_MATCHES]]


def name_parts(name: str) -> list[str]:
    """The parts of a name a door search may start, folded: split at spaces and hyphens, and
    a part with an apostrophe both apart and joined (Okonkwo-Adébáyọ̀ gives `okonkwo` and
    `adebayo`; O'Connor gives `o`, `connor` and `oconnor`), and with German umlauts dropped
    or spelt out (Müller gives `muller` and `mueller`)."""
    parts = _NAME_SEPARATORS.split(fold(name))
    if (spelt_out := umlauts_spelt_out(name)) != name:
        parts += _NAME_SEPARATORS.split(fold(spelt_out))
    apart = [piece for part in parts for piece in _APOSTROPHE_SPLIT.split(part)]
    joined = [without_apostrophes(part) for part in parts]
    return [part for part in dict.fromkeys([*apart, *joined]) if part]


def _starts_a_part(word: str, names: list[str], pieces: list[str]) -> bool:
    """Whether a query word starts a part: as typed (`jose.n`, `nunez@`), or split as a name
    splits (`okonkwo-ade`: each of its parts starts one; `l'hop`: `lhop` does)."""
    if any(piece.startswith(word) for piece in pieces):
        return True
    split = [part for part in _NAME_SEPARATORS.split(without_apostrophes(word)) if part]
    return bool(split) and all(any(name.startswith(part) for name in names) for part in split)


# Where an e-mail address splits into parts a door search may start: `jose.nunez@example.es`.
_ADDRESS_PARTS = re.compile(r"[@.\-_+]+")
# Where a folded name splits into parts: spaces and hyphens (the typographic ones too).
_NAME_SEPARATORS = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014]+")
_APOSTROPHE_SPLIT = re.compile(f"[{re.escape(APOSTROPHES)}]+")


def seats_left(event: Mapping[str, Any], session_id: Any = None) -> tuple[int, str]:
    """The seats free as the API last counted them, and where: in the session a registration
    holds (its places bound by the event's), otherwise at the event; 0 when full."""
    for held in event.get("sessions") or []:
        if session_id and held.get("id") == session_id:
            return max(int(held.get("places_left") or 0), 0), "their session"
    free = int(event.get("capacity") or 0) - int(event.get("registered") or 0)
    return max(free, 0), "the event"


def readmission_note(event: Mapping[str, Any], person: Mapping[str, Any]) -> str:
    """What the door's "Let in as walk-in" does for somebody who cancelled: they gave their seat
    up (it may have gone to somebody on the waitlist), so letting them in registers them again,
    taking a seat if one is free, otherwise over the capacity, as any walk-in."""
    free, where = seats_left(event, person.get("session_id"))
    if free:
        return f"Letting them in registers them again and takes a seat ({_seats_free(free)})."
    return (
        f"{where.capitalize()} is full: letting them in registers them again over its "
        "capacity, as any walk-in."
    )


def _seats_free(free: int) -> str:
    return "1 seat is free" if free == 1 else f"{free} seats are free"


def waitlist_note(event: Mapping[str, Any], person: Mapping[str, Any]) -> str:
    """What the door's check-in does for somebody on the waitlist: it seats them, in a free
    seat if there is one, otherwise over the capacity (they came)."""
    free, where = seats_left(event, person.get("session_id"))
    if free:
        return f"On the waitlist: checking them in gives them a seat ({_seats_free(free)})."
    return f"On the waitlist, and {where} is full: checking them in seats them over its capacity."


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def was_readmitted(registration: Mapping[str, Any], *, created: bool) -> bool:
    """Whether a walk-in's answer is somebody who had cancelled, registered again and checked
    in: the events API answers 200 for them as for somebody who had registered, but registers
    them again at the instant of their check-in (docs/events.md, "At the door"), while an
    earlier registration was made before it."""
    if created:
        return False
    registered = _instant(registration.get("registered_at"))
    return registered is not None and registered == _instant(registration.get("checked_in_at"))


def took_a_seat(event: Mapping[str, Any], registration: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether somebody registered again at the door holds a seat of the event (and of their
    session), from the event's counts read after it (which count them), and where it was full
    if not: "the event" or "their session"."""
    if int(event.get("registered") or 0) > int(event.get("capacity") or 0):
        return False, "the event"
    session_id = registration.get("session_id")
    for held in event.get("sessions") or []:
        over = int(held.get("registered") or 0) > int(held.get("capacity") or 0)
        if session_id and held.get("id") == session_id and over:
            return False, "their session"
    return True, ""


def readmitted_outcome(
    registration: Mapping[str, Any], seat: tuple[bool, str] | None = None
) -> str:
    """What the door says after letting in somebody who had cancelled: registered again and
    checked in, and whether that took a free seat or was over the capacity (`seat`, from
    `took_a_seat`; None when the event's counts could not be read, which it says)."""
    name = f"{registration['first_name']} {registration['last_name']}"
    code = code_of(registration)
    said = (
        f"{name} had cancelled their registration: registered again as a walk-in"
        f"{f' (code {code})' if code else ''} and checked in"
    )
    if seat is None:
        return f"{said}; whether a seat was free could not be read."
    taken, where = seat
    if taken:
        return f"{said}, taking a free seat."
    return f"{said}, over the capacity: {where} was full."


WALK_IN_FIELDS = ("first_name", "last_name", "email")
# The public form names an answer's field after its question: `answers.<question id>`.
ANSWER_FIELD = "answers."


def registration_answers(form: Mapping[str, str]) -> dict[str, str]:
    """The answers a public registration form carries, by question id (the events API checks
    them against the event's questions); an empty field is no answer."""
    return {
        name.removeprefix(ANSWER_FIELD): value.strip()
        for name, value in form.items()
        if name.startswith(ANSWER_FIELD) and value.strip()
    }


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


# What a registrant's signed link looks like (URL-safe base64 and dots): anything else is
# answered as a link that is not valid, never passed on as a path.
REGISTRANT_TOKEN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,2047}$")


def registrant_page_path(token: str) -> str:
    """The registrant's own page (the mails link to it); its form cancels at `<path>/cancel`."""
    return f"{CONSOLE_PREFIX}/public/registrations/{token}"


def may_cancel(registration: Mapping[str, Any], now: datetime) -> bool:
    """Whether the registrant's page offers "Cancel my registration": not cancelled already,
    not checked in, the event neither cancelled nor completed nor over (the events API still
    decides, and its refusal is shown)."""
    event = registration.get("event") or {}
    if registration.get("status") == "cancelled" or registration.get("checked_in_at"):
        return False
    if event.get("status") in ("cancelled", "completed"):
        return False
    try:
        over = datetime.fromisoformat(str(event.get("ends_at") or event.get("starts_at")))
    except ValueError:
        return True
    return over.tzinfo is None or over > now


# How an offline upload's outcomes read at the door, in the order they are listed.
UPLOAD_OUTCOMES = (
    ("checked_in", "checked in"),
    ("already_checked_in", "already checked in (unchanged)"),
    ("waitlisted", "checked in from the waitlist"),
    ("registration_cancelled", "had cancelled: registered again and checked in"),
    ("unknown_code", "unknown code"),
    ("ambiguous_code", "code held by two people: find them by name"),
)


def upload_summary(report: Mapping[str, Any]) -> list[str]:
    """What an offline upload did, a line per outcome that occurred: how many, and the codes
    of those that need a look (all but plain check-ins)."""
    results = report.get("results") or []
    lines = []
    for outcome, words in UPLOAD_OUTCOMES:
        codes = [str(r.get("code")) for r in results if r.get("outcome") == outcome]
        if not codes:
            continue
        line = f"{len(codes)} {words}"
        lines.append(line if outcome == "checked_in" else f"{line}: {', '.join(codes)}")
    return lines

"""An event's sessions (time slots): a career fair's half-hour slots, a campus day's morning and
afternoon. Each has its own time and capacity; a registrant holds a place in one of them, and
the event's capacity still bounds them all together."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

MAX_SESSIONS = 50
SESSION_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class EventSession(BaseModel):
    """One session of an event. Times are UTC instants, like the event's."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    starts_at: datetime
    ends_at: datetime
    capacity: int

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # MongoDB gives back UTC without a zone; a naive time here is never wall-clock time
        # (the use cases turn those into instants before a session is made).
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class SessionsInvalid(ValueError):
    """Sessions that cannot be offered (a 422): which one (its place in the list) and why."""

    def __init__(self, index: int, detail: str) -> None:
        super().__init__(f"sessions[{index}]: {detail}")
        self.index = index
        self.detail = detail


class SessionChoiceInvalid(ValueError):
    """A registration's `session_id` that is missing, unknown or past (a 422)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"session_id: {detail}")
        self.detail = detail


def with_session_ids(sessions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Sessions as given, each without an id named `slot-<n>` with the lowest n no other
    session uses (ids given are kept: an edit that keeps a session keeps its registrants)."""
    taken = {str(s["id"]) for s in sessions if s.get("id")}
    named: list[dict[str, Any]] = []
    number = 1
    for session in sessions:
        if session.get("id"):
            named.append(dict(session))
            continue
        while f"slot-{number}" in taken:
            number += 1
        taken.add(f"slot-{number}")
        named.append(dict(session) | {"id": f"slot-{number}"})
    return named


def check_sessions(
    sessions: Sequence[EventSession],
    *,
    event_starts: datetime,
    event_ends: datetime | None,
    event_capacity: int,
) -> None:
    """Refuses (`SessionsInvalid`) sessions with a malformed or repeated id, ending before they
    start, outside the event's time, or holding more people than the whole event."""
    if sessions and event_ends is None:
        raise SessionsInvalid(0, "an event with sessions needs an end (`ends_at`)")
    if len(sessions) > MAX_SESSIONS:
        raise SessionsInvalid(MAX_SESSIONS, f"an event has at most {MAX_SESSIONS} sessions")
    seen: set[str] = set()
    for index, session in enumerate(sessions):
        if not SESSION_ID.match(session.id):
            raise SessionsInvalid(
                index,
                "an id is 1 to 40 lower-case letters, digits, '-' and '_', starting with a "
                "letter or digit",
            )
        if session.id in seen:
            raise SessionsInvalid(index, f"the id {session.id!r} is used twice")
        seen.add(session.id)
        if session.ends_at <= session.starts_at:
            raise SessionsInvalid(index, f"{session.name!r} must end after it starts")
        if session.starts_at < event_starts:
            raise SessionsInvalid(index, f"{session.name!r} starts before the event does")
        if event_ends is not None and session.ends_at > event_ends:
            raise SessionsInvalid(index, f"{session.name!r} ends after the event does")
        if session.capacity > event_capacity:
            raise SessionsInvalid(
                index,
                f"{session.name!r} cannot hold more people ({session.capacity}) than the "
                f"event ({event_capacity})",
            )


def chosen_session(
    sessions: Sequence[EventSession], session_id: str | None, now: datetime
) -> EventSession | None:
    """The session a registrant picked: required when the event has sessions, one of them,
    and not over; None for an event without sessions (`SessionChoiceInvalid` otherwise)."""
    if not sessions:
        if session_id is not None:
            raise SessionChoiceInvalid("this event has no sessions to choose from")
        return None
    if session_id is None:
        names = ", ".join(repr(s.id) for s in sessions)
        raise SessionChoiceInvalid(f"choose one of the event's sessions: {names}")
    for session in sessions:
        if session.id == session_id:
            if now >= session.ends_at:
                raise SessionChoiceInvalid(f"the session {session.name!r} is over")
            return session
    raise SessionChoiceInvalid(f"the event has no session {session_id!r}")


def check_session_edit(
    before: Sequence[EventSession],
    after: Sequence[EventSession],
    seated: Mapping[str | None, int],
    standing: Mapping[str | None, int],
) -> str | None:
    """Why an edit of the sessions would break a promise made to registrants, or None: a
    session people hold a place in (seat or waitlist) cannot go, nor shrink below its seats (one
    the door filled beyond its capacity may keep it);
    an event that took registrations without sessions cannot be split into sessions (nobody
    chose one)."""
    if after and not before and standing.get(None):
        return (
            f"{standing[None]} people registered for the event as a whole; it cannot be split "
            "into sessions now (create a new event with sessions instead)"
        )
    kept = {session.id: session for session in after}
    for session in before:
        if session.id not in kept:
            if standing.get(session.id, 0):
                return (
                    f"{standing[session.id]} people registered for the session "
                    f"{session.name!r}; it cannot be removed (cancel their registrations first)"
                )
            continue
        capacity = kept[session.id].capacity
        if capacity < seated.get(session.id, 0) and capacity < session.capacity:
            return (
                f"{seated[session.id]} people hold a seat in the session {session.name!r}; "
                "its capacity cannot go below that"
            )
    return None


def promotion_order(
    *,
    capacity: int,
    sessions: Sequence[EventSession],
    seated: Mapping[str | None, int],
    waitlisted: Sequence[tuple[str, str | None]],
) -> list[str]:
    """Which waitlisted registrations get a seat, longest waiting first: each while the event
    and their own session both have a free seat (someone further back in another session may
    pass somebody whose session is full). `waitlisted` is (registration id, session id) in
    waiting order; `seated` counts the seats taken by session (None: registered without one)."""
    free_in_event = capacity - sum(seated.values())
    free_in_session = {s.id: s.capacity - seated.get(s.id, 0) for s in sessions}
    promoted: list[str] = []
    for registration_id, session_id in waitlisted:
        if free_in_event <= 0:
            break
        if session_id is not None and session_id in free_in_session:
            if free_in_session[session_id] <= 0:
                continue
            free_in_session[session_id] -= 1
        promoted.append(registration_id)
        free_in_event -= 1
    return promoted

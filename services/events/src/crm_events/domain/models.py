"""Recruiting events, their registrations, and who is already a candidate."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field

from crm_events.domain.questions import (
    Answer,
    QuestionsInvalid,
    RegistrationQuestion,
    check_questions,
)
from crm_events.domain.sessions import EventSession, SessionsInvalid, check_sessions
from crm_shared import new_id, utc_now


class EventKind(StrEnum):
    CAREER_FAIR = "career_fair"
    WEBINAR = "webinar"
    MEETUP = "meetup"
    CAMPUS = "campus"
    OPEN_HOUSE = "open_house"


class EventStatus(StrEnum):
    """draft -> published (open for registration) -> completed; draft or published ->
    cancelled. Completed and cancelled are final."""

    DRAFT = "draft"
    PUBLISHED = "published"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class EventFormat(StrEnum):
    """Where people attend: a venue, a join URL, or both."""

    IN_PERSON = "in_person"
    VIRTUAL = "virtual"
    HYBRID = "hybrid"


class EventDetailsInvalid(ValueError):
    """Event fields that do not fit together (a 422): the field and why (`field`, `detail`:
    the first; `faults`: every one found, so a form is fixed in one round)."""

    def __init__(self, field: str, detail: str, *more: tuple[str, str]) -> None:
        self.faults = ((field, detail), *more)
        super().__init__("; ".join(f"{name}: {why}" for name, why in self.faults))
        self.field = field
        self.detail = detail


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone `name`; `EventDetailsInvalid` for a name the tz database lacks."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise EventDetailsInvalid("time_zone", f"{name!r} is not an IANA time zone") from None


def to_utc(field: str, value: datetime, zone: ZoneInfo) -> datetime:
    """An instant in UTC, to the millisecond MongoDB keeps (so a time compares the same before
    and after it is stored): an aware time as it is, a naive one as wall-clock time in `zone`.

    A wall-clock time that does not exist there (skipped when clocks go forward) is refused
    rather than guessed; one that occurs twice (clocks go back) is the first occurrence.
    """
    value = value.replace(microsecond=value.microsecond // 1000 * 1000)
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(UTC)
    local = value.replace(tzinfo=zone, fold=0)
    # A skipped time does not survive the round trip through UTC.
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value.replace(fold=0):
        raise EventDetailsInvalid(
            field, f"{value.isoformat()} does not exist in {zone.key} (the clocks skip it)"
        )
    return local.astimezone(UTC)


def as_utc(value: datetime) -> datetime:
    """A stored time (MongoDB keeps UTC without a zone) as an aware UTC time."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# 24 hours and 1 hour before the start, unless the event says otherwise.
DEFAULT_REMINDERS = (1440, 60)


class RecruitingEvent(BaseModel):
    """A career fair, webinar, meetup, campus or open-house event.

    `version` counts edits, for optimistic concurrency (`If-Match`).
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    name: str
    kind: EventKind
    starts_at: datetime
    location: str | None = Field(default=None, description="The venue (in person, hybrid).")
    capacity: int
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    status: EventStatus = EventStatus.PUBLISHED
    version: int = 1
    updated_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancellation_reason: str | None = None
    # Added with formats and time zones; events stored before read with these defaults.
    format: EventFormat = EventFormat.IN_PERSON
    join_url: str | None = None
    time_zone: str = "UTC"
    ends_at: datetime | None = None
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    organisers: list[str] = Field(default_factory=list)
    completed_at: datetime | None = None
    # Reminders, in minutes before the start; those whose time passed (sent, or already past
    # when the event was created or moved) are `reminders_sent`; `next_reminder_at` is when
    # the reminder worker looks at the event next (None: nothing left to send).
    reminders: list[int] = Field(default_factory=lambda: list(DEFAULT_REMINDERS))
    reminders_sent: list[int] = Field(default_factory=list)
    next_reminder_at: datetime | None = None
    # The registration form's own questions (none for events stored before they existed).
    questions: list[RegistrationQuestion] = Field(default_factory=list)
    # Sessions (time slots) a registrant picks one of; none: the event is one session. Their
    # reminders go by each session's start: those done, by session id.
    sessions: list[EventSession] = Field(default_factory=list)
    session_reminders_sent: dict[str, list[int]] = Field(default_factory=dict)

    def session(self, session_id: str | None) -> EventSession | None:
        """The event's session `session_id`, None for none (or one removed since)."""
        return next((s for s in self.sessions if s.id == session_id), None)

    def local(self, instant: datetime | None) -> datetime | None:
        """`instant` as wall-clock time in the event's time zone (with its offset then)."""
        return None if instant is None else as_utc(instant).astimezone(ZoneInfo(self.time_zone))


@dataclass(frozen=True)
class DueReminder:
    """A reminder to send now: to the registrants of one session, or of the whole event."""

    session_id: str | None
    minutes: int


def _starts(event: RecruitingEvent) -> dict[str | None, datetime]:
    """When each part of the event reminders count back from starts: each session, or the
    event itself (key None) when it has no sessions."""
    if event.sessions:
        return {session.id: as_utc(session.starts_at) for session in event.sessions}
    return {None: as_utc(event.starts_at)}


def _sent(event: RecruitingEvent, key: str | None) -> list[int]:
    return event.reminders_sent if key is None else event.session_reminders_sent.get(key, [])


def reminder_plan(event: RecruitingEvent, now: datetime) -> dict[str, Any]:
    """The reminder fields of an event created or moved at `now`: a reminder whose time has
    passed already is not sent late (an event created two hours ahead gets no "24 hours"
    reminder), the others are pending. An event with sessions is planned per session."""
    starts = _starts(event)
    passed = {
        key: [m for m in event.reminders if start - timedelta(minutes=m) <= now]
        for key, start in starts.items()
    }
    return _plan(event.reminders, starts, passed)


def reminders_from(starts_at: datetime, reminders: list[int], now: datetime) -> dict[str, Any]:
    """`reminder_plan` of an event without sessions starting at `starts_at`."""
    starts = as_utc(starts_at)
    passed = [m for m in reminders if starts - timedelta(minutes=m) <= now]
    return _plan(reminders, {None: starts}, {None: passed})


def due_reminders(
    event: RecruitingEvent, now: datetime
) -> tuple[list[DueReminder], dict[str, Any]]:
    """Which reminders to send at `now` (per session, the nearest to its start among those
    due: a worker that was down sends one reminder, not two; none once it started) and the
    reminder fields after them."""
    due_now: list[DueReminder] = []
    done: dict[str | None, list[int]] = {}
    for key, start in _starts(event).items():
        sent = _sent(event, key)
        due = [m for m in event.reminders if m not in sent and start - timedelta(minutes=m) <= now]
        if due and now < start:
            due_now.append(DueReminder(key, min(due)))
        done[key] = [*sent, *due]
    return due_now, _plan(event.reminders, _starts(event), done)


def _plan(
    reminders: list[int], starts: dict[str | None, datetime], done: dict[str | None, list[int]]
) -> dict[str, Any]:
    sent = {key: sorted(set(done[key]) & set(reminders), reverse=True) for key in starts}
    pending = [
        start - timedelta(minutes=m)
        for key, start in starts.items()
        for m in reminders
        if m not in sent[key]
    ]
    plan: dict[str, Any] = {"next_reminder_at": min(pending) if pending else None}
    if None in sent:
        return {"reminders_sent": sent[None]} | plan
    return {"session_reminders_sent": {str(key): minutes for key, minutes in sent.items()}} | plan


TIME_FIELDS = ("starts_at", "ends_at", "registration_opens_at", "registration_closes_at")


def times_in_utc(fields: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """`fields` with each time given (`TIME_FIELDS`, and the sessions' times) as a UTC
    instant; a time without an offset is wall-clock time in `zone`."""
    in_utc = fields | {
        name: to_utc(name, value, zone)
        for name, value in fields.items()
        if name in TIME_FIELDS and isinstance(value, datetime)
    }
    if fields.get("sessions"):
        in_utc["sessions"] = [
            session
            | {
                name: to_utc(f"sessions[{index}].{name}", session[name], zone)
                for name in ("starts_at", "ends_at")
                if isinstance(session.get(name), datetime)
            }
            for index, session in enumerate(fields["sessions"])
        ]
    return in_utc


def check_event_details(event: RecruitingEvent) -> None:
    """Refuses fields that do not fit together (`EventDetailsInvalid`, naming every one).

    The place follows the format: a virtual event has a join URL and no venue, a hybrid one
    both, an in-person one no join URL and a venue that may still be unknown (announced
    later; events stored before formats existed are such events). The end comes after the
    start; registration closes after it opens and no later than the event ends. What is
    checked against the event's end (registration closing, the sessions) waits for an end
    that comes after the start.
    """
    faults: list[tuple[str, str]] = []
    try:
        check_questions(event.questions)
    except QuestionsInvalid as invalid:
        faults.append((f"questions[{invalid.index}]", invalid.detail))
    if event.format is EventFormat.VIRTUAL and event.location:
        faults.append(("location", "a virtual event has no venue"))
    if event.format is EventFormat.HYBRID and not event.location:
        faults.append(("location", "a hybrid event needs a venue"))
    if event.format is EventFormat.IN_PERSON and event.join_url:
        faults.append(("join_url", "an in-person event has no join URL"))
    if event.format is not EventFormat.IN_PERSON and not event.join_url:
        faults.append(("join_url", f"a {event.format.value} event needs a join URL"))
    try:
        time_zone(event.time_zone)
    except EventDetailsInvalid as unknown:
        faults.extend(unknown.faults)
    starts = as_utc(event.starts_at)
    ends = as_utc(event.ends_at) if event.ends_at is not None else None
    ends_in_order = ends is None or ends > starts
    if not ends_in_order:
        faults.append(("ends_at", "the event must end after it starts"))
    opens, closes = event.registration_opens_at, event.registration_closes_at
    if opens is not None and closes is not None and as_utc(opens) >= as_utc(closes):
        faults.append(("registration_closes_at", "registration must close after it opens"))
    elif closes is not None and ends_in_order and as_utc(closes) > (ends or starts):
        faults.append(("registration_closes_at", "registration cannot close after the event ends"))
    if ends_in_order:
        try:
            check_sessions(
                event.sessions, event_starts=starts, event_ends=ends, event_capacity=event.capacity
            )
        except SessionsInvalid as invalid:
            faults.append((f"sessions[{invalid.index}]", invalid.detail))
    if faults:
        raise EventDetailsInvalid(*faults[0], *faults[1:])


class RegistrationRefusal(StrEnum):
    """Why an event takes no registration now; each value is the problem type."""

    DRAFT = "event-not-published"
    NOT_YET_OPEN = "registration-not-open"
    CLOSED = "registration-closed"
    PAST = "event-past"
    COMPLETED = "event-completed"
    CANCELLED = "event-cancelled"


def registration_refusal(event: RecruitingEvent, now: datetime) -> RegistrationRefusal | None:
    """Why `event` takes no registration at `now`, or None when it does.

    Without a closing time registration closes when the event ends (or starts, when it has no
    end): a webinar can still be joined while it runs.
    """
    if event.status is EventStatus.CANCELLED:
        return RegistrationRefusal.CANCELLED
    if event.status is EventStatus.DRAFT:
        return RegistrationRefusal.DRAFT
    if event.status is EventStatus.COMPLETED:
        return RegistrationRefusal.COMPLETED
    end = as_utc(event.ends_at or event.starts_at)
    if now >= end:
        return RegistrationRefusal.PAST
    if event.registration_opens_at is not None and now < as_utc(event.registration_opens_at):
        return RegistrationRefusal.NOT_YET_OPEN
    if event.registration_closes_at is not None and now >= as_utc(event.registration_closes_at):
        return RegistrationRefusal.CLOSED
    return None


def refusal_detail(event: RecruitingEvent, refusal: RegistrationRefusal) -> str:
    """The sentence a refused registrant reads."""
    name = repr(event.name)
    match refusal:
        case RegistrationRefusal.CANCELLED:
            return f"the event {name} was cancelled"
        case RegistrationRefusal.DRAFT:
            return f"the event {name} is not open for registration yet (a draft)"
        case RegistrationRefusal.COMPLETED:
            return f"the event {name} is over"
        case RegistrationRefusal.PAST:
            return f"the event {name} has already taken place"
        case RegistrationRefusal.NOT_YET_OPEN:
            opens = event.local(event.registration_opens_at)
            assert opens is not None
            return f"registration for {name} opens at {opens.isoformat()}"
        case RegistrationRefusal.CLOSED:
            closes = event.local(event.registration_closes_at)
            assert closes is not None
            return f"registration for {name} closed at {closes.isoformat()}"


def next_status(event: RecruitingEvent, target: EventStatus, now: datetime) -> EventStatus:
    """The status an event moves to on publish / complete; `EventChangeRefused` otherwise.

    Publish: a draft only. Complete: a published event once it has started.
    """
    if target is EventStatus.PUBLISHED and event.status is EventStatus.DRAFT:
        return target
    if target is EventStatus.COMPLETED and event.status is EventStatus.PUBLISHED:
        if now < as_utc(event.starts_at):
            raise EventChangeRefused("an event can be completed once it has started")
        return target
    raise EventChangeRefused(f"the event is {event.status.value}; it cannot become {target.value}")


class EventChangeRefused(ValueError):
    """An edit or cancellation the event's state does not allow."""


class EventNotFound(LookupError):
    """No event with this id in the tenant (or, for public registration, anywhere)."""

    def __init__(self, event_id: str) -> None:
        super().__init__(event_id)
        self.event_id = event_id


class RegistrationNotFound(LookupError):
    """No registration with this id for the event."""

    def __init__(self, event_id: str, registration_id: str) -> None:
        super().__init__(registration_id)
        self.event_id = event_id
        self.registration_id = registration_id


class RegistrationRefused(Exception):
    """The event takes no registration now: a draft, outside its window, past, cancelled."""

    def __init__(self, event: RecruitingEvent, refusal: RegistrationRefusal) -> None:
        super().__init__(refusal.value)
        self.event = event
        self.refusal = refusal


class EventCancelled(RegistrationRefused):
    """The event was cancelled: it takes no registrations (not even walk-ins)."""

    def __init__(self, event: RecruitingEvent) -> None:
        super().__init__(event, RegistrationRefusal.CANCELLED)


def check_capacity(capacity: int, registered: int, *, current: int, status: EventStatus) -> None:
    """Refuses (`EventChangeRefused`) a capacity lowered below the people already registered
    (they were promised a seat), and any change of a cancelled or completed event. An event the
    door seated beyond its capacity (walk-ins, people let in) keeps its capacity, or a larger
    one, in any other edit."""
    if status in (EventStatus.CANCELLED, EventStatus.COMPLETED):
        raise EventChangeRefused(f"the event is {status.value}; it cannot change")
    if capacity < registered and capacity < current:
        raise EventChangeRefused(
            f"{registered} people are registered; the capacity cannot go below that"
        )


class Outcome(StrEnum):
    """What became of a registration once its event was completed."""

    ATTENDED = "attended"
    NO_SHOW = "no_show"


class RegistrationStatus(StrEnum):
    """registered or waitlisted (-> registered when a seat opens); either -> cancelled."""

    REGISTERED = "registered"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


def registration_status(
    capacity: int, registered: int, session: EventSession | None = None, in_session: int = 0
) -> RegistrationStatus:
    """A new registrant's status: waitlisted once the registered people fill the capacity, or
    (`in_session` of them) the session they chose."""
    if registered >= capacity or (session is not None and in_session >= session.capacity):
        return RegistrationStatus.WAITLISTED
    return RegistrationStatus.REGISTERED


# Letters and digits that cannot be misread for each other when read out at the door.
DOOR_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
DOOR_CODE_LENGTH = 8


def new_door_code() -> str:
    """A registration's code for the door: 40 random bits, so codes neither follow each other
    nor repeat within an event (two alike among 10,000 registrations: about one in 20,000)."""
    return "".join(secrets.choice(DOOR_CODE_ALPHABET) for _ in range(DOOR_CODE_LENGTH))


class Registration(BaseModel):
    """One person's registration for one event."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    event_id: str
    code: str = Field(default_factory=new_door_code)
    email: str
    first_name: str
    last_name: str
    candidate_id: str | None = None
    status: RegistrationStatus
    registered_at: datetime = Field(default_factory=utc_now)
    checked_in_at: datetime | None = None
    walk_in: bool = False
    # Whether `event.checked_in` went out: only once the attendee is a known candidate.
    attendance_published: bool = False
    promoted_at: datetime | None = None
    cancelled_at: datetime | None = None
    # Set when the event is completed (or a late check-in to a completed event); the topic
    # (`event.attended` / `event.no_show`) goes out once the registrant is a known candidate.
    outcome: Outcome | None = None
    outcome_published: bool = False
    # The answers to the event's questions as they were asked (none: asked nothing).
    answers: list[Answer] = Field(default_factory=list)
    # The session (time slot) they hold a place in; None for an event without sessions, and
    # for walk-ins (they are there).
    session_id: str | None = None


def as_attended(event: RecruitingEvent, registration: Registration) -> RecruitingEvent:
    """The event as one registrant attends it: their session's start and end in place of the
    event's (what their mails, invitation and reminders state)."""
    session = event.session(registration.session_id)
    if session is None:
        return event
    return event.model_copy(update={"starts_at": session.starts_at, "ends_at": session.ends_at})


def registration_outcome(registration: Registration) -> Outcome | None:
    """What a completed event makes of a registration: attended if checked in, a no-show if
    it held a seat without coming; nothing for the waitlisted and the cancelled."""
    if registration.checked_in_at is not None:
        return Outcome.ATTENDED
    if registration.status is RegistrationStatus.REGISTERED:
        return Outcome.NO_SHOW
    return None


# The event fields a registrant's calendar invitation is re-sent for when they change.
INVITATION_FIELDS = ("starts_at", "ends_at", "location", "join_url")


def invitation_changes(before: RecruitingEvent, after: RecruitingEvent) -> list[str]:
    """Which of the fields registrants are told about changed between two versions."""
    return [name for name in INVITATION_FIELDS if getattr(before, name) != getattr(after, name)]


class RegistrationCancelRefused(Exception):
    """A registration that cannot be cancelled: cancelled already, attended, or the event is
    over. `problem_type` names which."""

    def __init__(self, problem_type: str, detail: str) -> None:
        super().__init__(detail)
        self.problem_type = problem_type
        self.detail = detail


def check_cancellable(event: RecruitingEvent, registration: Registration, now: datetime) -> None:
    """Refuses (`RegistrationCancelRefused`) to cancel a registration cancelled already (a
    reused link), one checked in, or one for an event that is over; a cancelled event's
    registrations may still be cancelled (nothing follows)."""
    if registration.status is RegistrationStatus.CANCELLED:
        assert registration.cancelled_at is not None
        at = event.local(registration.cancelled_at)
        assert at is not None
        raise RegistrationCancelRefused(
            "registration-cancelled",
            f"this registration was cancelled already, at {at.isoformat()}",
        )
    if registration.checked_in_at is not None:
        raise RegistrationCancelRefused(
            "registration-attended", "this registration was checked in: the person attended"
        )
    if event.status is EventStatus.COMPLETED or now >= as_utc(event.ends_at or event.starts_at):
        raise RegistrationCancelRefused("event-past", f"the event {event.name!r} is over")


class CheckInRefused(Exception):
    """A plain check-in the registration does not allow; `problem_type` names why."""

    def __init__(self, problem_type: str, detail: str) -> None:
        super().__init__(detail)
        self.problem_type = problem_type
        self.detail = detail


def check_admissible(event: RecruitingEvent, registration: Registration) -> None:
    """Refuses (`CheckInRefused`) a plain check-in of a cancelled registration: the person
    gave their seat up (it may have gone to somebody on the waitlist), so letting them in
    after all is the door's explicit choice, a walk-in, which registers them again."""
    if registration.status is not RegistrationStatus.CANCELLED:
        return
    at = event.local(registration.cancelled_at)
    when = f" at {at.isoformat(timespec='seconds')}" if at is not None else ""
    raise CheckInRefused(
        "registration-cancelled",
        f"{registration.first_name} {registration.last_name} cancelled this registration"
        f"{when} and holds no seat: to let them in anyway, record them as a walk-in "
        "(registered again and checked in, over the capacity if the event is full)",
    )


# A door device's clock may run a little ahead of the server's: a check-in up to this far in the
# future is taken as made now; further ahead is refused as a wrong clock.
DOOR_CLOCK_SKEW = timedelta(minutes=5)
# The most check-ins one offline upload may carry: about 10 ms each to write, so 500 stay well
# inside the gateway's 10 s for a request (docs/events.md, Offline check-in).
MAX_DOOR_UPLOAD = 500


class DoorCheckInOutcome(StrEnum):
    """What an uploaded (offline) check-in did, per item."""

    CHECKED_IN = "checked_in"
    # Checked in before (live, or by an earlier upload): unchanged, so re-uploading is safe.
    ALREADY_CHECKED_IN = "already_checked_in"
    # No registration of this event has the code (another event's or tenant's codes included).
    UNKNOWN_CODE = "unknown_code"
    # Two registrations of the event share the code (about one in 20,000 at 10,000 people):
    # nobody is checked in; the door's search by name tells them apart.
    AMBIGUOUS_CODE = "ambiguous_code"
    # Checked in although on the waitlist: the door let them in, as the live door may.
    WAITLISTED = "waitlisted"
    # They had cancelled but came: registered again and checked in, as a walk-in at the live
    # door is (the door let them in without network, so it is too late to ask).
    REGISTRATION_CANCELLED = "registration_cancelled"


# What people type between the halves of a code read out ("HN3N-DCRJ"): no code holds one.
_CODE_SEPARATORS = str.maketrans("", "", "-\u2010\u2011\u2012\u2013\u2014\u2212_.")


def normalise_door_code(code: str) -> str:
    """A code as typed or scanned at the door, compared as drawn: capitals, without spaces or
    the dashes people type between its halves (as the live search matches it)."""
    return "".join(code.split()).translate(_CODE_SEPARATORS).upper()


def door_time_refusal(event: RecruitingEvent, at: datetime, now: datetime) -> str | None:
    """Why a check-in time from the door cannot be kept, or None: it may not lie ahead of `now`
    (beyond a device clock's skew) nor before the day the event starts, in its time zone."""
    at = as_utc(at)
    if at > now + DOOR_CLOCK_SKEW:
        return f"{at.isoformat()} is in the future"
    zone = ZoneInfo(event.time_zone)
    local_start = as_utc(event.starts_at).astimezone(zone)
    day_begins = datetime.combine(local_start.date(), datetime.min.time(), tzinfo=zone)
    if at < day_begins.astimezone(UTC):
        return f"{at.isoformat()} is before the event's day ({local_start.date().isoformat()})"
    return None


def door_outcome(registration: Registration) -> DoorCheckInOutcome:
    """What checking in `registration` (as it was before) does: nothing for somebody checked in
    already; otherwise a check-in, flagged when they were waitlisted or had cancelled."""
    if registration.checked_in_at is not None:
        return DoorCheckInOutcome.ALREADY_CHECKED_IN
    if registration.status is RegistrationStatus.WAITLISTED:
        return DoorCheckInOutcome.WAITLISTED
    if registration.status is RegistrationStatus.CANCELLED:
        return DoorCheckInOutcome.REGISTRATION_CANCELLED
    return DoorCheckInOutcome.CHECKED_IN

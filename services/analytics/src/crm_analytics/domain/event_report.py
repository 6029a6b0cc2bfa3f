"""A recruiting event's report: what its registrations became and what followed them.

Pure rules over what analytics folded from the event topics; every figure's definition is in
docs/analytics.md ("Event reports")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

# How many candidate ids a follow-up figure lists; the count is never bounded.
LISTED_CANDIDATES = 100
UNKNOWN_SOURCE = "unknown"


class RegistrationState(StrEnum):
    """What a registration is now: every registration is in exactly one."""

    REGISTERED = "registered"  # holds a seat (promoted, walk-ins and checked-in included)
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class Channel(StrEnum):
    """How somebody registered: ahead (the public page, its embed, staff) or at the door."""

    ONLINE = "online"
    WALK_IN = "walk_in"


class EventStatus(StrEnum):
    SCHEDULED = "scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(a, b) if a is not None and b is not None else a or b


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(a, b) if a is not None and b is not None else a or b


@dataclass(frozen=True)
class Registrant:
    """One registration as folded from the topics, or what one announcement tells of it. The
    `*_at` of the three states are the times the last announcement of each was published: the
    latest of them is the state now (a cancelled registration may be made anew, a waitlisted
    one promoted). Announcements combine (`merged`) whatever their order or repetition: states
    keep their latest time, a check-in its earliest, flags stay set; so a redelivered or late
    event lands where it belongs."""

    event_id: str
    registration_id: str
    candidate_id: str | None = None
    email: str | None = None
    seated_at: datetime | None = None
    waitlisted_at: datetime | None = None
    cancelled_at: datetime | None = None
    checked_in_at: datetime | None = None
    walk_in: bool = False
    attended: bool = False
    no_show: bool = False

    @property
    def state(self) -> RegistrationState:
        """The state announced last; checked-in or attended registrations hold a seat."""
        if self.checked_in_at is not None or self.attended:
            return RegistrationState.REGISTERED
        stamped = [
            (at, state)
            for at, state in (
                (self.seated_at, RegistrationState.REGISTERED),
                (self.waitlisted_at, RegistrationState.WAITLISTED),
                (self.cancelled_at, RegistrationState.CANCELLED),
            )
            if at is not None
        ]
        if not stamped:  # only an outcome or a cancellation of an unseen state: it held a seat
            return RegistrationState.REGISTERED
        return max(stamped, key=lambda pair: pair[0])[1]

    @property
    def person(self) -> str:
        """Who registered, for telling people apart: the candidate, else the address."""
        return self.candidate_id or (self.email or self.registration_id)

    @property
    def key(self) -> tuple[str, str]:
        return self.event_id, self.registration_id

    def merged(self, other: Registrant) -> Registrant:
        """Both as one (`other` told later, for the candidate and address it names)."""
        return Registrant(
            event_id=self.event_id,
            registration_id=self.registration_id,
            candidate_id=other.candidate_id or self.candidate_id,
            email=other.email or self.email,
            seated_at=_latest(self.seated_at, other.seated_at),
            waitlisted_at=_latest(self.waitlisted_at, other.waitlisted_at),
            cancelled_at=_latest(self.cancelled_at, other.cancelled_at),
            checked_in_at=_earliest(self.checked_in_at, other.checked_in_at),
            walk_in=self.walk_in or other.walk_in,
            attended=self.attended or other.attended,
            no_show=self.no_show or other.no_show,
        )


def identified(
    registrants: Sequence[Registrant],
    holders: Mapping[str, str],
    survivors: Mapping[str, str],
) -> list[Registrant]:
    """The registrants named by the candidate they are now: one known only by address by the
    candidate holding it (`holders`: address to candidate id), and a record merged into
    another by the survivor (`survivors`: merged id to survivor id). A registration that
    creates its candidate names nobody; the candidate's creation, consumed in any order, names
    them here at once; a merge, consumed before or after the registration, likewise."""
    named = [
        replace(r, candidate_id=holders[r.email])
        if r.candidate_id is None and r.email is not None and r.email in holders
        else r
        for r in registrants
    ]
    return [
        replace(r, candidate_id=survivors[r.candidate_id])
        if r.candidate_id is not None and r.candidate_id in survivors
        else r
        for r in named
    ]


def _progress(registrant: Registrant) -> int:
    """How far a registration got: attended, checked in, holding a seat, waitlisted,
    cancelled (highest first)."""
    if registrant.attended:
        return 4
    if registrant.checked_in_at is not None:
        return 3
    return {
        RegistrationState.REGISTERED: 2,
        RegistrationState.WAITLISTED: 1,
        RegistrationState.CANCELLED: 0,
    }[registrant.state]


def one_per_person(registrants: Sequence[Registrant]) -> list[Registrant]:
    """Each person once (two merged records' registrations for one event are one person's):
    the registration that got furthest stands for them, the smallest registration id among
    equals, so the answer does not depend on the order they are read in."""
    leading: dict[str, Registrant] = {}
    for registrant in registrants:
        held = leading.get(registrant.person)
        if held is None or (_progress(registrant), held.registration_id) > (
            _progress(held),
            registrant.registration_id,
        ):
            leading[registrant.person] = registrant
    return list(leading.values())


@dataclass(frozen=True)
class ReportedEvent:
    """What the topics told analytics about the event itself."""

    event_id: str
    event_name: str
    starts_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None

    @property
    def status(self) -> EventStatus:
        if self.cancelled_at is not None:
            return EventStatus.CANCELLED
        if self.completed_at is not None:
            return EventStatus.COMPLETED
        return EventStatus.SCHEDULED


@dataclass(frozen=True)
class Milestone:
    """An application or a hire reported by an ATS, matched to a person by candidate or
    address."""

    candidate_id: str | None
    email: str | None
    at: datetime


@dataclass(frozen=True)
class FollowUp:
    """Registrants with an application (or a hire) inside the window: how many, and which
    candidates (at most `LISTED_CANDIDATES`, sorted)."""

    count: int = 0
    candidate_ids: list[str] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.count > len(self.candidate_ids)


@dataclass(frozen=True)
class EventFigures:
    """Every figure of one event's report (or of several events summed)."""

    registrations: int
    registered: int
    waitlisted: int
    cancelled: int
    checked_in: int
    walk_ins: int
    attended: int
    no_shows: int
    by_channel: dict[str, int]
    by_source: dict[str, int]
    applied: FollowUp
    hired: FollowUp

    @property
    def no_show_rate(self) -> float | None:
        """No-shows among the settled seats; None while nothing is settled."""
        settled = self.attended + self.no_shows
        return round(self.no_shows / settled, 4) if settled else None


def window_of(event: ReportedEvent, within_days: int) -> tuple[datetime, datetime] | None:
    """When an application or hire counts as following the event: from its start to
    `within_days` days later; None for an event whose start analytics was never told."""
    if event.starts_at is None:
        return None
    return event.starts_at, event.starts_at + timedelta(days=within_days)


def _followed(
    registrants: Sequence[Registrant],
    milestones: Iterable[Milestone],
    window: tuple[datetime, datetime] | None,
) -> FollowUp:
    if window is None:
        return FollowUp()
    start, end = window
    by_candidate = {r.candidate_id: r for r in registrants if r.candidate_id}
    by_email = {r.email: r for r in registrants if r.email}
    people: dict[str, str | None] = {}  # person -> a candidate id to list, if known
    for milestone in milestones:
        if not start <= milestone.at <= end:
            continue
        registrant = (
            by_candidate.get(milestone.candidate_id) if milestone.candidate_id else None
        ) or (by_email.get(milestone.email) if milestone.email else None)
        if registrant is None:
            continue
        listed = registrant.candidate_id or milestone.candidate_id
        people[registrant.person] = people.get(registrant.person) or listed
    listed_ids = sorted({c for c in people.values() if c is not None})
    return FollowUp(count=len(people), candidate_ids=listed_ids[:LISTED_CANDIDATES])


def figures(
    event: ReportedEvent,
    registrants: Sequence[Registrant],
    sources: Mapping[str, str],
    applications: Sequence[Milestone],
    hires: Sequence[Milestone],
    within_days: int,
) -> EventFigures:
    """The event's figures from its registrations, the candidates' sources (by candidate id)
    and the applications and hires of its registrants. A person with several registrations
    counts once, as their furthest (`one_per_person`); an application or hire matches any of
    their registrations' candidate or address."""
    people = one_per_person(registrants)
    states = Counter(r.state for r in people)
    window = window_of(event, within_days)
    return EventFigures(
        registrations=len(people),
        registered=states[RegistrationState.REGISTERED],
        waitlisted=states[RegistrationState.WAITLISTED],
        cancelled=states[RegistrationState.CANCELLED],
        checked_in=sum(1 for r in people if r.checked_in_at is not None or r.attended),
        walk_ins=sum(1 for r in people if r.walk_in),
        attended=sum(1 for r in people if r.attended),
        # A late check-in after completion turns a no-show into an attendee.
        no_shows=sum(1 for r in people if r.no_show and not r.attended),
        by_channel=dict(
            sorted(
                Counter(Channel.WALK_IN if r.walk_in else Channel.ONLINE for r in people).items()
            )
        ),
        by_source=dict(
            sorted(
                Counter(
                    sources.get(r.candidate_id, UNKNOWN_SOURCE)
                    if r.candidate_id
                    else UNKNOWN_SOURCE
                    for r in people
                ).items()
            )
        ),
        applied=_followed(registrants, applications, window),
        hired=_followed(registrants, hires, window),
    )


def _summed(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for each in counts:
        total.update(each)
    return dict(sorted(total.items()))


def totals(reports: Sequence[EventFigures]) -> EventFigures:
    """Several events' figures summed; a person in two events counts in each, and the
    candidates listed are those of every event (bounded as one event's)."""

    def follow_ups(of: Sequence[FollowUp]) -> FollowUp:
        ids = sorted({c for f in of for c in f.candidate_ids})
        return FollowUp(count=sum(f.count for f in of), candidate_ids=ids[:LISTED_CANDIDATES])

    return EventFigures(
        registrations=sum(r.registrations for r in reports),
        registered=sum(r.registered for r in reports),
        waitlisted=sum(r.waitlisted for r in reports),
        cancelled=sum(r.cancelled for r in reports),
        checked_in=sum(r.checked_in for r in reports),
        walk_ins=sum(r.walk_ins for r in reports),
        attended=sum(r.attended for r in reports),
        no_shows=sum(r.no_shows for r in reports),
        by_channel=_summed(r.by_channel for r in reports),
        by_source=_summed(r.by_source for r in reports),
        applied=follow_ups([r.applied for r in reports]),
        hired=follow_ups([r.hired for r in reports]),
    )


@dataclass(frozen=True)
class EventChange:
    """What one announcement tells of the event itself, `told_at` being when it was published:
    the name and the start told last win (an edit moves the event); completion and
    cancellation keep their first time."""

    event_id: str
    event_name: str
    told_at: datetime
    starts_at: datetime | None = None
    starts_told_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None

    def merged(self, other: EventChange) -> EventChange:
        later = other if other.told_at >= self.told_at else self
        schedules = [c for c in (self, other) if c.starts_told_at is not None]
        schedule = max(schedules, key=lambda c: c.starts_told_at or c.told_at, default=None)
        return EventChange(
            event_id=self.event_id,
            event_name=later.event_name,
            told_at=later.told_at,
            starts_at=schedule.starts_at if schedule else None,
            starts_told_at=schedule.starts_told_at if schedule else None,
            completed_at=_earliest(self.completed_at, other.completed_at),
            cancelled_at=_earliest(self.cancelled_at, other.cancelled_at),
        )

    def reported(self) -> ReportedEvent:
        return ReportedEvent(
            event_id=self.event_id,
            event_name=self.event_name,
            starts_at=self.starts_at,
            completed_at=self.completed_at,
            cancelled_at=self.cancelled_at,
        )

"""Funnels to hire: each candidate's journey (the first time of each step) and the funnel of a
cohort, split by source, pool, segment, broadcast, sequence or event.

Pure rules. A journey's step times keep their earliest value, so facts combine in any order and
any number of times; the journeys of records merged into one person combine the same way. Every
figure's definition is in docs/analytics.md ("Funnels")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from statistics import median


class Step(StrEnum):
    """The funnel's steps, in order."""

    SOURCED = "sourced"
    ENGAGED = "engaged"
    RESPONDED = "responded"
    APPLIED = "applied"
    INTERVIEWED = "interviewed"
    HIRED = "hired"


STEPS: tuple[Step, ...] = tuple(Step)


class FunnelBy(StrEnum):
    """What a funnel report is split by: one funnel per value."""

    NONE = "none"
    SOURCE = "source"
    POOL = "pool"
    SEGMENT = "segment"
    BROADCAST = "broadcast"
    SEQUENCE = "sequence"
    EVENT = "event"


# The journey's set each split's values come from (`none` and `source` need none).
SPLIT_SETS: Mapping[FunnelBy, str] = {
    FunnelBy.POOL: "pools",
    FunnelBy.SEGMENT: "segments",
    FunnelBy.BROADCAST: "broadcasts",
    FunnelBy.SEQUENCE: "sequences",
    FunnelBy.EVENT: "events",
}

# The word a stage's name holds when it is an interview (case-insensitive).
INTERVIEW_WORD = "interview"


def is_interview_stage(stage: str | None) -> bool:
    """Whether an ATS stage is an interview: its name contains "interview", in any case
    ("Phone interview", "Onsite Interview", "Interviewing")."""
    return stage is not None and INTERVIEW_WORD in stage.casefold()


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(a, b) if a is not None and b is not None else a or b


@dataclass(frozen=True)
class Journey:
    """One person's way to a hire, as far as analytics knows it: the first time of each step,
    how they entered the CRM (`source`), and what they were in or engaged with."""

    person_id: str
    times: Mapping[Step, datetime] = field(default_factory=dict)
    source: str | None = None
    pools: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    broadcasts: frozenset[str] = frozenset()
    sequences: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()

    def at(self, step: Step) -> datetime | None:
        return self.times.get(step)

    def combined(self, other: Journey) -> Journey:
        """Two records of one person as one (a merge): each step's earliest time, every set's
        union; the source of whichever record was sourced first (this one's on a tie)."""
        times = dict(self.times)
        for step, at in other.times.items():
            times[step] = _earliest(times.get(step), at) or at
        mine, theirs = self.at(Step.SOURCED), other.at(Step.SOURCED)
        first_is_other = theirs is not None and (mine is None or theirs < mine)
        return Journey(
            person_id=self.person_id,
            times=times,
            source=(other.source or self.source)
            if first_is_other
            else (self.source or other.source),
            pools=self.pools | other.pools,
            segments=self.segments | other.segments,
            broadcasts=self.broadcasts | other.broadcasts,
            sequences=self.sequences | other.sequences,
            events=self.events | other.events,
        )

    def values(self, by: FunnelBy) -> frozenset[str | None]:
        """The funnels of a split the person counts in (None: the group of those with none)."""
        if by is FunnelBy.NONE:
            return frozenset({None})
        if by is FunnelBy.SOURCE:
            return frozenset({self.source})
        found: frozenset[str] = getattr(self, SPLIT_SETS[by])
        return frozenset(found) if found else frozenset({None})


@dataclass(frozen=True)
class StepFigures:
    """One step of a funnel."""

    step: Step
    count: int
    from_previous: float | None
    from_first: float | None
    median_hours_from_previous: float | None
    timed: int


@dataclass(frozen=True)
class Funnel:
    """The funnel of one group of the cohort (`key` None: everyone, or those with no value)."""

    key: str | None
    steps: list[StepFigures]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# One person's time of each step, in the order of STEPS (None: not reached).
StepTimes = tuple[datetime | None, ...]


def step_times(journey: Journey) -> StepTimes:
    return tuple(journey.times.get(step) for step in STEPS)


@dataclass
class _Group:
    """What one funnel of a report is computed from: how many people stopped at each step,
    and the hours from the previous step of each timed person, per step."""

    stopped_at: list[int] = field(default_factory=lambda: [0] * len(STEPS))
    hours: list[list[float]] = field(default_factory=lambda: [[] for _ in STEPS])


def _figures(key: str | None, group: _Group) -> Funnel:
    counts = [sum(group.stopped_at[index:]) for index in range(len(STEPS))]
    steps: list[StepFigures] = []
    for index, step in enumerate(STEPS):
        hours = group.hours[index]
        steps.append(
            StepFigures(
                step=step,
                count=counts[index],
                from_previous=_rate(counts[index], counts[index - 1]) if index else None,
                from_first=_rate(counts[index], counts[0]) if index else None,
                median_hours_from_previous=round(median(hours), 2) if hours else None,
                timed=len(hours),
            )
        )
    return Funnel(key, steps)


def funnels_of(
    people: Iterable[tuple[StepTimes, Iterable[str | None]]], by: FunnelBy
) -> list[Funnel]:
    """One funnel per value of the split (each person's times and the values they count in),
    values sorted, the group with none last; for `none` the one funnel of everyone.

    A person counts at a step when they reached it or any later step (someone who applied
    without opening a mail still passed "engaged"), so each count is at most the previous one;
    the median time from the previous step is over the people with both times, the later step
    not before the earlier (`timed` of them). Each person's figures are worked out once and
    added to every group they are in."""
    groups: dict[str | None, _Group] = {}
    for times, values in people:
        furthest = -1
        timed: list[tuple[int, float]] = []
        previous: datetime | None = None
        for index, at in enumerate(times):
            if at is not None:
                furthest = index
                if previous is not None and at >= previous:
                    timed.append((index, (at - previous).total_seconds() / 3600))
            previous = at
        for key in values:
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group()
            if furthest >= 0:
                group.stopped_at[furthest] += 1
            for index, hours in timed:
                group.hours[index].append(hours)
    if by is FunnelBy.NONE:
        return [_figures(None, groups.get(None) or _Group())]
    keys: list[str | None] = [*sorted(k for k in groups if k is not None)]
    if None in groups:
        keys.append(None)
    return [_figures(k, groups[k]) for k in keys]


def funnel(key: str | None, journeys: Sequence[Journey]) -> Funnel:
    """The funnel of the journeys (`funnels_of`, as one group)."""
    group = funnels_of(((step_times(j), (None,)) for j in journeys), FunnelBy.NONE)[0]
    return Funnel(key, group.steps)


def sourced_in(times: StepTimes, start: datetime, end: datetime) -> bool:
    """Whether a person was (first) sourced in [start, end)."""
    sourced = times[0]
    return sourced is not None and start <= sourced < end


def in_cohort(journeys: Iterable[Journey], start: datetime, end: datetime) -> list[Journey]:
    """The people sourced in [start, end)."""
    return [j for j in journeys if sourced_in(step_times(j), start, end)]


def funnels(cohort: Sequence[Journey], by: FunnelBy) -> list[Funnel]:
    """One funnel per value of the split, values sorted, the group with none last (for `none`
    the one funnel of everyone)."""
    return funnels_of(((step_times(j), j.values(by)) for j in cohort), by)

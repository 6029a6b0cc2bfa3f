"""Attribution: which campaigns, sequences, events and sources the applications and hires
followed, credited by a first-touch, last-touch or linear model.

Pure rules; every figure's definition is in docs/analytics.md ("Attribution")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class TouchKind(StrEnum):
    """What touched a person: a broadcast's or a sequence's mail they opened or clicked, an
    event they attended, how they entered the CRM (`source`)."""

    BROADCAST = "broadcast"
    SEQUENCE = "sequence"
    EVENT = "event"
    SOURCE = "source"


class Model(StrEnum):
    FIRST = "first"
    LAST = "last"
    LINEAR = "linear"


class Outcome(StrEnum):
    APPLICATION = "application"
    HIRE = "hire"


# The row of the outcomes no touch preceded.
NO_TOUCH = "no touch"


@dataclass(frozen=True, order=True)
class Touch:
    """One touch: its time first, so touches sort by time (then kind and ref, for ties)."""

    at: datetime
    kind: TouchKind
    ref: str  # the broadcast, sequence or event id, or the source's name


@dataclass(frozen=True)
class Credited:
    """An outcome (an application or a hire) at a time, of a person."""

    outcome_id: str
    person_id: str | None
    at: datetime


@dataclass(frozen=True)
class Credit:
    """What one campaign, sequence, event or source (`kind`, `ref`) earned: the sum of its
    credit and the outcomes it touched."""

    kind: str
    ref: str
    credit: float
    outcomes: int


@dataclass(frozen=True)
class Attribution:
    outcomes: int
    touched: int
    credits: list[Credit]


def person_touches(records: Iterable[Mapping[str, Touch]]) -> list[Touch]:
    """A person's touches from those of each of their records (records merged into one), each
    keyed by what it touched (a broadcast, a sequence step, an event, the sign-up): one touch
    per key, its earliest over the records, earliest first. So two records that opened the
    same broadcast are one touch of it, and the sign-up is the record sourced first, as if one
    record had done it all; summing the records' touches counted each shared one twice."""
    earliest: dict[str, Touch] = {}
    for keyed in records:
        for key, touch in keyed.items():
            before = earliest.get(key)
            earliest[key] = touch if before is None else min(before, touch)
    return sorted(earliest.values())


def touches_before(touches: Sequence[Touch], at: datetime, lookback: timedelta) -> list[Touch]:
    """The touches in the lookback window before an outcome: at or after `at - lookback` and
    not after `at`, earliest first."""
    return sorted(t for t in touches if at - lookback <= t.at <= at)


def credit(touches: Sequence[Touch], model: Model) -> dict[tuple[str, str], float]:
    """Each touched (kind, ref)'s share of one outcome (summing to 1): first-touch gives it all
    to the earliest touch, last-touch to the latest, linear an equal share to each touch (a
    sequence whose two steps were opened gets two shares). No touch: all to "no touch"."""
    if not touches:
        return {(NO_TOUCH, NO_TOUCH): 1.0}
    ordered = sorted(touches)
    if model is Model.FIRST:
        chosen = [ordered[0]]
    elif model is Model.LAST:
        chosen = [ordered[-1]]
    else:
        chosen = ordered
    shares: dict[tuple[str, str], float] = {}
    for touch in chosen:
        key = (touch.kind.value, touch.ref)
        shares[key] = shares.get(key, 0.0) + 1 / len(chosen)
    return shares


def attribute(
    outcomes: Sequence[Credited],
    touches: Mapping[str, Sequence[Touch]],
    lookback: timedelta,
    model: Model,
) -> Attribution:
    """The credit of every (kind, ref) over the outcomes, highest first (then by kind and ref):
    credit rounded to four decimals, and how many outcomes each touched (any touch in the
    window counts, whichever the model credits)."""
    earned: dict[tuple[str, str], float] = {}
    touched_outcomes: dict[tuple[str, str], int] = {}
    touched = 0
    for outcome in outcomes:
        window = touches_before(
            touches.get(outcome.person_id, ()) if outcome.person_id else (), outcome.at, lookback
        )
        touched += bool(window)
        for key, share in credit(window, model).items():
            earned[key] = earned.get(key, 0.0) + share
        for key in {(t.kind.value, t.ref) for t in window} or {(NO_TOUCH, NO_TOUCH)}:
            touched_outcomes[key] = touched_outcomes.get(key, 0) + 1
    credits = [
        Credit(kind, ref, round(value, 4), touched_outcomes[(kind, ref)])
        for (kind, ref), value in earned.items()
    ]
    credits += [
        Credit(kind, ref, 0.0, n)
        for (kind, ref), n in touched_outcomes.items()
        if (kind, ref) not in earned
    ]
    credits.sort(key=lambda c: (-c.credit, c.kind, c.ref))
    return Attribution(outcomes=len(outcomes), touched=touched, credits=credits)

"""The engagement score as it decays between activities, in closed form.

Every activity halves in weight each half-life, so between two activities a candidate's whole
score decays the same way:

    S(t) = S0 * 0.5 ** ((t - t0) / half_life)

and the instant it reaches a lower value S1 is

    t1 = t0 + half_life * log2(S0 / S1).

The score published last is published again at the instant it has dropped by one **step**:
the larger of `step` points and `ratio` of itself (1 point, or 10%, by default), so a segment
rule on the score turns true at most one step late. A score at or below the **floor** is
0, and then no more published: the one rule of every figure of the score (the published one,
the profile's explanation, pool health), `published_value`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

DAY_SECONDS = 86_400
# Every figure of the score is to 4 decimals: a score below floor + half a unit of the last
# decimal shows as the floor, so is 0.
DECIMALS = 4
HALF_UNIT: float = 0.5 / 10**DECIMALS
BELOW_HALF_UNIT: float = 0.99 * HALF_UNIT


@dataclass(frozen=True)
class RepublishPolicy:
    """When a decaying score is published again."""

    step: float = 1.0  # points
    ratio: float = 0.1  # of the published score
    floor: float = 0.5  # at or below it, the score is 0 (published and shown)


def decayed(score: float, scored_at: datetime, at: datetime, half_life_days: float) -> float:
    """A score computed at `scored_at`, as it stands at `at` (no activity in between)."""
    age_days = max(0.0, (at - scored_at).total_seconds() / DAY_SECONDS)
    factor: float = 0.5 ** (age_days / half_life_days)
    return score * factor


def published_value(score: float, policy: RepublishPolicy) -> float:
    """The score as published and shown anywhere: to 4 decimals, then 0 at or below the floor.

    Rounding first, here, so no caller floors an unrounded score (0.50004 would stay above the
    floor unrounded, yet shows as 0.5, which is at it)."""
    shown = round(score, DECIMALS)
    return 0.0 if shown <= policy.floor else shown


def next_target(published: float, policy: RepublishPolicy) -> float | None:
    """The value at which the published score is published again; None when it is 0."""
    if published <= 0:
        return None
    if published <= policy.floor:
        return published  # at once: it is to be published as 0
    target = published - max(policy.step, policy.ratio * published)
    # Due as it starts to show as the floor (rounded), not only once it is below it: the
    # explanation and pool health show 0 from then, and the published score must not stay
    # on the other side of the floor for the minutes in between. A hair below the rounding
    # boundary (seconds of decay), so a score computed a little later than the published one
    # (its event's time, the sweep's clock) still rounds down there: exactly at the boundary it
    # rounded to 0.5001 once (CI) and was published again as that, not 0.
    return max(target, policy.floor + BELOW_HALF_UNIT)


def reaches_at(score: float, scored_at: datetime, value: float, half_life_days: float) -> datetime:
    """The instant a score of `score` at `scored_at` has decayed to `value` (0 < value <= score),
    rounded up to the next millisecond (what the database keeps), so the score has reached the
    value by then."""
    seconds = half_life_days * DAY_SECONDS * math.log2(score / value)
    instant = scored_at + timedelta(seconds=seconds)
    rounded = instant.replace(microsecond=instant.microsecond // 1000 * 1000)
    return rounded if rounded >= instant else rounded + timedelta(milliseconds=1)


def next_republish(
    published: float, published_at: datetime, half_life_days: float, policy: RepublishPolicy
) -> datetime | None:
    """When the score published at `published_at` is to be published again (None: never, it
    is 0)."""
    target = next_target(published, policy)
    if target is None:
        return None
    return reaches_at(published, published_at, target, half_life_days)

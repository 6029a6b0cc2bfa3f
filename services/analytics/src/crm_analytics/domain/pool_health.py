"""Pool health: who is in each talent pool and at which stage (from `pool.stage_changed` and
`pool.stage_renamed`), how the pool grew, how engaged and how fresh its members are, who is
going cold, and the silver medallists available (from the ATS topics).

Every fold here commutes: a membership's stage is the one its latest move (by `moved_at`)
set, named as the stage is called now (a rename after the move is followed, one before it
is not), and each addition and removal is kept once by its time; an application's status is
the one its latest change set. So a batch, a redelivery or topics out of order leave one state.
"""

from __future__ import annotations

import statistics
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from itertools import pairwise

DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The growth windows: the last 7, 30 and 90 days, up to now.
GROWTH_WINDOWS = (7, 30, 90)
# The engagement buckets: (label, lowest score included); each runs up to the next one's,
# except that `0` holds the score 0 alone (`score_bucket`).
SCORE_BUCKETS = (("0", 0.0), ("1-9", 1.0), ("10-24", 10.0), ("25-49", 25.0), ("50+", 50.0))
# The freshness buckets, by days since the last activity: (label, fewest days included).
FRESHNESS_BUCKETS = (("<30d", 0.0), ("30-90d", 30.0), ("90-180d", 90.0), (">180d", 180.0))
NEVER = "never"
# A stage reached at rejection that makes a silver medallist: its name holds one of these
# words, ignoring case ("Hiring Manager Interview", "Final interview", "On-site", "Offer").
LATE_STAGE_WORDS = ("interview", "on-site", "onsite", "final", "offer", "reference")
# How many candidate ids a list of people shows (the first page).
LISTED = 100


@dataclass(frozen=True)
class StageRename:
    pool_id: str
    from_stage: str
    to_stage: str
    renamed_at: datetime
    pool_name: str = ""


@dataclass(frozen=True)
class PoolMove:
    """A candidate added to a pool (`from_stage` None), moved, or removed (`to_stage` None)."""

    pool_id: str
    pool_name: str
    candidate_id: str
    from_stage: str | None
    to_stage: str | None
    moved_at: datetime


def stage_now_called(stage: str, moved_at: datetime, renames: Iterable[StageRename]) -> str:
    """The name a stage a move placed someone at goes by now: every rename after the move
    that names it, in the order they were made."""
    for rename in sorted(renames, key=lambda r: r.renamed_at):
        if rename.renamed_at > moved_at and rename.from_stage == stage:
            stage = rename.to_stage
    return stage


@dataclass(frozen=True)
class Membership:
    """One candidate record in one pool: the stage now (None: not a member now), when the
    latest move was made, and when it was added and removed."""

    pool_id: str
    candidate_id: str
    stage: str | None = None
    moved_at: datetime | None = None
    added: tuple[datetime, ...] = ()
    removed: tuple[datetime, ...] = ()

    @property
    def member(self) -> bool:
        return self.stage is not None


def _later(move: PoolMove, than: Membership) -> bool:
    if than.moved_at is None:
        return True
    # Two moves at one instant (never seen): the order of their stage names decides.
    return (move.moved_at, move.to_stage or "") > (than.moved_at, than.stage or "")


def fold_moves(
    current: Membership, moves: Sequence[PoolMove], renames: Sequence[StageRename]
) -> Membership:
    """The membership after the moves (any order, repeats harmless)."""
    folded = current
    for move in moves:
        added = set(folded.added) | ({move.moved_at} if move.from_stage is None else set())
        removed = set(folded.removed) | ({move.moved_at} if move.to_stage is None else set())
        folded = replace(folded, added=tuple(sorted(added)), removed=tuple(sorted(removed)))
        if _later(move, folded):
            stage = move.to_stage
            named = None if stage is None else stage_now_called(stage, move.moved_at, renames)
            folded = replace(folded, stage=named, moved_at=move.moved_at)
    return folded


def renamed(membership: Membership, rename: StageRename) -> Membership:
    """The membership after a stage rename: a member placed at the stage before the rename is
    at its new name."""
    if (
        membership.stage == rename.from_stage
        and membership.moved_at is not None
        and membership.moved_at < rename.renamed_at
    ):
        return replace(membership, stage=rename.to_stage)
    return membership


class ApplicationStatus(StrEnum):
    OPEN = "open"
    REJECTED = "rejected"
    HIRED = "hired"


# At one instant a decision outranks a creation or a move.
_STATUS_RANK = {
    ApplicationStatus.OPEN: 0,
    ApplicationStatus.REJECTED: 1,
    ApplicationStatus.HIRED: 2,
}


@dataclass(frozen=True)
class ApplicationChange:
    """What one ATS topic says of an application: created, moved, rejected or hired."""

    connection_id: str
    ats_application_id: str
    candidate_id: str | None
    email: str | None
    status: ApplicationStatus
    at: datetime
    stage: str | None = None
    prospect: bool | None = None  # known from `ats.application_created` only


@dataclass(frozen=True)
class ApplicationOutcome:
    """An ATS application as pool health needs it: its status now (the latest change's), the
    latest rejection at a late stage and the latest hire."""

    connection_id: str
    ats_application_id: str
    candidate_id: str | None = None
    email: str | None = None
    prospect: bool = False
    status: ApplicationStatus | None = None
    status_at: datetime | None = None
    late_rejected_at: datetime | None = None
    hired_at: datetime | None = None


def is_late_stage(stage: str | None, words: Sequence[str] = LATE_STAGE_WORDS) -> bool:
    """Whether a stage reached is an interview or later (by its name)."""
    return stage is not None and any(word in stage.casefold() for word in words)


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    return max((t for t in (first, second) if t is not None), default=None)


def fold_outcome(
    current: ApplicationOutcome,
    changes: Sequence[ApplicationChange],
    words: Sequence[str] = LATE_STAGE_WORDS,
) -> ApplicationOutcome:
    """The application after the changes (any order, repeats harmless)."""
    folded = current
    for change in changes:
        folded = replace(
            folded,
            candidate_id=change.candidate_id or folded.candidate_id,
            email=change.email or folded.email,
            prospect=folded.prospect if change.prospect is None else change.prospect,
        )
        if folded.status_at is None or (change.at, _STATUS_RANK[change.status]) > (
            folded.status_at,
            _STATUS_RANK[folded.status or ApplicationStatus.OPEN],
        ):
            folded = replace(folded, status=change.status, status_at=change.at)
        if change.status is ApplicationStatus.REJECTED and is_late_stage(change.stage, words):
            folded = replace(folded, late_rejected_at=_latest(folded.late_rejected_at, change.at))
        if change.status is ApplicationStatus.HIRED:
            folded = replace(folded, hired_at=_latest(folded.hired_at, change.at))
    return folded


# ---- The report, from the state above resolved to people ----------------------------------


@dataclass(frozen=True)
class Person:
    """A pool member as a person: every record of theirs in the pool (a merged record's
    included) folded into one."""

    candidate_id: str  # the survivor
    stage: str | None  # None: not in the pool now
    added: tuple[datetime, ...]
    removed: tuple[datetime, ...]

    @property
    def member(self) -> bool:
        return self.stage is not None


def _in_order(times: Sequence[datetime]) -> tuple[datetime, ...]:
    """The times sorted, each once (as stored already, most often: then only checked)."""
    if all(earlier < later for earlier, later in pairwise(times)):
        return tuple(times)
    return tuple(sorted(set(times)))


def as_people(memberships: Sequence[Membership], survivors: dict[str, str]) -> list[Person]:
    """The pool's memberships as people: a record merged away counts as its survivor. A person
    is in the pool when any of their records is, at the survivor's own stage if it is a member,
    else at the stage of the record moved last."""
    by_person: dict[str, list[Membership]] = {}
    for m in memberships:
        by_person.setdefault(survivors.get(m.candidate_id, m.candidate_id), []).append(m)
    people: list[Person] = []
    for person, records in sorted(by_person.items()):
        if len(records) == 1:
            # Most people have one record in a pool: its stage, whatever its id.
            (m,) = records
            people.append(Person(person, m.stage, _in_order(m.added), _in_order(m.removed)))
            continue
        members = [m for m in records if m.member]
        own = [m for m in members if m.candidate_id == person]
        latest = max(members, key=lambda m: (m.moved_at or EPOCH, m.candidate_id), default=None)
        chosen = own[0] if own else latest
        people.append(
            Person(
                candidate_id=person,
                stage=chosen.stage if chosen else None,
                added=tuple(sorted({t for m in records for t in m.added})),
                removed=tuple(sorted({t for m in records for t in m.removed})),
            )
        )
    return people


@dataclass(frozen=True)
class Engagement:
    """A person's engagement as analytics keeps it: the score now (decayed), their last
    activity, and the highest their score has been."""

    score: float = 0.0
    last_activity_at: datetime | None = None
    peak_score: float = 0.0


@dataclass(frozen=True)
class HealthRules:
    """The report's choices a caller may set: going cold is `engaged_score` reached once and no
    activity for `cold_after_days`."""

    cold_after_days: int = 60
    engaged_score: float = 10.0


@dataclass(frozen=True)
class Growth:
    days: int
    added: int
    removed: int


@dataclass(frozen=True)
class Listed:
    """How many people, and the first page of them."""

    count: int
    candidate_ids: list[str]

    @property
    def truncated(self) -> bool:
        return self.count > len(self.candidate_ids)


@dataclass(frozen=True)
class PoolHealth:
    size: int
    by_stage: dict[str, int]
    growth: list[Growth]
    engagement_buckets: dict[str, int]
    engagement_median: float | None
    freshness_buckets: dict[str, int]
    freshness_median_days: float | None
    going_cold: Listed
    silver_medallists: Listed
    rules: HealthRules = field(default_factory=HealthRules)


def bucket(value: float, buckets: Sequence[tuple[str, float]]) -> str:
    """The label of the last bucket whose lower bound `value` reaches."""
    label = buckets[0][0]
    for name, lowest in buckets:
        if value >= lowest:
            label = name
    return label


def score_bucket(score: float) -> str:
    """The engagement bucket of a score already under the one rule of the score
    (`crm_analytics.domain.decay.published_value`): `0` is the score 0 alone (never engaged,
    or decayed to the floor), and any other score, which is above the floor (0.5), is at
    least `1-9`. So one open decaying from 1 stays in `1-9` until it is 0 everywhere, as the
    published score (the candidates list, segments) keeps it at 1 until then."""
    if score <= 0:
        return SCORE_BUCKETS[0][0]
    return bucket(score, SCORE_BUCKETS[1:])


def median(values: Sequence[float], digits: int) -> float | None:
    return round(statistics.median(values), digits) if values else None


def is_silver_medallist(outcomes: Sequence[ApplicationOutcome]) -> datetime | None:
    """When a person's latest rejection at a late stage was, if they are a silver medallist
    available: rejected at an interview or later, no application open now (a prospect record
    is no application) and no hire since that rejection."""
    rejected = max((o.late_rejected_at for o in outcomes if o.late_rejected_at), default=None)
    if rejected is None:
        return None
    if any(o.status is ApplicationStatus.OPEN and not o.prospect for o in outcomes):
        return None
    if any(o.hired_at is not None and o.hired_at >= rejected for o in outcomes):
        return None
    return rejected


def _latest_until(times: Sequence[datetime], now: datetime) -> datetime | None:
    """The latest of the times up to `now` (None when none is)."""
    latest = max(times, default=None)
    if latest is None or latest <= now:
        return latest
    return max((t for t in times if t <= now), default=None)


def health(
    people: Sequence[Person],
    engagement: dict[str, Engagement],
    outcomes: dict[str, list[ApplicationOutcome]],
    now: datetime,
    rules: HealthRules,
) -> PoolHealth:
    """Every figure of a pool's health at `now` (docs/analytics.md "Pool health")."""
    members = [p for p in people if p.member]
    by_stage: dict[str, int] = {}
    for p in members:
        assert p.stage is not None
        by_stage[p.stage] = by_stage.get(p.stage, 0) + 1
    # Someone is in a window when their latest addition (removal) up to now is in it: those
    # times sorted once, each window's count is the ones after its start.
    added_at = sorted(t for p in people if (t := _latest_until(p.added, now)) is not None)
    removed_at = sorted(
        t for p in people if not p.member and (t := _latest_until(p.removed, now)) is not None
    )
    growth = []
    for days in GROWTH_WINDOWS:
        since = now - days * DAY
        growth.append(
            Growth(
                days,
                len(added_at) - bisect_right(added_at, since),
                len(removed_at) - bisect_right(removed_at, since),
            )
        )
    scores = {p.candidate_id: engagement.get(p.candidate_id, Engagement()) for p in members}
    score_buckets = dict.fromkeys((label for label, _ in SCORE_BUCKETS), 0)
    fresh_buckets = dict.fromkeys([*(label for label, _ in FRESHNESS_BUCKETS), NEVER], 0)
    ages: list[float] = []
    cold: list[tuple[datetime, str]] = []
    cold_before = now - rules.cold_after_days * DAY
    rounded: list[float] = []
    for candidate_id, e in scores.items():
        score = round(e.score, 4)
        rounded.append(score)
        score_buckets[score_bucket(score)] += 1
        if e.last_activity_at is None:
            fresh_buckets[NEVER] += 1
            continue
        age = max(0.0, (now - e.last_activity_at) / DAY)
        ages.append(age)
        fresh_buckets[bucket(age, FRESHNESS_BUCKETS)] += 1
        if e.peak_score >= rules.engaged_score and e.last_activity_at <= cold_before:
            cold.append((e.last_activity_at, candidate_id))
    # Gone cold most recently first: the likeliest to answer.
    cold.sort(key=lambda c: (-c[0].timestamp(), c[1]))
    silver = sorted(
        (
            (-rejected.timestamp(), p.candidate_id)
            for p in members
            if p.candidate_id in outcomes
            and (rejected := is_silver_medallist(outcomes[p.candidate_id]))
        ),
    )
    return PoolHealth(
        size=len(members),
        by_stage=dict(sorted(by_stage.items())),
        growth=growth,
        engagement_buckets=score_buckets,
        engagement_median=median(rounded, 4),
        freshness_buckets=fresh_buckets,
        freshness_median_days=median(ages, 1),
        going_cold=Listed(len(cold), [c for _, c in cold[:LISTED]]),
        silver_medallists=Listed(len(silver), [c for _, c in silver[:LISTED]]),
        rules=rules,
    )

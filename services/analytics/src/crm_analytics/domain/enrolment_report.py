"""Enrolment reports: who entered a nurture sequence, who ran through it, who left it early and
why, per UTC day.

Pure rules, as for the message reports. Each enrolment's facts (`enrolment.started`,
`enrolment.ended`) fold into one record (earliest times kept, so they combine in any order and
any number of times); its contribution to the daily rollup is a function of its facts, and a
change adds the difference. Every figure's definition is in docs/analytics.md ("Enrolment
reports")."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from crm_analytics.domain.timeseries import day_of

# The rollup's plain counts, each counted once per enrolment.
ENTERED = "entered"
COMPLETED = "completed"
EXITED = "exited"
# The entrants' outcomes so far, on the day they **entered** (a cohort): so of a range's
# entrants, the share that completed never exceeds 1.
ENTERED_COMPLETED = "entered_completed"
ENTERED_EXITED = "entered_exited"
COUNTS = (ENTERED, COMPLETED, EXITED, ENTERED_COMPLETED, ENTERED_EXITED)
# The rollup's breakdowns, each a map of key to count: why exited enrolments ended, at which
# send step a suppressed mail ended them, and how many whole days the completed ones took.
EXIT_REASONS = "exit_reasons"
EXIT_STEPS = "exit_steps"
COMPLETION_DAYS = "completion_days"
BREAKDOWNS = (EXIT_REASONS, EXIT_STEPS, COMPLETION_DAYS)
# The reason of an `exited` end that named none (a publisher older than the reason).
UNKNOWN_REASON = "unknown"

_KEY = re.compile(r"[^A-Za-z0-9_-]")

Outcome = Literal["completed", "exited"]


def breakdown_key(value: str) -> str:
    """A key of a breakdown as a document field name may hold it (no `.` or `$`)."""
    return _KEY.sub("_", value)[:64] or UNKNOWN_REASON


@dataclass(frozen=True)
class EnrolmentEnd:
    """How an enrolment ended."""

    ended_at: datetime
    outcome: Outcome
    exit_reason: str | None = None
    exit_step: int | None = None


@dataclass(frozen=True)
class EnrolmentFacts:
    """What analytics knows of one enrolment: its sequence and when it began (both topics tell
    them), and its end once `enrolment.ended` is folded. No candidate id: the report counts
    enrolments, and an erasure leaves the sequence's figures whole."""

    enrolment_id: str
    sequence_id: str
    enrolled_at: datetime
    # The sequence's name, as the event told it at `named_at` (its start, or its end).
    sequence_name: str | None = None
    named_at: datetime | None = None
    end: EnrolmentEnd | None = None

    def merged(self, other: EnrolmentFacts) -> EnrolmentFacts:
        """Both as one: the earliest start, the first end told (an enrolment ends once), the
        name told last (by the events' times, not the order they arrived in)."""
        end = self.end
        if other.end is not None and (end is None or other.end.ended_at < end.ended_at):
            end = other.end
        named = max(
            (self, other),
            key=lambda f: (f.named_at is not None, f.named_at or self.enrolled_at),
        )
        return EnrolmentFacts(
            enrolment_id=self.enrolment_id,
            sequence_id=self.sequence_id,
            enrolled_at=min(self.enrolled_at, other.enrolled_at),
            sequence_name=named.sequence_name,
            named_at=named.named_at,
            end=end,
        )

    def contributions(self) -> Counter[tuple[date, str]]:
        """What the enrolment adds to its sequence's rollup, by day and figure (a breakdown's
        figure is `<breakdown>.<key>`): `entered` on the day enrolled; once ended, `completed`
        or `exited` (with its reason, and its step if a mail ended it) on the day ended, and the
        same outcome among the entrants (`entered_completed`, `entered_exited`) on the day
        enrolled; a completion's whole days taken on the day ended."""
        entered_on = day_of(self.enrolled_at)
        found: Counter[tuple[date, str]] = Counter({(entered_on, ENTERED): 1})
        end = self.end
        if end is None:
            return found
        ended_on = day_of(end.ended_at)
        if end.outcome == "completed":
            found[(ended_on, COMPLETED)] += 1
            found[(entered_on, ENTERED_COMPLETED)] += 1
            taken = max(0, (end.ended_at - self.enrolled_at) // timedelta(days=1))
            found[(ended_on, f"{COMPLETION_DAYS}.{taken}")] += 1
            return found
        found[(ended_on, EXITED)] += 1
        found[(entered_on, ENTERED_EXITED)] += 1
        reason = breakdown_key(end.exit_reason or UNKNOWN_REASON)
        found[(ended_on, f"{EXIT_REASONS}.{reason}")] += 1
        if end.exit_step is not None:
            found[(ended_on, f"{EXIT_STEPS}.{end.exit_step}")] += 1
        return found


def change(before: EnrolmentFacts | None, after: EnrolmentFacts) -> dict[date, dict[str, int]]:
    """What moving one enrolment's facts from `before` to `after` adds to its rollup rows, by
    day and figure (zero changes left out)."""
    difference = Counter(after.contributions())
    difference.subtract(before.contributions() if before is not None else Counter())
    by_day: dict[date, dict[str, int]] = {}
    for (day, figure), n in difference.items():
        if n:
            by_day.setdefault(day, {})[figure] = n
    return by_day


@dataclass(frozen=True)
class EnrolmentDay:
    """One sequence's rollup row: the counts of one UTC day."""

    day: date
    counts: Mapping[str, int]
    breakdowns: Mapping[str, Mapping[str, int]]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def median_of(histogram: Mapping[int, int]) -> float | None:
    """The median of the values a histogram counts (None when it counts none)."""
    total = sum(histogram.values())
    if not total:
        return None
    middle = ((total - 1) // 2, total // 2)
    values: list[int] = []
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        while len(values) < 2 and seen > middle[len(values)]:
            values.append(value)
    return (values[0] + values[1]) / 2


@dataclass(frozen=True)
class EnrolmentReport:
    """A sequence's enrolments over a period of UTC days, and the number enrolled now."""

    sequence_id: str
    sequence_name: str | None
    first_day: date
    last_day: date
    totals: dict[str, int]
    breakdowns: dict[str, dict[str, int]]
    series: list[dict[str, int]]
    enrolled_now: int

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=n) for n in range(count)]

    @property
    def completion_rate(self) -> float | None:
        return _rate(self.totals[ENTERED_COMPLETED], self.totals[ENTERED])

    @property
    def exit_rate(self) -> float | None:
        return _rate(self.totals[ENTERED_EXITED], self.totals[ENTERED])

    @property
    def still_enrolled(self) -> int:
        """The period's entrants not ended (yet)."""
        totals = self.totals
        return totals[ENTERED] - totals[ENTERED_COMPLETED] - totals[ENTERED_EXITED]

    @property
    def median_days_to_complete(self) -> float | None:
        return median_of({int(k): n for k, n in self.breakdowns[COMPLETION_DAYS].items()})


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for key, n in counts.items():
        into[key] = into.get(key, 0) + n


def report(
    sequence_id: str,
    sequence_name: str | None,
    rows: Sequence[EnrolmentDay],
    first_day: date,
    last_day: date,
) -> EnrolmentReport:
    """The report of the days from `first_day` to `last_day` (both included) from every row of
    the sequence: the period's totals, breakdowns and days (zero where nothing happened), and
    the enrolments entered and not ended whenever (`enrolled_now`)."""
    series = [dict.fromkeys(COUNTS, 0) for _ in range((last_day - first_day).days + 1)]
    totals = dict.fromkeys(COUNTS, 0)
    breakdowns: dict[str, dict[str, int]] = {name: {} for name in BREAKDOWNS}
    ever: dict[str, int] = dict.fromkeys(COUNTS, 0)
    for row in rows:
        _add(ever, row.counts)
        if not first_day <= row.day <= last_day:
            continue
        _add(series[(row.day - first_day).days], row.counts)
        _add(totals, row.counts)
        for breakdown, counts in row.breakdowns.items():
            _add(breakdowns.setdefault(breakdown, {}), counts)
    return EnrolmentReport(
        sequence_id=sequence_id,
        sequence_name=sequence_name,
        first_day=first_day,
        last_day=last_day,
        totals={key: totals[key] for key in COUNTS},
        breakdowns={
            breakdown: {k: n for k, n in sorted(counts.items(), key=_breakdown_order) if n}
            for breakdown, counts in breakdowns.items()
        },
        series=[{key: day[key] for key in COUNTS} for day in series],
        enrolled_now=ever[ENTERED] - ever[COMPLETED] - ever[EXITED],
    )


def _breakdown_order(item: tuple[str, int]) -> tuple[int, int, str]:
    """Numeric keys (steps, days) in their order; reasons by count, most first."""
    key, n = item
    return (int(key), 0, "") if key.isdigit() else (0, -n, key)

"""Message reports: what became of the mail of a broadcast, a sequence's steps or a template.

Pure rules. Each message's facts (sent, bounced, opened, ...) are folded into one record whose
every time keeps its earliest value, so the facts combine in any order and any number of times;
the message's contribution to the daily rollup is a function of its facts, and a change adds
the difference. Every figure's definition is in docs/analytics.md ("Message reports")."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from crm_analytics.domain.timeseries import day_of


class Figure(StrEnum):
    """What the rollup counts, per message: each message counts at most once in each."""

    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCED_HARD = "bounced_hard"
    BOUNCED_SOFT = "bounced_soft"
    OPENED = "opened"
    CLICKED = "clicked"
    MACHINE_OPENED = "machine_opened"
    MACHINE_CLICKED = "machine_clicked"
    REPLIED = "replied"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINED = "complained"
    # The rates' numerators: messages that count as delivered (sent, never bounced) and were
    # opened, clicked, ... , counted on the day the message was sent, like `delivered`. So
    # each is part of `delivered` in every row, and a rate over `delivered` never exceeds 1.
    DELIVERED_OPENED = "delivered_opened"
    DELIVERED_CLICKED = "delivered_clicked"
    DELIVERED_REPLIED = "delivered_replied"
    DELIVERED_UNSUBSCRIBED = "delivered_unsubscribed"
    DELIVERED_COMPLAINED = "delivered_complained"
    # Messages a send rule stopped before delivery (`message.suppressed`): never sent, so in no
    # rate; counted on the day they were stopped.
    SUPPRESSED = "suppressed"


class SourceKind(StrEnum):
    """What sent a message: a broadcast, a sequence step, or anything else (`direct`)."""

    BROADCAST = "broadcast"
    SEQUENCE = "sequence"
    DIRECT = "direct"


@dataclass(frozen=True)
class MessageSource:
    """Where a message came from, as `message.sent` (or `message.suppressed`) told it: the
    rollup's key besides the day."""

    kind: SourceKind
    source_id: str  # the broadcast or sequence id; "" for a direct message
    template_id: str
    variant: str | None = None
    step_index: int | None = None
    step_label: str | None = None


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(a, b) if a is not None and b is not None else a or b


@dataclass(frozen=True)
class MessageFacts:
    """What analytics knows of one message: its source (once `message.sent` is folded) and the
    first time of each thing that happened to it. Facts told before the message's sending are
    kept and count once the sending is known."""

    message_id: str
    candidate_id: str | None = None
    source: MessageSource | None = None
    sent_at: datetime | None = None
    hard_bounced_at: datetime | None = None
    soft_bounced_at: datetime | None = None
    opened_at: datetime | None = None
    clicked_at: datetime | None = None
    machine_opened_at: datetime | None = None
    machine_clicked_at: datetime | None = None
    replied_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    complained_at: datetime | None = None
    suppressed_at: datetime | None = None
    # Whether the message counts in the rates' numerators (`delivered_opened`, ...): set by
    # every fold since they exist, and by the migration for the messages folded before, so
    # the rollup gains them exactly once per message (the change from False to True adds them).
    rated: bool = False

    def merged(self, other: MessageFacts) -> MessageFacts:
        """Both as one: every time its earliest; the source and candidate once known."""
        return MessageFacts(
            message_id=self.message_id,
            candidate_id=self.candidate_id or other.candidate_id,
            source=self.source or other.source,
            sent_at=_earliest(self.sent_at, other.sent_at),
            hard_bounced_at=_earliest(self.hard_bounced_at, other.hard_bounced_at),
            soft_bounced_at=_earliest(self.soft_bounced_at, other.soft_bounced_at),
            opened_at=_earliest(self.opened_at, other.opened_at),
            clicked_at=_earliest(self.clicked_at, other.clicked_at),
            machine_opened_at=_earliest(self.machine_opened_at, other.machine_opened_at),
            machine_clicked_at=_earliest(self.machine_clicked_at, other.machine_clicked_at),
            replied_at=_earliest(self.replied_at, other.replied_at),
            unsubscribed_at=_earliest(self.unsubscribed_at, other.unsubscribed_at),
            complained_at=_earliest(self.complained_at, other.complained_at),
            suppressed_at=_earliest(self.suppressed_at, other.suppressed_at),
            rated=self.rated or other.rated,
        )

    def contributions(self) -> Counter[tuple[date, Figure]]:
        """What the message adds to the rollup, by day and figure: nothing until its sending is
        known; each figure on the (UTC) day it first happened, `delivered` on the day it was
        sent unless it bounced, a soft bounce only if it never bounced hard; the rates'
        numerators (once `rated`) on the day sent, for a delivered message only. A message a
        send rule stopped (never sent) counts as `suppressed` on the day it was stopped."""
        counted: Counter[tuple[date, Figure]] = Counter()
        if self.source is None:
            return counted
        if self.sent_at is None:
            if self.suppressed_at is not None:
                counted[(day_of(self.suppressed_at), Figure.SUPPRESSED)] += 1
            return counted
        sent_day = day_of(self.sent_at)
        counted[(sent_day, Figure.SENT)] += 1
        if self.hard_bounced_at is None and self.soft_bounced_at is None:
            counted[(sent_day, Figure.DELIVERED)] += 1
            if self.rated:
                for at, figure in (
                    (self.opened_at, Figure.DELIVERED_OPENED),
                    (self.clicked_at, Figure.DELIVERED_CLICKED),
                    (self.replied_at, Figure.DELIVERED_REPLIED),
                    (self.unsubscribed_at, Figure.DELIVERED_UNSUBSCRIBED),
                    (self.complained_at, Figure.DELIVERED_COMPLAINED),
                ):
                    if at is not None:
                        counted[(sent_day, figure)] += 1
        if self.hard_bounced_at is not None:
            counted[(day_of(self.hard_bounced_at), Figure.BOUNCED_HARD)] += 1
        elif self.soft_bounced_at is not None:
            counted[(day_of(self.soft_bounced_at), Figure.BOUNCED_SOFT)] += 1
        for at, figure in (
            (self.opened_at, Figure.OPENED),
            (self.clicked_at, Figure.CLICKED),
            (self.machine_opened_at, Figure.MACHINE_OPENED),
            (self.machine_clicked_at, Figure.MACHINE_CLICKED),
            (self.replied_at, Figure.REPLIED),
            (self.unsubscribed_at, Figure.UNSUBSCRIBED),
            (self.complained_at, Figure.COMPLAINED),
        ):
            if at is not None:
                counted[(day_of(at), figure)] += 1
        return counted


def change(
    before: MessageFacts | None, after: MessageFacts
) -> dict[tuple[MessageSource, date], dict[Figure, int]]:
    """What folding a message's new facts changes in the rollup: per (source, day), each
    figure's difference (zero differences left out). A repeated fact changes nothing."""
    if after.source is None:
        return {}
    difference = after.contributions()
    if before is not None:
        difference.subtract(before.contributions())
    changed: dict[tuple[MessageSource, date], dict[Figure, int]] = {}
    for (day, figure), by in difference.items():
        if by:
            changed.setdefault((after.source, day), {})[figure] = by
    return changed


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class MessageFigures:
    """The counts of a report, a group of it or a day; rates derived from them."""

    sent: int = 0
    delivered: int = 0
    bounced_hard: int = 0
    bounced_soft: int = 0
    opened: int = 0
    clicked: int = 0
    machine_opened: int = 0
    machine_clicked: int = 0
    replied: int = 0
    unsubscribed: int = 0
    complained: int = 0
    delivered_opened: int = 0
    delivered_clicked: int = 0
    delivered_replied: int = 0
    delivered_unsubscribed: int = 0
    delivered_complained: int = 0
    suppressed: int = 0

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> MessageFigures:
        return cls(**{figure.value: int(counts.get(figure.value, 0)) for figure in Figure})

    def plus(self, other: MessageFigures) -> MessageFigures:
        return MessageFigures(
            **{f.value: getattr(self, f.value) + getattr(other, f.value) for f in Figure}
        )

    @property
    def bounced(self) -> int:
        return self.bounced_hard + self.bounced_soft

    @property
    def delivery_rate(self) -> float | None:
        return _rate(self.delivered, self.sent)

    @property
    def bounce_rate(self) -> float | None:
        return _rate(self.bounced, self.sent)

    @property
    def open_rate(self) -> float | None:
        return _rate(self.delivered_opened, self.delivered)

    @property
    def click_rate(self) -> float | None:
        return _rate(self.delivered_clicked, self.delivered)

    @property
    def reply_rate(self) -> float | None:
        return _rate(self.delivered_replied, self.delivered)

    @property
    def unsubscribe_rate(self) -> float | None:
        return _rate(self.delivered_unsubscribed, self.delivered)

    @property
    def complaint_rate(self) -> float | None:
        return _rate(self.delivered_complained, self.delivered)

    def counts(self) -> dict[str, int]:
        """Every count, `bounced` included, in the documented order."""
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "bounced": self.bounced,
            "bounced_hard": self.bounced_hard,
            "bounced_soft": self.bounced_soft,
            "opened": self.opened,
            "clicked": self.clicked,
            "machine_opened": self.machine_opened,
            "machine_clicked": self.machine_clicked,
            "replied": self.replied,
            "unsubscribed": self.unsubscribed,
            "complained": self.complained,
            "delivered_opened": self.delivered_opened,
            "delivered_clicked": self.delivered_clicked,
            "delivered_replied": self.delivered_replied,
            "delivered_unsubscribed": self.delivered_unsubscribed,
            "delivered_complained": self.delivered_complained,
            "suppressed": self.suppressed,
        }

    def rates(self) -> dict[str, float | None]:
        return {
            "delivery_rate": self.delivery_rate,
            "bounce_rate": self.bounce_rate,
            "open_rate": self.open_rate,
            "click_rate": self.click_rate,
            "reply_rate": self.reply_rate,
            "unsubscribe_rate": self.unsubscribe_rate,
            "complaint_rate": self.complaint_rate,
        }


@dataclass(frozen=True)
class RollupRow:
    """One day of one source's counts, as stored."""

    source: MessageSource
    day: date
    figures: MessageFigures


class Breakdown(StrEnum):
    """How a report splits its messages into groups."""

    VARIANT = "variant"  # a broadcast: per A/B variant
    STEP = "step"  # a sequence: per step
    SOURCE = "source"  # a template: per broadcast, sequence step or direct mail


def group_of(source: MessageSource, breakdown: Breakdown) -> str:
    """The group a source's messages fall in: `A`, `3`, `sequence:s1:3` ..."""
    if breakdown is Breakdown.VARIANT:
        return source.variant or ""
    if breakdown is Breakdown.STEP:
        return "" if source.step_index is None else str(source.step_index)
    parts = [source.kind.value, source.source_id]
    if source.step_index is not None:
        parts.append(str(source.step_index))
    return ":".join(p for p in parts if p)


def _group_order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 30, key)


@dataclass(frozen=True)
class Group:
    """One group of a report (a variant, a step, a source) over the period."""

    key: str
    label: str | None
    figures: MessageFigures
    series: list[MessageFigures] = field(default_factory=list)


@dataclass(frozen=True)
class MessageReport:
    """A report over a period of UTC days: totals, one per group, and both per day."""

    first_day: date
    last_day: date
    totals: MessageFigures
    series: list[MessageFigures]
    groups: list[Group]

    @property
    def days(self) -> list[date]:
        count = (self.last_day - self.first_day).days + 1
        return [self.first_day + timedelta(days=n) for n in range(count)]


def report(
    rows: Sequence[RollupRow], breakdown: Breakdown, first_day: date, last_day: date
) -> MessageReport:
    """The rows of the days from `first_day` to `last_day` (both included), totalled, per group
    and per day (zero where nothing happened)."""
    days = (last_day - first_day).days + 1
    empty = MessageFigures()
    total_series = [empty] * days
    group_series: dict[str, list[MessageFigures]] = {}
    labels: dict[str, tuple[date, str]] = {}
    for row in rows:
        if not first_day <= row.day <= last_day:
            continue
        key = group_of(row.source, breakdown)
        offset = (row.day - first_day).days
        total_series[offset] = total_series[offset].plus(row.figures)
        series = group_series.setdefault(key, [empty] * days)
        series[offset] = series[offset].plus(row.figures)
        label = row.source.step_label
        if label and (key not in labels or labels[key][0] <= row.day):
            labels[key] = (row.day, label)
    groups = [
        Group(key, labels[key][1] if key in labels else None, _summed(series), series)
        for key, series in sorted(group_series.items(), key=lambda item: _group_order(item[0]))
    ]
    return MessageReport(first_day, last_day, _summed(total_series), total_series, groups)


def _summed(figures: Iterable[MessageFigures]) -> MessageFigures:
    total = MessageFigures()
    for each in figures:
        total = total.plus(each)
    return total


def active_days(rows: Sequence[RollupRow]) -> tuple[date, date] | None:
    """The first and last day anything of the rows happened on (None for no rows)."""
    if not rows:
        return None
    return min(r.day for r in rows), max(r.day for r in rows)

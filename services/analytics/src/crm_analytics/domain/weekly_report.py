"""The weekly report: when a tenant's next one is due, which week it covers, its figures and
their change against the week before, and the mail's subject and bodies (values escaped).

Pure rules: no storage, no clock (the caller passes "now")."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

MAX_RECIPIENTS = 20
DEFAULT_WEEKDAY = 1  # ISO: Monday
DEFAULT_HOUR = 8


def valid_recipients(addresses: Sequence[str]) -> list[str]:
    """The addresses trimmed and lower-cased, duplicates (in any case) dropped, order kept;
    `ValueError` for one that is no plain `name@domain.tld` or for more than 20."""
    kept: dict[str, None] = {}
    for address in addresses:
        candidate = address.strip().lower()
        _, parsed = parseaddr(candidate)
        local, at, domain = candidate.partition("@")
        if (
            parsed != candidate
            or not at
            or not local
            or "." not in domain
            or domain.startswith(".")
            or domain.endswith(".")
            or any(c.isspace() or c in "<>,;\"'()[]\\" for c in candidate)
            or "@" in domain
        ):
            raise ValueError(f"{address!r} is not an e-mail address")
        kept.setdefault(candidate, None)
    if len(kept) > MAX_RECIPIENTS:
        raise ValueError(f"at most {MAX_RECIPIENTS} recipients")
    return list(kept)


@dataclass(frozen=True)
class WeeklySchedule:
    """Who gets the report and when: ISO weekday (1 Monday .. 7 Sunday) and hour (0-23) in the
    tenant's zone. No recipients: no report."""

    recipients: tuple[str, ...] = ()
    weekday: int = DEFAULT_WEEKDAY
    hour: int = DEFAULT_HOUR

    def __post_init__(self) -> None:
        if not 1 <= self.weekday <= 7:
            raise ValueError("weekday must be 1 (Monday) to 7 (Sunday)")
        if not 0 <= self.hour <= 23:
            raise ValueError("hour must be 0 to 23")

    @property
    def enabled(self) -> bool:
        return bool(self.recipients)


def wall_clock(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of `hour`:00 on `day` in the zone. An hour the clocks skip that day
    (the spring change) is the instant an hour later by the wall clock (Python's `fold=0`: the
    offset before the change); an hour that occurs twice (the autumn change) is its first."""
    return datetime.combine(day, time(hour), zone).astimezone(UTC)


def next_report_at(schedule: WeeklySchedule, zone: ZoneInfo, after: datetime) -> datetime:
    """The first scheduled instant (UTC) strictly after `after`."""
    local = after.astimezone(zone)
    day = local.date() + timedelta(days=(schedule.weekday - local.isoweekday()) % 7)
    while True:
        at = wall_clock(day, schedule.hour, zone)
        if at > after:
            return at
        day += timedelta(days=7)


@dataclass(frozen=True)
class ReportWeek:
    """The last complete ISO week (Monday 00:00 to Monday 00:00 in the zone) before a moment."""

    first_day: date
    start: datetime
    end: datetime

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=6)

    @property
    def iso_week(self) -> str:
        year, week, _ = self.first_day.isocalendar()
        return f"{year}-W{week:02d}"

    def previous(self, zone: ZoneInfo) -> ReportWeek:
        return week_starting(self.first_day - timedelta(days=7), zone)


def week_starting(monday: date, zone: ZoneInfo) -> ReportWeek:
    return ReportWeek(
        first_day=monday,
        start=datetime.combine(monday, time.min, zone).astimezone(UTC),
        end=datetime.combine(monday + timedelta(days=7), time.min, zone).astimezone(UTC),
    )


def week_before(moment: datetime, zone: ZoneInfo) -> ReportWeek:
    """The last week that ended at or before `moment` (in the zone)."""
    local = moment.astimezone(zone)
    this_monday = local.date() - timedelta(days=local.isoweekday() - 1)
    return week_starting(this_monday - timedelta(days=7), zone)


def monday_of(iso_week: str) -> date:
    """The Monday an ISO week (`2026-W47`) starts on; ValueError for anything else."""
    year, separator, week = iso_week.partition("-W")
    if not (separator and len(year) == 4 and len(week) == 2 and (year + week).isdigit()):
        raise ValueError(f"{iso_week!r} is not an ISO week such as 2026-W47")
    return date.fromisocalendar(int(year), int(week), 1)


def report_id(tenant_id: str, week: ReportWeek) -> str:
    """Deterministic: the same tenant and week is the same report."""
    return f"{tenant_id}:{week.iso_week}"


@dataclass(frozen=True)
class WeekFigures:
    """What happened in one week (see docs/analytics.md "Weekly report")."""

    new_candidates: int = 0
    by_source: Mapping[str, int] = field(default_factory=dict)
    messages_sent: int = 0
    messages_opened: int = 0
    messages_clicked: int = 0
    event_registrations: int = 0
    applications: int = 0
    hires: int = 0
    enrolments_started: int = 0
    enrolments_completed: int = 0
    enrolments_exited: int = 0

    def scalars(self) -> dict[str, int]:
        return {
            "new_candidates": self.new_candidates,
            "messages_sent": self.messages_sent,
            "messages_opened": self.messages_opened,
            "messages_clicked": self.messages_clicked,
            "event_registrations": self.event_registrations,
            "applications": self.applications,
            "hires": self.hires,
            "enrolments_started": self.enrolments_started,
            "enrolments_completed": self.enrolments_completed,
            "enrolments_exited": self.enrolments_exited,
        }


FIGURE_LABELS = {
    "new_candidates": "New candidates",
    "messages_sent": "Messages sent",
    "messages_opened": "Messages opened (by a person)",
    "messages_clicked": "Messages clicked (by a person)",
    "event_registrations": "Event registrations",
    "applications": "Applications",
    "hires": "Hires",
    "enrolments_started": "Sequence enrolments started",
    "enrolments_completed": "Sequence enrolments run through",
    "enrolments_exited": "Sequence enrolments ended early",
}


@dataclass(frozen=True)
class Change:
    """A figure this week, the week before, and the difference."""

    current: int
    previous: int

    @property
    def delta(self) -> int:
        return self.current - self.previous

    @property
    def percent(self) -> float | None:
        """The change in percent of the week before (one decimal); null when it was 0."""
        if self.previous == 0:
            return None
        return round(100 * self.delta / self.previous, 1)

    def describe(self) -> str:
        sign = "+" if self.delta >= 0 else ""
        percent = "" if self.percent is None else f", {sign}{self.percent}%"
        return f"{sign}{self.delta}{percent}"


def changes(current: WeekFigures, previous: WeekFigures) -> dict[str, Change]:
    before = previous.scalars()
    return {name: Change(value, before[name]) for name, value in current.scalars().items()}


def source_changes(current: WeekFigures, previous: WeekFigures) -> dict[str, Change]:
    """New candidates per source, every source of either week, sorted."""
    names = sorted(set(current.by_source) | set(previous.by_source))
    return {n: Change(current.by_source.get(n, 0), previous.by_source.get(n, 0)) for n in names}


@dataclass(frozen=True)
class FunnelLine:
    """One step of the week's cohort funnel, and the same step of the week before's cohort."""

    step: str
    count: int
    previous: int
    conversion_from_previous: float | None


@dataclass(frozen=True)
class RenderedReport:
    subject: str
    text: str
    html: str


def _day(day: date) -> str:
    return f"{day.day} {day:%b %Y}"


def render(
    week: ReportWeek,
    time_zone: str,
    current: WeekFigures,
    previous: WeekFigures,
    funnel: Sequence[FunnelLine],
) -> RenderedReport:
    """The mail: a subject, a plain-text body and an HTML body whose every value is escaped."""
    span = f"{_day(week.first_day)} to {_day(week.last_day)}"
    subject = f"Weekly recruiting report {week.iso_week}: {span}"
    rows: list[tuple[str, str, str]] = []
    for name, change in changes(current, previous).items():
        rows.append((FIGURE_LABELS[name], str(change.current), change.describe()))
        if name == "new_candidates":
            for source, by in source_changes(current, previous).items():
                rows.append((f"  from {source}", str(by.current), by.describe()))
    funnel_rows = [
        (
            line.step,
            str(line.count),
            ""
            if line.conversion_from_previous is None
            else f"{round(100 * line.conversion_from_previous, 1)}% of the previous step",
            Change(line.count, line.previous).describe(),
        )
        for line in funnel
    ]
    text_lines = [
        subject,
        f"Week {week.iso_week}, {span}, days in {time_zone}.",
        "Change: against the week before.",
        "",
    ]
    text_lines += [f"{label}: {value} ({change})" for label, value, change in rows]
    text_lines += ["", "Funnel of the week's new candidates, to now:"]
    text_lines += [
        f"  {step}: {count}{f' ({rate})' if rate else ''} [{change}]"
        for step, count, rate, change in funnel_rows
    ]
    text_lines += [
        "",
        "Every figure is defined in the analytics documentation (Weekly report).",
    ]

    def cells(values: Sequence[str], tag: str = "td") -> str:
        return "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values)

    table = "".join(f"<tr>{cells(row)}</tr>" for row in rows)
    funnel_table = "".join(f"<tr>{cells(row)}</tr>" for row in funnel_rows)
    html_body = (
        "<!DOCTYPE html><html><body>"
        f"<h1>{html.escape(subject)}</h1>"
        f"<p>Week {html.escape(week.iso_week)}, {html.escape(span)}, days in "
        f"{html.escape(time_zone)}. Change: against the week before.</p>"
        f"<table><tr>{cells(('Figure', 'This week', 'Change'), 'th')}</tr>{table}</table>"
        "<h2>Funnel of the week's new candidates, to now</h2>"
        f"<table><tr>{cells(('Step', 'People', 'Conversion', 'Change'), 'th')}</tr>"
        f"{funnel_table}</table>"
        "</body></html>"
    )
    return RenderedReport(subject, "\n".join(text_lines) + "\n", html_body)

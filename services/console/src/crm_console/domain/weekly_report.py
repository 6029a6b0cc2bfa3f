"""The weekly report's pages without a browser (docs/console.md "Weekly reports"): the
settings form read from what was typed, instants said in the tenant's zone, and a compiled
report's figures, sources, funnel and mail outcomes as table rows."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from crm_console.domain.analytics import STEPS, percent, zone_or_utc
from crm_console.domain.candidates import SOURCES

WEEKDAYS = {
    1: "Monday",
    2: "Tuesday",
    3: "Wednesday",
    4: "Thursday",
    5: "Friday",
    6: "Saturday",
    7: "Sunday",
}
HOURS = {hour: f"{hour:02d}:00" for hour in range(24)}
# What the API takes when nothing was saved yet (docs/analytics.md "Weekly report").
DEFAULT_WEEKDAY = 1
DEFAULT_HOUR = 8
# The figures of a report, in the order the mail and the CSV file give them.
FIGURES = {
    "new_candidates": "New candidates",
    "messages_sent": "Messages sent",
    "messages_opened": "Messages opened",
    "messages_clicked": "Messages clicked",
    "event_registrations": "Event registrations",
    "applications": "Applications",
    "hires": "Hires",
    "enrolments_started": "Sequence enrolments started",
    "enrolments_completed": "Sequence enrolments run through",
    "enrolments_exited": "Sequence enrolments ended early",
}
MAIL_OUTCOMES = {"sent": "Sent", "suppressed": "Not sent (suppressed)", "failed": "Failed"}
# Recipients are typed one a line or separated by commas (or semicolons, as mail programs do);
# not by spaces, so that an entry with a space in it is refused whole, as typed.
_SEPARATORS = re.compile(r"[\n,;]+")


def recipients_from(text: str) -> list[str]:
    """The addresses typed, in order, blanks dropped (the API trims, lower-cases, drops
    duplicates and decides what an address is)."""
    return [address.strip() for address in _SEPARATORS.split(text) if address.strip()]


@dataclass(frozen=True)
class ScheduleForm:
    """The weekly report form as typed: the text kept for showing it again, the body for the
    API, and what the console refuses before asking."""

    recipients: str = ""
    weekday: str = str(DEFAULT_WEEKDAY)
    hour: str = str(DEFAULT_HOUR)
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ScheduleForm:
        return cls(
            recipients="\n".join(str(r) for r in settings.get("recipients") or []),
            weekday=str(settings.get("weekday") or DEFAULT_WEEKDAY),
            hour=str(settings.get("hour") if settings.get("hour") is not None else DEFAULT_HOUR),
        )

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> ScheduleForm:
        weekday, hour = form.get("weekday", "").strip(), form.get("hour", "").strip()
        errors: dict[str, str] = {}
        if not weekday.isdigit():
            errors["weekday"] = "Choose a weekday."
        if not hour.isdigit():
            errors["hour"] = "Choose an hour."
        return cls(form.get("recipients", ""), weekday, hour, errors)

    def body(self) -> dict[str, Any]:
        """`PUT /analytics/settings/weekly-report`'s body (only for a form without errors)."""
        return {
            "recipients": recipients_from(self.recipients),
            "weekday": int(self.weekday),
            "hour": int(self.hour),
        }


def instant(value: str | None) -> datetime | None:
    """An ISO 8601 instant from the API, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def in_zone(value: str | None, zone: str) -> str:
    """An instant as the tenant's clock shows it: "Monday 7 Dec 2026, 08:00"; none: a dash."""
    found = instant(value)
    if found is None:
        return "\u2013"
    local = found.astimezone(zone_or_utc(zone))
    return f"{local:%A} {local.day} {local:%b %Y, %H:%M}"


def week_of(report_id: str | None) -> str | None:
    """The ISO week of a report id (`<tenant>:2026-W47`), for a link to it."""
    if not report_id or ":" not in report_id:
        return None
    return report_id.rsplit(":", 1)[1] or None


def days(first: str, last: str) -> str:
    """A report's days: "16 Nov \u2013 22 Nov 2026" (the year once when both share it)."""
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        return f"{first} \u2013 {last}"
    if start.year == end.year:
        return f"{start.day} {start:%b} \u2013 {end.day} {end:%b %Y}"
    return f"{start.day} {start:%b %Y} \u2013 {end.day} {end:%b %Y}"


def signed(change: int) -> str:
    """A change as people read it: +2, -1, 0."""
    return f"{change:+d}" if change else "0"


def change_text(value: int, previous: int) -> str:
    """The change and, when the week before had any, the change in percent of it:
    "+2 (+200.0 %)"."""
    change = value - previous
    if not previous:
        return signed(change)
    return f"{signed(change)} ({change / previous * 100:+.1f}\u00a0%)"


@dataclass(frozen=True)
class FigureRow:
    key: str
    label: str
    this_week: int
    week_before: int
    change: str


def _count(figures: Mapping[str, Any], key: str) -> int:
    value = figures.get(key)
    return int(value) if isinstance(value, int | float) else 0


def figure_rows(report: Mapping[str, Any]) -> list[FigureRow]:
    """A row per figure: this week, the week before, the change; none for a figure the report
    did not count (null: compiled before the figure existed)."""
    now, before = report.get("figures") or {}, report.get("previous") or {}
    return [
        FigureRow(
            key,
            label,
            _count(now, key),
            _count(before, key),
            change_text(_count(now, key), _count(before, key)),
        )
        for key, label in FIGURES.items()
        if now.get(key) is not None
    ]


def source_rows(report: Mapping[str, Any]) -> list[FigureRow]:
    """A row per source of new candidates in either week, sorted as the CSV file sorts them."""
    now = (report.get("figures") or {}).get("by_source") or {}
    before = (report.get("previous") or {}).get("by_source") or {}
    return [
        FigureRow(
            source,
            SOURCES.get(source, source),
            _count(now, source),
            _count(before, source),
            change_text(_count(now, source), _count(before, source)),
        )
        for source in sorted({*now, *before})
    ]


@dataclass(frozen=True)
class FunnelLine:
    step: str
    label: str
    count: int
    previous: int
    from_previous: str


def funnel_lines(report: Mapping[str, Any]) -> list[FunnelLine]:
    """The week's cohort per funnel step, the week before's, and the conversion."""
    return [
        FunnelLine(
            str(line.get("step")),
            STEPS.get(str(line.get("step")), str(line.get("step"))),
            _count(line, "count"),
            _count(line, "previous"),
            percent(line.get("conversion_from_previous")),
        )
        for line in report.get("funnel") or []
    ]


@dataclass(frozen=True)
class MailLine:
    recipient: str
    outcome: str
    status: str | None
    reason: str | None
    attempts: int | None
    recorded_at: str | None


def mail_lines(recipients: Sequence[str], mails: Sequence[Mapping[str, Any]]) -> list[MailLine]:
    """Each recipient of the report with what became of its mail (a recipient campaigns has
    recorded nothing for yet says so), then any mail to an address the report no longer
    lists."""
    by_recipient = {str(m.get("recipient", "")).lower(): m for m in mails}
    lines = []
    for recipient in [*recipients, *(r for r in by_recipient if r not in recipients)]:
        mail = by_recipient.get(recipient.lower())
        if mail is None:
            lines.append(MailLine(recipient, "Not recorded yet", None, None, None, None))
            continue
        status = str(mail.get("status", ""))
        attempts = mail.get("attempts")
        lines.append(
            MailLine(
                recipient,
                MAIL_OUTCOMES.get(status, status),
                status,
                str(mail["reason"]) if mail.get("reason") else None,
                attempts if isinstance(attempts, int) else None,
                str(mail["recorded_at"]) if mail.get("recorded_at") else None,
            )
        )
    return lines

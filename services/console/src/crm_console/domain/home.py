"""The home page's date range (a preset or custom from/to) and its time-series charts, built
from the analytics API's answer. Pure functions, tested without a browser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from crm_console.domain.candidates import SOURCES
from crm_console.domain.charts import lines, stacked_columns

PRESETS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "year": "This year",
    "custom": "From \u2013 to",
}
DEFAULT_PRESET = "30d"
# Up to this many days a chart has a point per day; beyond, one per ISO week.
DAILY_UP_TO = 92
LONGEST_DAYS = 3 * 366
ENGAGEMENT_METRICS = (
    ("messages_sent", "Sent"),
    ("messages_opened", "Opened"),
    ("messages_clicked", "Clicked"),
)
NEW_CANDIDATES = "candidates_created"


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class DateRange:
    """The days the charts cover (UTC, both included) and how the page chose them."""

    preset: str
    start: date
    end: date
    # Field name -> what is wrong with it; the range then falls back to the default preset.
    errors: dict[str, str] = field(default_factory=dict)
    # The custom range as typed when it could not be read: the form shows it to be corrected.
    typed: dict[str, str] = field(default_factory=dict)

    @property
    def interval(self) -> str:
        return "day" if (self.end - self.start).days < DAILY_UP_TO else "week"

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"

    @classmethod
    def from_query(cls, query: Mapping[str, str], today: date) -> DateRange:
        """The range the page's query asks for; an unreadable custom range says why and the
        default preset is shown."""
        preset = query.get("range", DEFAULT_PRESET)
        if preset == "custom":
            start, end = _day(query.get("from")), _day(query.get("to"))
            errors: dict[str, str] = {}
            if start is None:
                errors["from"] = "Give a date (YYYY-MM-DD)."
            if end is None:
                errors["to"] = "Give a date (YYYY-MM-DD)."
            if start and end and end < start:
                errors["to"] = "The end is before the start."
            if start and end and (end - start).days >= LONGEST_DAYS:
                errors["to"] = "A range covers at most three years."
            if start and end and not errors:
                return cls("custom", start, end)
            fallback = cls.from_query({}, today)
            typed = {"from": query.get("from", ""), "to": query.get("to", "")}
            return cls("custom", fallback.start, fallback.end, errors, typed)
        if preset == "year":
            return cls("year", date(today.year, 1, 1), today)
        days = {"7d": 7, "30d": 30, "90d": 90}.get(preset)
        if days is None:
            preset, days = DEFAULT_PRESET, 30
        return cls(preset, today - timedelta(days=days - 1), today)

    def page_params(self) -> dict[str, str]:
        """The console's query for exactly these days (a link that keeps them tomorrow)."""
        return {"range": "custom", "from": self.start.isoformat(), "to": self.end.isoformat()}

    def query_params(self) -> dict[str, Any]:
        """The analytics API's parameters (metrics aside)."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "interval": self.interval,
        }


def _series(body: Mapping[str, Any], metric: str, dimension: str | None = None) -> list[int]:
    for entry in body.get("series", []):
        if entry.get("metric") == metric and entry.get("dimension") == dimension:
            return [int(value) for value in entry.get("values", [])]
    return [0] * len(body.get("periods", []))


def _labels(body: Mapping[str, Any]) -> list[str]:
    return [str(period) for period in body.get("periods", [])]


def engagement_chart(body: Mapping[str, Any]) -> dict[str, Any]:
    """Mails sent, opened and clicked per period."""
    series = {label: _series(body, metric) for metric, label in ENGAGEMENT_METRICS}
    return lines(_labels(body), series, title="Campaign engagement")


def engagement_totals(body: Mapping[str, Any]) -> dict[str, int]:
    """Sent, opened and clicked over the whole range (the chart's text equivalent)."""
    return {label: sum(_series(body, metric)) for metric, label in ENGAGEMENT_METRICS}


def sources_of(body: Mapping[str, Any]) -> list[str]:
    """The candidate sources the answer breaks new candidates down by, in the list's order."""
    found = {
        str(entry["dimension"])
        for entry in body.get("series", [])
        if entry.get("metric") == NEW_CANDIDATES and entry.get("dimension")
    }
    known = [source for source in SOURCES if source in found]
    return known + sorted(found - set(known))


def new_candidates_chart(body: Mapping[str, Any]) -> dict[str, Any]:
    """New candidates per period, stacked by source."""
    series = {
        SOURCES.get(source, source): _series(body, NEW_CANDIDATES, source)
        for source in sources_of(body)
    }
    return stacked_columns(_labels(body), series, title="New candidates by source")


def new_candidate_totals(body: Mapping[str, Any]) -> list[tuple[str, int]]:
    """New candidates over the whole range per source, then all of them."""
    per_source = [
        (SOURCES.get(source, source), sum(_series(body, NEW_CANDIDATES, source)))
        for source in sources_of(body)
    ]
    return [*per_source, ("All", sum(_series(body, NEW_CANDIDATES)))]

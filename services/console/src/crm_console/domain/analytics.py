"""The analytics page's question (a period in the tenant's analytics time zone, how to split
the funnel, which outcomes to attribute and how) and what it shows of the funnel and
attribution reports (docs/analytics.md "Funnels", "Attribution"): pure functions, tested
without a browser."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from crm_console.domain.candidates import SOURCES
from crm_console.domain.charts import PALETTE, bar
from crm_console.domain.problems import Problem

# What the funnel can be split by (the API's `by`), and what a group of each is called.
FUNNEL_BY = {
    "none": "Nothing (everyone)",
    "source": "Source",
    "pool": "Talent pool",
    "segment": "Segment",
    "broadcast": "Broadcast",
    "sequence": "Sequence",
    "event": "Event",
}
# The group of the people without a value, per `by`.
WITHOUT = {
    "source": "No source",
    "pool": "In no talent pool",
    "segment": "In no segment",
    "broadcast": "Engaged with no broadcast",
    "sequence": "Engaged with no sequence",
    "event": "At no event",
}
STEPS = {
    "sourced": "Sourced",
    "engaged": "Engaged",
    "responded": "Responded",
    "applied": "Applied",
    "interviewed": "Interviewed",
    "hired": "Hired",
}
OUTCOMES = {"application": "Applications", "hire": "Hires"}
MODELS = {"last": "Last touch", "first": "First touch", "linear": "Linear (equal shares)"}
NO_TOUCH = "no touch"
CREDIT_KINDS = {
    "broadcast": "Broadcast",
    "sequence": "Sequence",
    "event": "Event",
    "source": "Source",
    NO_TOUCH: "No touch",
}
# The kinds whose refs are ids of records the console can name (and the list that names them).
NAMED_KINDS = ("broadcast", "sequence", "event")
DEFAULT_DAYS = 90
DEFAULT_LOOKBACK = 90
# Medians up to this many hours are said in hours, longer ones in days.
HOURS_UP_TO = 48


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _choice(query: Mapping[str, str], name: str, allowed: Mapping[str, str], default: str) -> str:
    value = query.get(name, default)
    return value if value in allowed else default


@dataclass(frozen=True)
class AnalyticsQuery:
    """What the page asks: the days (both included, in the tenant's analytics time zone), the
    funnel's split and the attribution's outcome, model and lookback. A field that cannot be
    read says why (`errors`): an unreadable date falls back to the default period, and a
    lookback that is no whole number leaves attribution unasked."""

    start: date
    end: date
    by: str = "none"
    outcome: str = "application"
    model: str = "last"
    lookback: str = str(DEFAULT_LOOKBACK)
    errors: dict[str, str] = field(default_factory=dict)
    # A period that could not be read, as typed: the form shows it again to be corrected.
    typed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, query: Mapping[str, str], today: date) -> AnalyticsQuery:
        """The question the page's query asks; `today` is today in the tenant's zone (the
        default period is the last 90 days up to it)."""
        errors: dict[str, str] = {}
        default_start = today - timedelta(days=DEFAULT_DAYS - 1)
        start, end = default_start, today
        given_start, given_end = query.get("from"), query.get("to")
        read_start, read_end = _day(given_start), _day(given_end)
        if given_start and read_start is None:
            errors["from"] = "Enter a date (YYYY-MM-DD)."
        if given_end and read_end is None:
            errors["to"] = "Enter a date (YYYY-MM-DD)."
        if not errors:
            start, end = read_start or default_start, read_end or today
            if end < start:
                errors["to"] = "The end is before the start."
                start, end = default_start, today
        typed = (
            {"from": given_start or "", "to": given_end or ""}
            if {"from", "to"} & errors.keys()
            else {}
        )
        lookback = query.get("lookback_days", str(DEFAULT_LOOKBACK)).strip()
        if not lookback.isdigit():
            errors["lookback_days"] = "Enter a whole number of days."
        return cls(
            start=start,
            end=end,
            by=_choice(query, "by", FUNNEL_BY, "none"),
            outcome=_choice(query, "outcome", OUTCOMES, "application"),
            model=_choice(query, "model", MODELS, "last"),
            lookback=lookback,
            errors=errors,
            typed=typed,
        )

    @property
    def label(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"

    def period(self) -> dict[str, str]:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}

    def funnel_params(self, by: str | None = None) -> dict[str, str]:
        """The funnel API's query (`by` overrides the page's split)."""
        return {**self.period(), "by": by or self.by}

    def attribution_params(self) -> dict[str, str]:
        return {
            **self.period(),
            "outcome": self.outcome,
            "model": self.model,
            "lookback_days": self.lookback,
        }

    def page_params(self) -> dict[str, str]:
        """The console page's query for exactly this question (a link that keeps the days)."""
        return {
            **self.period(),
            "by": self.by,
            "outcome": self.outcome,
            "model": self.model,
            "lookback_days": self.lookback,
        }


def local_today(zone_name: str | None, now: datetime) -> date:
    """Today in the tenant's analytics zone (UTC when it is none or unknown)."""
    return now.astimezone(zone_or_utc(zone_name)).date()


def refusal_text(problem: Problem) -> str:
    """A refused report in one sentence: what the API said of each field it named (the
    period too long, too many people in it), else its message."""
    if problem.field_errors:
        return " ".join(dict.fromkeys(problem.field_errors.values()))
    return problem.message


def zone_or_utc(name: str | None) -> ZoneInfo:
    """The zone a name gives, UTC for none or an unknown one."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


# Funnel


@dataclass(frozen=True)
class StepRow:
    step: str
    label: str
    count: int
    from_previous: str
    from_first: str
    median: str
    timed: int


@dataclass(frozen=True)
class FunnelGroup:
    key: str | None
    name: str
    # Whether `name` is the record's own name (else its id, or a source's label).
    named: bool
    rows: list[StepRow]


def percent(share: float | None) -> str:
    """A conversion as people read it: `0.4567` -> "45.7 %"; none -> a dash."""
    if share is None:
        return "\u2013"
    return f"{share * 100:.1f}\u00a0%"


def duration(hours: float | None) -> str:
    """A median time: hours up to two days, then days; none -> a dash."""
    if hours is None:
        return "\u2013"
    if hours <= HOURS_UP_TO:
        return f"{hours:.1f}\u00a0h"
    return f"{hours / 24:.1f}\u00a0days"


def step_rows(steps: Sequence[Mapping[str, Any]]) -> list[StepRow]:
    return [
        StepRow(
            step=str(s["step"]),
            label=STEPS.get(str(s["step"]), str(s["step"])),
            count=int(s.get("count", 0)),
            from_previous=percent(s.get("conversion_from_previous")),
            from_first=percent(s.get("conversion_from_first")),
            median=duration(s.get("median_hours_from_previous")),
            timed=int(s.get("timed", 0)),
        )
        for s in steps
    ]


def group_name(by: str, key: str | None, names: Mapping[str, str]) -> tuple[str, bool]:
    """What a funnel group is called: everyone, the people without a value, a source's label,
    or the name of the pool, segment, broadcast, sequence or event (its id when the console
    cannot name it: deleted, or on a list the person may not read)."""
    if by == "none":
        return "Everyone sourced in the period", True
    if key is None:
        return WITHOUT.get(by, "None"), True
    if by == "source":
        return SOURCES.get(key, key), True
    if key in names:
        return names[key], True
    return key, False


def funnel_groups(body: Mapping[str, Any], names: Mapping[str, str]) -> list[FunnelGroup]:
    """One table per funnel of the answer, in its order (values sorted, then the people
    without one)."""
    by = str(body.get("by", "none"))
    groups = []
    for funnel in body.get("funnels", []):
        key = funnel.get("key")
        name, named = group_name(by, key, names)
        groups.append(FunnelGroup(key, name, named, step_rows(funnel.get("steps", []))))
    return groups


def funnel_chart(steps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The whole cohort's steps as horizontal bars, first step on top."""
    config = bar(
        [STEPS.get(str(s["step"]), str(s["step"])) for s in steps],
        [int(s.get("count", 0)) for s in steps],
        title="Funnel of the whole cohort",
        label="People",
    )
    config["options"]["indexAxis"] = "y"
    config["options"]["scales"] = {"x": {"beginAtZero": True, "ticks": {"precision": 0}}}
    return config


def funnel_chart_label(steps: Sequence[Mapping[str, Any]], span: str) -> str:
    """The chart's text equivalent."""
    said = ", ".join(
        f"{STEPS.get(str(s['step']), str(s['step']))} {int(s.get('count', 0))}" for s in steps
    )
    return f"People of the cohort sourced {span} who reached each step: {said}"


# Attribution


@dataclass(frozen=True)
class CreditRow:
    kind: str
    kind_label: str
    ref: str
    name: str
    named: bool
    credit: float
    outcomes: int


def credit_name(kind: str, ref: str, names: Mapping[str, Mapping[str, str]]) -> tuple[str, bool]:
    """What a credited touch is called: a source's label, the outcomes no touch preceded, or
    the broadcast's, sequence's or event's name (its id when unknown)."""
    if kind == NO_TOUCH:
        return "No touch in the window", True
    if kind == "source":
        return SOURCES.get(ref, ref), True
    found = names.get(kind, {}).get(ref)
    return (found, True) if found else (ref, False)


def credit_rows(body: Mapping[str, Any], names: Mapping[str, Mapping[str, str]]) -> list[CreditRow]:
    """The credits, highest first (ties by kind and ref, as the API orders them)."""
    rows = []
    for c in body.get("credits", []):
        kind, ref = str(c["kind"]), str(c["ref"])
        name, named = credit_name(kind, ref, names)
        rows.append(
            CreditRow(
                kind=kind,
                kind_label=CREDIT_KINDS.get(kind, kind),
                ref=ref,
                name=name,
                named=named,
                credit=float(c.get("credit", 0)),
                outcomes=int(c.get("outcomes", 0)),
            )
        )
    return sorted(rows, key=lambda row: -row.credit)


def kinds_to_name(body: Mapping[str, Any]) -> list[str]:
    """The kinds of the answer's credits whose refs are records to look up by name."""
    present = {str(c.get("kind")) for c in body.get("credits", [])}
    return [kind for kind in NAMED_KINDS if kind in present]


def credit_by_kind(body: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The credit per kind (campaigns, sequences, events, sources, no touch), in that order."""
    by_kind: Mapping[str, float] = body.get("by_kind", {})
    known = [kind for kind in CREDIT_KINDS if kind in by_kind]
    others = sorted(kind for kind in by_kind if kind not in CREDIT_KINDS)
    return [(CREDIT_KINDS.get(kind, kind), float(by_kind[kind])) for kind in known + others]


def credit_chart(body: Mapping[str, Any]) -> dict[str, Any]:
    per_kind = credit_by_kind(body)
    config = bar(
        [label for label, _ in per_kind],
        [value for _, value in per_kind],
        title="Credit by kind",
        label="Credit",
    )
    config["data"]["datasets"][0]["backgroundColor"] = [
        PALETTE[i % len(PALETTE)] for i in range(len(per_kind))
    ]
    return config


def credit(value: float) -> str:
    """A credit (a sum of shares of outcomes): whole numbers as such, else two decimals."""
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}"


# Settings


def time_zone_names() -> list[str]:
    """Every IANA zone name this machine knows, sorted (the settings field's suggestions)."""
    return sorted(available_timezones())


def time_zone_error(name: str) -> str | None:
    """Why `name` is not a time zone to save (the API decides all the same)."""
    if not name:
        return "This is required."
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "Not a time zone name such as Europe/Berlin, America/New_York or UTC."
    return None


# Pool health (a talent pool's page, docs/analytics.md "Pool health")

# People of a list (going cold, silver medallists) the panel names; the rest are counted.
FIRST_PEOPLE = 10
FRESHNESS = {
    "<30d": "Under 30 days",
    "30-90d": "30 to 90 days",
    "90-180d": "90 to 180 days",
    ">180d": "Over 180 days",
    "never": "No activity yet",
}


@dataclass(frozen=True)
class Person:
    candidate_id: str
    # None: not among the members the panel read names of (shown by id).
    name: str | None


@dataclass(frozen=True)
class PeopleList:
    count: int
    first: list[Person]

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.first))


@dataclass(frozen=True)
class PoolHealthView:
    size: int
    by_stage: list[tuple[str, int]]
    # (days, added, removed) for the last 7, 30 and 90 days.
    growth: list[tuple[int, int, int]]
    engagement: list[tuple[str, int]]
    engagement_median: float | None
    engagement_chart: dict[str, Any]
    freshness: list[tuple[str, int]]
    freshness_median_days: float | None
    going_cold: PeopleList
    silver_medallists: PeopleList
    cold_after_days: int
    engaged_score: float
    as_of: str


def member_names(members: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Candidate id -> name, from a page of the pool's members (`GET /pools/{id}/members`)."""
    names: dict[str, str] = {}
    for member in members:
        person = member.get("candidate") or {}
        name = f"{person.get('first_name', '')} {person.get('last_name', '')}".strip()
        if name:
            names[str(member["candidate_id"])] = name
    return names


def _people(listed: Mapping[str, Any], names: Mapping[str, str]) -> PeopleList:
    ids = [str(c) for c in listed.get("candidate_ids", [])][:FIRST_PEOPLE]
    return PeopleList(
        count=int(listed.get("count", 0)), first=[Person(c, names.get(c)) for c in ids]
    )


def in_pipeline_order(by_stage: Mapping[str, Any], stages: Sequence[str]) -> list[tuple[str, int]]:
    """Members per stage in the pool's order, every stage of the pool (0 for one nobody is at:
    analytics counts only stages somebody is at); a stage the pool does not list (renamed since
    analytics was told) after them, by name."""
    known = [(stage, int(by_stage.get(stage, 0))) for stage in stages]
    others = sorted((str(s), int(n)) for s, n in by_stage.items() if s not in stages)
    return known + others


def pool_health_view(
    body: Mapping[str, Any], names: Mapping[str, str], stages: Sequence[str] = ()
) -> PoolHealthView:
    """The panel's figures from `GET /analytics/pools/{id}/health`, people named from the
    members the console read, stages in the pool's order."""
    engagement = body.get("engagement") or {}
    freshness = body.get("freshness") or {}
    going_cold = body.get("going_cold") or {}
    buckets = [(str(label), int(n)) for label, n in (engagement.get("buckets") or {}).items()]
    chart = bar(
        [label for label, _ in buckets],
        [n for _, n in buckets],
        title="Members by engagement score",
        label="Members",
    )
    chart["options"]["scales"]["y"]["ticks"] = {"precision": 0}
    return PoolHealthView(
        size=int(body.get("size", 0)),
        by_stage=in_pipeline_order(body.get("by_stage") or {}, stages),
        growth=[
            (int(g.get("days", 0)), int(g.get("added", 0)), int(g.get("removed", 0)))
            for g in body.get("growth", [])
        ],
        engagement=buckets,
        engagement_median=engagement.get("median"),
        engagement_chart=chart,
        freshness=[
            (FRESHNESS.get(str(label), str(label)), int(n))
            for label, n in (freshness.get("buckets") or {}).items()
        ],
        freshness_median_days=freshness.get("median_days"),
        going_cold=_people(going_cold, names),
        silver_medallists=_people(body.get("silver_medallists") or {}, names),
        cold_after_days=int(going_cold.get("cold_after_days", 0)),
        engaged_score=float(going_cold.get("engaged_score", 0)),
        as_of=str(body.get("as_of", "")),
    )

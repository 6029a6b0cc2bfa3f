"""Who a broadcast's mail is still waiting for and who was skipped, and why: its listed messages
(`GET /messages?broadcast_id=&status=`) grouped by reason, the way the broadcast page shows them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_console.domain.broadcasts import REASON_LABELS

# How many people each panel names; the rest are counted, the full list is a page away.
SHOWN = 50
# The message states each panel lists (`sending` is a moment's state, counted, not listed).
WAITING_STATES = ("queued", "held")
SKIPPED_STATES = ("suppressed",)
LISTED_STATES = frozenset({*WAITING_STATES, *SKIPPED_STATES})


@dataclass(frozen=True)
class Person:
    """One recipient as a panel row: who (linked to their profile) and this person's detail."""

    candidate_id: str
    name: str
    detail: str = ""


@dataclass
class Group:
    """People waiting or skipped for one reason."""

    key: str
    label: str
    people: list[Person] = field(default_factory=list)


def name_of(message: Mapping[str, Any]) -> str:
    """The recipient's name, else their address, else the candidate id."""
    name = " ".join(str(p) for p in (message.get("first_name"), message.get("last_name")) if p)
    return name or str(message.get("to_email") or message.get("candidate_id") or "")


def _moment(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _their_time(moment: datetime, zone: Any) -> tuple[str, str]:
    """`moment` on the recipient's clock, `(group label part, row detail)`: `08:00 their time`
    and the zone with the UTC moment; in UTC when campaigns knows no zone of theirs (the
    zone the contact policy gives people of none, else the tenant's default, applied then)."""
    if zone:
        try:
            local = moment.astimezone(ZoneInfo(str(zone)))
        except (ZoneInfoNotFoundError, ValueError):
            local = None
        if local is not None:
            return f"{local:%Y-%m-%d %H:%M} their time", f"{zone}, {_utc(moment)}"
    return _utc(moment), "no time zone of theirs: the contact policy's for such people"


def waiting_reason(
    message: Mapping[str, Any], schedule: Mapping[str, Any], now: datetime
) -> tuple[str, str, str]:
    """Why a queued or held message is not sent yet: `(group key, group label, row detail)`."""
    if message.get("status") == "held":
        return "held", "Paused: held until the broadcast is resumed", ""
    if message.get("status") == "sending":
        return "sending", "Being sent right now", ""
    deferred = _moment(message.get("deferred_until"))
    reason = message.get("policy_reason")
    if reason and deferred is not None and deferred > now:
        if reason == "quiet_hours":
            until, detail = _their_time(deferred, message.get("time_zone"))
            return f"quiet_hours {until}", f"Quiet hours, until {until}", detail
        if reason == "frequency_cap":
            return (
                "frequency_cap",
                "Contact policy: too many mails lately",
                f"until {_utc(deferred)}",
            )
        return str(reason), str(reason).replace("_", " ").capitalize(), f"until {_utc(deferred)}"
    due = _moment(message.get("next_attempt_at"))
    if due is not None and due > now:
        if int(message.get("attempts") or 0) > 0:
            return (
                "retry",
                "Retrying after a temporary failure",
                f"next try {_utc(due)}"
                + (f": {message['last_error']}" if message.get("last_error") else ""),
            )
        if schedule.get("type") == "local_time":
            at, detail = _their_time(due, message.get("time_zone"))
            return f"local {at}", f"Scheduled for {at}", detail
        return f"at {_utc(due)}", f"Scheduled for {_utc(due)}", ""
    return "due", "Due now: in the send queue", ""


def skipped_reason(message: Mapping[str, Any]) -> tuple[str, str]:
    """Why a suppressed message was skipped: `(reason, what it means)`."""
    reason = str(message.get("suppression_reason") or message.get("policy_reason") or "suppressed")
    return reason, REASON_LABELS.get(reason, reason.replace("_", " ").capitalize())


def _grouped(rows: Iterable[tuple[str, str, Person]]) -> list[Group]:
    groups: dict[str, Group] = {}
    for key, label, person in rows:
        groups.setdefault(key, Group(key, label)).people.append(person)
    return sorted(groups.values(), key=lambda g: (-len(g.people), g.label))


def waiting_groups(
    messages: Iterable[Mapping[str, Any]], schedule: Mapping[str, Any], now: datetime
) -> list[Group]:
    """The waiting messages grouped by why they wait, the largest group first."""
    rows = []
    for message in messages:
        key, label, detail = waiting_reason(message, schedule, now)
        rows.append((key, label, Person(str(message["candidate_id"]), name_of(message), detail)))
    return _grouped(rows)


def skipped_groups(messages: Iterable[Mapping[str, Any]]) -> list[Group]:
    """The skipped messages grouped by why they were skipped, the largest group first."""
    rows = []
    for message in messages:
        reason, label = skipped_reason(message)
        rows.append((reason, label, Person(str(message["candidate_id"]), name_of(message))))
    return _grouped(rows)


@dataclass(frozen=True)
class Panel:
    """One panel: its groups (at most `SHOWN` people in all) and how many it does not name."""

    groups: list[Group]
    total: int
    shown: int

    @property
    def more(self) -> int:
        return max(0, self.total - self.shown)


def panel(groups: list[Group], total: int) -> Panel:
    """`groups` cut to `SHOWN` people in all; `total`: how many the broadcast's counts say."""
    kept: list[Group] = []
    room = SHOWN
    for group in groups:
        if room <= 0:
            break
        kept.append(Group(group.key, group.label, group.people[:room]))
        room -= len(kept[-1].people)
    shown = SHOWN - room
    return Panel(kept, max(total, shown), shown)


@dataclass(frozen=True)
class Panels:
    """The broadcast page's waiting and skipped panels."""

    waiting: Panel
    skipped: Panel
    # Skipped before any message existed (unknown to campaigns): counted, never named.
    unknown: int
    # An A/B test's rest, whose mail is made once the winner is known: counted, never named.
    awaiting_winner: int = 0


def panels(
    broadcast: Mapping[str, Any], listed: Mapping[str, list[Mapping[str, Any]]], now: datetime
) -> Panels:
    """The panels of a broadcast from its progress counts and its listed messages by state."""
    progress = broadcast.get("progress") or {}
    waiting = [m for state in WAITING_STATES for m in listed.get(state, [])]
    skipped = [m for state in SKIPPED_STATES for m in listed.get(state, [])]
    unknown = int((progress.get("skipped_reasons") or {}).get("unknown_candidate") or 0)
    return Panels(
        waiting=panel(
            waiting_groups(waiting, broadcast.get("schedule") or {}, now),
            int(progress.get("pending") or 0) + int(progress.get("held") or 0),
        ),
        skipped=panel(skipped_groups(skipped), int(progress.get("skipped") or 0) - unknown),
        unknown=unknown,
        awaiting_winner=int(progress.get("awaiting_winner") or 0),
    )

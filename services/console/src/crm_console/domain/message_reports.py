"""The analytics API's message reports (a broadcast's, a sequence's, a template's) as the console
shows them: each figure with its rate, opens and clicks by machines apart, the report's groups
named, and the days anything happened (docs/analytics.md "Message reports")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Each figure with its rate (of `delivered`; `bounced` of `sent`), in the API's order, and the
# count that rate is of: a rate over `delivered` counts only delivered messages
# (`delivered_opened`), so an open of a message that bounced later is in `opened` but not in it.
# Opens by prefetchers and image proxies and clicks by link scanners have no rate: the API
# counts them apart and never in `opened` or `clicked`, so a reader must not take them for people.
MESSAGE_FIGURES: tuple[tuple[str, str, str | None], ...] = (
    ("sent", "Sent", None),
    ("delivered", "Delivered", "delivery_rate"),
    ("bounced", "Bounced", "bounce_rate"),
    ("opened", "Opened by people", "open_rate"),
    ("machine_opened", "Opened by machines (prefetchers, image proxies), not in the rates", None),
    ("clicked", "Clicked by people", "click_rate"),
    ("machine_clicked", "Clicked by machines (link scanners), not in the rates", None),
    ("replied", "Replied", "reply_rate"),
    ("unsubscribed", "Unsubscribed", "unsubscribe_rate"),
    ("complained", "Reported as spam", "complaint_rate"),
    ("suppressed", "Not sent: stopped by a send rule (consent, suppression, frequency cap)", None),
)
_OF_DELIVERED = {"opened", "clicked", "replied", "unsubscribed", "complained"}
# The per-day table's columns: the counts alone (a day's rate is of the mail sent that day,
# which the totals already say), machines beside people.
# The lines of the report's chart per day.
CHART_FIGURES: tuple[tuple[str, str], ...] = (
    ("sent", "Sent"),
    ("opened", "Opened by people"),
    ("clicked", "Clicked by people"),
)
DAY_FIGURES: tuple[tuple[str, str], ...] = (
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("bounced", "Bounced"),
    ("opened", "Opened by people"),
    ("machine_opened", "Opened by machines"),
    ("clicked", "Clicked by people"),
    ("machine_clicked", "Clicked by machines"),
    ("replied", "Replied"),
    ("unsubscribed", "Unsubscribed"),
    ("complained", "Spam"),
    ("suppressed", "Not sent"),
)
# What a report's group of mail sent by no broadcast or sequence is (a template's report).
DIRECT_LABEL = "Direct mail (transactional and event mail)"


def figure_cell(figures: Mapping[str, Any], key: str, rate: str | None) -> str:
    """A figure and its rate as a cell reads it: `3 (37.5 %)`; a rate the API left null (its
    divisor was 0) is left out. When the rate's own count differs from the figure (a message
    opened, then bounced), the cell names it: `4; of the delivered 3 (100.0 %)`."""
    count = int(figures.get(key) or 0)
    share = figures.get(rate) if rate else None
    if share is None:
        return str(count)
    percent = f"{float(share) * 100:.1f} %"
    numerator = figures.get(f"delivered_{key}") if key in _OF_DELIVERED else None
    if numerator is not None and int(numerator) != count:
        return f"{count}; of the delivered {int(numerator)} ({percent})"
    return f"{count} ({percent})"


def active_days(series: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The report's days on which anything happened, latest first (the API zero-fills every
    day of the range, up to 400 of them)."""
    return [day for day in reversed(series) if any(day.get(key) for key, _ in DAY_FIGURES)]


def variant_label(group: Mapping[str, Any]) -> str:
    """A broadcast's group: its A/B variant, or the whole broadcast (no test: no key)."""
    key = str(group.get("key") or "")
    return f"Variant {key}" if key else "Everyone"


def step_label(group: Mapping[str, Any]) -> str:
    """A sequence's group: the step's place when it sent (0-based, as the sequence page
    numbers its steps) and the label its latest mail carried."""
    key = str(group.get("key") or "")
    if not key:
        return "Step unknown (sent before steps were recorded)"
    label = group.get("label")
    return f"Step {key} · {label}" if label else f"Step {key}"


@dataclass(frozen=True)
class SourceNames:
    """Names of the broadcasts and sequences a template's report groups by; an id not among
    them (deleted, or beyond the pages read) is shown as it is."""

    broadcasts: Mapping[str, str]
    sequences: Mapping[str, str]

    def label(self, group: Mapping[str, Any]) -> str:
        """`broadcast:<id>`, `sequence:<id>:<step>` or `direct` as a person reads it. The API
        names no broadcast or sequence (no topic it reads carries a broadcast's name); its
        `label` of a sequence's group is the step's label, shown after the step."""
        key = str(group.get("key") or "")
        kind, _, rest = key.partition(":")
        if kind == "broadcast" and rest:
            return f"Broadcast {self.broadcasts.get(rest, rest)}"
        if kind == "sequence" and rest:
            sequence_id, _, step = rest.rpartition(":")
            if not sequence_id:  # sent before messages carried their step
                sequence_id, step = step, ""
            name = self.sequences.get(sequence_id, sequence_id)
            text = f"Sequence {name}, step {step or 'unknown'}"
            label = group.get("label")
            return f"{text} · {label}" if label else text
        if kind == "direct":
            return DIRECT_LABEL
        return str(group.get("label") or key or "Everyone")

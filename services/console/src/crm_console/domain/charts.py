"""Chart.js configurations built from API data: pure functions, so what a chart shows is
tested without a browser. The page hands the configuration to `console.js` as JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# Colours with at least 3:1 contrast against white (WCAG 2.1 AA for graphical objects).
PALETTE = ("#1f5fbf", "#b3541e", "#2e7d32", "#7b3fa0", "#a8326e", "#00796b", "#5d4037")


def stacked_bar(
    labels: Sequence[str], series: Mapping[str, Sequence[int]], *, title: str
) -> dict[str, Any]:
    """A horizontal stacked bar chart: one bar per label, one stack part per series."""
    return {
        "type": "bar",
        "data": {
            "labels": list(labels),
            "datasets": [
                {"label": name, "data": list(values), "backgroundColor": PALETTE[i % len(PALETTE)]}
                for i, (name, values) in enumerate(series.items())
            ],
        },
        "options": {
            "indexAxis": "y",
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "plugins": {"title": {"display": True, "text": title}},
            "scales": {"x": {"stacked": True, "beginAtZero": True}, "y": {"stacked": True}},
        },
    }


def bar(
    labels: Sequence[str], values: Sequence[float], *, title: str, label: str
) -> dict[str, Any]:
    """A vertical bar chart of one series."""
    return {
        "type": "bar",
        "data": {
            "labels": list(labels),
            "datasets": [{"label": label, "data": list(values), "backgroundColor": PALETTE[0]}],
        },
        "options": {
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "plugins": {"title": {"display": True, "text": title}, "legend": {"display": False}},
            "scales": {"y": {"beginAtZero": True}},
        },
    }


def pipeline_by_pool_and_stage(pools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Members per stage of each talent pool, each pool's bar stacked in its own stage order.

    Chart.js stacks a bar's parts in the order of the datasets, one order for every bar: with
    one dataset per stage name, a pool whose stages another pool lists in another order (or
    that shares none, "Applied" after "New") would stack out of its own order. So each pool's
    stages are datasets of their own (`Backend: Screen`, a value on that pool's bar only),
    pool by pool in each pool's order, coloured by their place in the pool's pipeline."""
    names = [str(pool["name"]) for pool in pools]
    datasets: list[dict[str, Any]] = []
    for index, pool in enumerate(pools):
        counts: Mapping[str, Any] = pool.get("member_counts") or {}
        for place, stage in enumerate(pool.get("stages", [])):
            datasets.append(
                {
                    "label": f"{pool['name']}: {stage}",
                    "data": [
                        int(counts.get(stage, 0)) if other == index else None
                        for other in range(len(pools))
                    ],
                    "backgroundColor": PALETTE[place % len(PALETTE)],
                }
            )
    chart = stacked_bar(names, {}, title="Pipeline by pool")
    chart["data"]["datasets"] = datasets
    return chart


def lines(
    labels: Sequence[str], series: Mapping[str, Sequence[int]], *, title: str
) -> dict[str, Any]:
    """A line chart: one line per series over the same periods."""
    return {
        "type": "line",
        "data": {
            "labels": list(labels),
            "datasets": [
                {
                    "label": name,
                    "data": list(values),
                    "borderColor": PALETTE[i % len(PALETTE)],
                    "backgroundColor": PALETTE[i % len(PALETTE)],
                    "tension": 0.2,
                }
                for i, (name, values) in enumerate(series.items())
            ],
        },
        "options": {
            "responsive": True,
            "maintainAspectRatio": False,
            "animation": False,
            "plugins": {"title": {"display": True, "text": title}},
            "scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}},
        },
    }


def stacked_columns(
    labels: Sequence[str], series: Mapping[str, Sequence[int]], *, title: str
) -> dict[str, Any]:
    """A vertical stacked bar chart: one column per period, one stack part per series."""
    config = stacked_bar(labels, series, title=title)
    config["options"]["indexAxis"] = "x"
    config["options"]["scales"] = {
        "x": {"stacked": True},
        "y": {"stacked": True, "beginAtZero": True, "ticks": {"precision": 0}},
    }
    return config


def daily_lines(
    series: Sequence[Mapping[str, Any]], figures: Sequence[tuple[str, str]], *, title: str
) -> dict[str, Any] | None:
    """A report's days as a line chart, one line per figure (`(key, label)`); None for a single
    day, which draws no line."""
    if len(series) < 2:
        return None
    return lines(
        [str(day.get("day")) for day in series],
        {label: [int(day.get(key) or 0) for day in series] for key, label in figures},
        title=title,
    )


def daily_summary(series: Sequence[Mapping[str, Any]], figures: Sequence[tuple[str, str]]) -> str:
    """The chart's text equivalent: each figure's sum over the days."""
    said = ", ".join(
        f"{label} {sum(int(day.get(key) or 0) for day in series)}" for key, label in figures
    )
    return f"Per day over {len(series)} days: {said}"

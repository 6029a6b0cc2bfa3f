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
    """Members per stage of each talent pool, stages stacked in each pool's own order.

    Pools name their stages freely; a stage name shared by several pools is one series."""
    stage_names: list[str] = []
    for pool in pools:
        for stage in pool.get("stages", []):
            if stage not in stage_names:
                stage_names.append(stage)
    series = {
        stage: [int(pool.get("member_counts", {}).get(stage, 0)) for pool in pools]
        for stage in stage_names
    }
    return stacked_bar([str(pool["name"]) for pool in pools], series, title="Pipeline by pool")


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

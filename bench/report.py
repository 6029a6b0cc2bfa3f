"""Benchmark results: one row per figure, printed as a table and written as JSON."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Figure:
    """One measured figure, with the raw-stack baseline it is compared against when there is one."""

    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """Ours over the raw stack (for rates: 0.5 means half the raw throughput)."""
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


def table(figures: list[Figure]) -> str:
    """The figures as an aligned text table."""
    rows = [("benchmark", "metric", "ours", "raw stack", "ratio", "note")]
    for f in figures:
        rows.append(
            (
                f.benchmark,
                f.metric,
                f"{f.value:,.1f} {f.unit}",
                f"{f.baseline:,.1f} {f.unit} ({f.baseline_name})" if f.baseline is not None else "",
                f"{f.ratio:.3g}" if f.ratio is not None else "",
                f.note,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write(figures: list[Figure], *, mode: str, database_server: str) -> Path:
    """Writes the run's figures and the machine they ran on; returns the file."""
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {
        "mode": mode,
        "time": stamp,
        "database_server": database_server,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "figures": [asdict(f) | {"ratio": f.ratio} for f in figures],
    }
    path = RESULTS_DIR / f"{mode}-latest.json"
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path

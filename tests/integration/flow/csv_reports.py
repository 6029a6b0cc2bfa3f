"""Reading an analytics report's CSV file through the gateway, and the JSON report's figures
written as its cells, for the flow tests that compare the two."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx


def csv_of(answer: httpx.Response, filename: str) -> list[list[str]]:
    """The file's records (header first), after checking it is a named UTF-8 CSV download
    with a BOM."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert answer.content.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(answer.content.decode("utf-8").removeprefix("\ufeff"))))


def cell(value: Any) -> str:
    """A JSON value as the CSV writes it (docs/analytics.md "CSV export")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(value)
    return str(value)


def event_cells(event_id: str, figures: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """An event's (or the totals') JSON report as `{(event_id, figure, key): value}`."""
    cells: dict[tuple[str, str, str], str] = {}
    for name, value in figures.items():
        if name in ("by_channel", "by_source"):
            cells |= {(event_id, name, key): str(count) for key, count in value.items()}
        elif name in ("applied", "hired"):
            cells |= {(event_id, f"{name}.{part}", ""): cell(v) for part, v in value.items()}
        elif name != "event_id":
            cells[(event_id, name, "")] = cell(value)
    return cells


def csv_cells(records: list[list[str]]) -> dict[tuple[str, str, str], str]:
    """An event report's CSV rows as `{(event_id, figure, key): value}`, each row once."""
    header, *rows = records
    assert header == ["event_id", "figure", "key", "value"]
    cells = {(r[0], r[1], r[2]): r[3] for r in rows}
    assert len(cells) == len(rows), "a figure written twice"
    return cells

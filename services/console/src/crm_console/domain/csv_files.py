"""CSV downloads: every console link to an API's CSV export comes in two kinds, the API's
default (comma separated, `.` decimals) and one for Excel where the decimal mark is a comma
(German, Swedish...: `separator=semicolon`, `;` between cells and decimal commas), which such an
Excel opens by double-click into columns."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping

from crm_shared.csv_export import spreadsheet_cell

SEMICOLON = "semicolon"


def csv_params(query: Mapping[str, str]) -> dict[str, str]:
    """The API's `separator` for a console CSV link's query: semicolon when the link asks for
    it (the Excel link), otherwise nothing (the API's default, comma)."""
    return {"separator": SEMICOLON} if query.get("separator") == SEMICOLON else {}


def _dialect(semicolon: bool) -> str:
    return ";" if semicolon else ","


def _records(content: bytes, semicolon: bool) -> list[list[str]]:
    text = content.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=_dialect(semicolon)))


def column_values(content: bytes, semicolon: bool, column: str) -> set[str]:
    """Every value of `column` in an API's CSV file (none when it has no such column)."""
    records = _records(content, semicolon)
    if not records or column not in records[0]:
        return set()
    at = records[0].index(column)
    return {row[at] for row in records[1:] if len(row) > at}


def with_names(
    content: bytes, semicolon: bool, after: str, name_of: Callable[[dict[str, str]], str]
) -> bytes:
    """An API's CSV file with a `name` column after `after`: each row's name as `name_of`
    reads it from the row (empty when it has none). The API's cells are kept as they came
    (already made spreadsheet-safe, decimals in its dialect); only the names, typed by people,
    are made so here (`spreadsheet_cell`): a name no spreadsheet evaluates or turns into a
    date or number. A file without `after` is returned
    as it came."""
    records = _records(content, semicolon)
    if not records or after not in records[0]:
        return content
    header = records[0]
    at = header.index(after) + 1
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=_dialect(semicolon), lineterminator="\r\n")
    writer.writerow([*header[:at], "name", *header[at:]])
    for row in records[1:]:
        name = spreadsheet_cell(name_of(dict(zip(header, row, strict=False))))
        writer.writerow([*row[:at], name, *row[at:]])
    return ("\ufeff" + buffer.getvalue()).encode()

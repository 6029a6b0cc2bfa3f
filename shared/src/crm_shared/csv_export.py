"""CSV the services write (an import's error report, the audit log export), safe to open in a
spreadsheet.

A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (CSV injection: `=HYPERLINK(...)`, DDE). Values are
stored verbatim; only what is written out as CSV is neutralised, by prefixing such a cell with
`'`, which spreadsheets show as text and do not evaluate. A number (an `int` or `float`, not a
string of digits) is written as it is: `-3` is a number to a spreadsheet, not a formula, and a
report's negative change must stay one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """A cell as text no spreadsheet evaluates (`=1+1` -> `'=1+1`); None is empty; a number
    as it is."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_line(cells: Iterable[object]) -> str:
    """One CSV record (CRLF-terminated, as RFC 4180 and Excel expect) of neutralised cells."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([neutralise(cell) for cell in cells])
    return buffer.getvalue()

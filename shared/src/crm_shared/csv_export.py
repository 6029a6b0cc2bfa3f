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
from dataclasses import dataclass
from enum import StrEnum

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvDialect:
    """How cells are separated and how a fractional number is written."""

    delimiter: str = ","
    decimal_mark: str = "."


# RFC 4180: what every program reads, and Excel by double-click where the decimal mark is `.`.
COMMA = CsvDialect()
# What Excel reads by double-click where the decimal mark is a comma (German, Swedish, French,
# Spanish...): there it separates cells at `;` and reads `0,25` as a number, `0.25` as text.
SEMICOLON = CsvDialect(delimiter=";", decimal_mark=",")


class CsvSeparator(StrEnum):
    """A CSV download's `separator` query parameter: `comma` (RFC 4180), or `semicolon` with
    decimal commas, as Excel opens a file by double-click where the decimal mark is a comma."""

    COMMA = "comma"
    SEMICOLON = "semicolon"

    @property
    def dialect(self) -> CsvDialect:
        return SEMICOLON if self is CsvSeparator.SEMICOLON else COMMA


def neutralise(value: object, dialect: CsvDialect = COMMA) -> str:
    """A cell as text no spreadsheet evaluates (`=1+1` -> `'=1+1`); None is empty; a number
    as it is, a fractional one with the dialect's decimal mark."""
    if isinstance(value, float):
        return str(value).replace(".", dialect.decimal_mark)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def csv_line(cells: Iterable[object], dialect: CsvDialect = COMMA) -> str:
    """One CSV record (CRLF-terminated, as RFC 4180 and Excel expect) of neutralised cells."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=dialect.delimiter, lineterminator="\r\n").writerow(
        [neutralise(cell, dialect) for cell in cells]
    )
    return buffer.getvalue()

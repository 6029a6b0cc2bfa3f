"""CSV the services write (an import's error report, the audit log export, the suppression
list, analytics reports), safe to open in a spreadsheet: every CSV the product writes goes
through `csv_line` (or `spreadsheet_cell` for a cell written another way), so each gets both
guards below.

A cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (CSV injection: `=HYPERLINK(...)`, DDE). Values are
stored verbatim; only what is written out as CSV is neutralised, by prefixing such a cell with
`'`, which spreadsheets show as text and do not evaluate. A number (an `int` or `float`, not a
string of digits) is written as it is: `-3` is a number to a spreadsheet, not a formula, and a
report's negative change must stay one.

Excel also turns text that looks like a number or a date into one when it opens a CSV file by
double-click: `1-9` becomes 9 January, `3/4` 4 March (or 3 April), `007` 7, a 20-digit id a
rounded number. `excel_text` prefixes such a text cell with the same `'`, which Excel takes as
"this is text" and does not show; the cell's text is then what was written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
# Text Excel reads as a number, a date or a time (with any locale's separators).
_EXCEL_COERCES = re.compile(
    rf"""^\s*(?:
        [+-]?(?:\d+(?:[.,\u00a0 ]\d+)*|\d*[.,]\d+)(?:e[+-]?\d+)?\s*%?  # 007 1.50 1,234 1e9 5%
      | \d{{1,4}}\s*[-/.]\s*\d{{1,4}}(?:\s*[-/.]\s*\d{{1,4}})?\.?       # 1-9 3/4 10-24 1.2.2026
      | \d{{1,2}}[-/. ]*{_MONTH}(?:[-/. ]*\d{{1,4}})?                # 5-Jan, 5 March 2026
      | {_MONTH}[-/. ]*\d{{1,4}}(?:[-/., ]*\d{{1,4}})?                # Jan-5, Oct 2026
      | \d{{1,2}}(?::\d{{1,2}}){{1,2}}(?:[.,]\d+)?(?:\s*[ap]m?)?           # 10:30, 9:05:01
      | \d{{1,2}}\s*[ap]m?                                          # 9 am
    )\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
# Text Excel reads as the number it shows, nothing lost: a whole number without a leading
# zero, short enough to be exact; and an ISO date (`2026-11-01`, a report's day), which Excel
# reads as that day.
_EXCEL_KEEPS = re.compile(r"^(?:0|[1-9]\d{0,14}|\d{4}-\d{2}-\d{2})$")


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

    @property
    def file_suffix(self) -> str:
        """What a file's name ends in before `.csv`, so both files of one report can sit side
        by side: `-semicolon`, or nothing for the comma one."""
        return "-semicolon" if self is CsvSeparator.SEMICOLON else ""


def neutralise(value: object, dialect: CsvDialect = COMMA) -> str:
    """A cell as text no spreadsheet evaluates (`=1+1` -> `'=1+1`); None is empty; a number
    as it is, a fractional one with the dialect's decimal mark."""
    if isinstance(value, float):
        return str(value).replace(".", dialect.decimal_mark)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def excel_text(value: object) -> object:
    """A text cell Excel would turn into a number, date or time as text it keeps (`1-9` ->
    `'1-9`); any other value as it is (numbers stay numbers)."""
    if (
        isinstance(value, str)
        and _EXCEL_COERCES.match(value)
        and not _EXCEL_KEEPS.match(value)
        and not value.startswith(FORMULA_PREFIXES)  # `neutralise` prefixes those already
    ):
        return "'" + value
    return value


def spreadsheet_cell(value: object, dialect: CsvDialect = COMMA) -> str:
    """A cell as a spreadsheet opening the CSV file shows it: no formula evaluated, no text
    turned into a number or date (`=1+1` -> `'=1+1`, `1-9` -> `'1-9`, `007` -> `'007`)."""
    return neutralise(excel_text(value), dialect)


def csv_line(cells: Iterable[object], dialect: CsvDialect = COMMA) -> str:
    """One CSV record (CRLF-terminated, as RFC 4180 and Excel expect) of spreadsheet-safe
    cells (`spreadsheet_cell`)."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=dialect.delimiter, lineterminator="\r\n").writerow(
        [spreadsheet_cell(cell, dialect) for cell in cells]
    )
    return buffer.getvalue()

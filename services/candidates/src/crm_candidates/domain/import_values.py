"""Yes/no words and dates as spreadsheets write them, read for a CSV import.

Booleans: the words for yes and no (true/false, 1/0...) in the languages whose column names the
import recognises (English, German, French, Spanish, Italian, Portuguese, Dutch, Danish,
Norwegian, Swedish, Finnish), case and accents ignored.

Dates: ISO `2025-12-31` (also with `/` or `.`), an Excel serial number (`46022`), or day and
month in either order with `/`, `.` or `-` and a four-digit year. Which order is the column's
decision, made over the whole file: a value whose first part is above 12 makes it day-first,
one whose second part is above 12 month-first. A column with neither (every value could be
either) takes the order of the import's region (`default_region`, else the tenant's phone
region setting) and, with no region named, its ambiguous values are refused with a warning
naming the ambiguity; a column with both is refused likewise.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


# (yes words, no words) per language, as spreadsheets and their users write them.
_WORDS_BY_LANGUAGE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "any": (("1", "x"), ("0",)),
    "en": (("yes", "y", "true", "on"), ("no", "n", "false", "off")),
    "de": (("ja", "j", "wahr"), ("nein", "falsch")),
    "fr": (("oui", "vrai"), ("non", "faux")),
    "es": (("sí", "verdadero"), ("no", "falso")),
    "it": (("sì", "vero"), ("no", "falso")),
    "pt": (("sim", "verdadeiro"), ("não", "falso")),
    "nl": (("ja", "j", "waar"), ("nee", "onwaar")),
    "da/no/sv": (("ja", "j", "sand", "sant"), ("nej", "nei", "falsk")),
    "fi": (("kyllä", "tosi"), ("ei", "epätosi")),
}
# Folded as cells are (lower case, accents dropped: `sí` and `si`, `não` and `nao`).
YES_NO_WORDS: dict[str, bool] = {
    _fold(word): answer
    for yes, no in _WORDS_BY_LANGUAGE.values()
    for answer, words in ((True, yes), (False, no))
    for word in words
}


def yes_or_no(text: str) -> bool | None:
    """The yes or no a cell says (`Ja`, `NON`, `sí`...), None if it says neither. A blank cell
    is no."""
    folded = _fold(text)
    if not folded:
        return False
    return YES_NO_WORDS.get(folded)


def not_yes_or_no(text: str) -> str:
    """The row report's reason for a cell that is no yes/no word."""
    return f"`{text.strip()}` is not yes or no"


class DateOrder(StrEnum):
    """Which part of `03/04/2025` is the day."""

    DAY_FIRST = "day_first"
    MONTH_FIRST = "month_first"


_ISO = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})$")
_DAY_MONTH = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4})$")
_SERIAL = re.compile(r"^\d{2,7}$")
# Excel's 1900 date system counts 1900-02-29, which never was: from serial 61 (1900-03-01)
# on, a serial is this day plus that many days.
_EXCEL_EPOCH = date(1899, 12, 30)
_LAST_EXCEL_SERIAL = 2_958_465  # 9999-12-31
# Regions whose own writing puts the month first; Canada writes both orders.
MONTH_FIRST_REGIONS = frozenset({"US", "AS", "GU", "MP", "PR", "UM", "VI", "FM", "MH", "PW", "PH"})
NO_ORDER_REGIONS = frozenset({"CA"})


def region_date_order(region: str | None) -> DateOrder | None:
    """The order dates are written in, in a region (ISO country code); None if unknown."""
    if not region or region.upper() in NO_ORDER_REGIONS:
        return None
    return DateOrder.MONTH_FIRST if region.upper() in MONTH_FIRST_REGIONS else DateOrder.DAY_FIRST


@dataclass
class DateColumnEvidence:
    """What one column's values say about the order of day and month (see the module's doc):
    the first value proving each order, if any."""

    column: str
    day_first_example: str | None = None
    month_first_example: str | None = None

    def see(self, cell: str) -> None:
        """Takes one cell of the column into account."""
        if self.day_first_example is not None and self.month_first_example is not None:
            return
        found = _DAY_MONTH.match(cell.strip())
        if found is None:
            return
        first, second = int(found.group(1)), int(found.group(3))
        if first > 12 and second <= 12 and self.day_first_example is None:
            self.day_first_example = cell.strip()
        elif second > 12 and first <= 12 and self.month_first_example is None:
            self.month_first_example = cell.strip()

    @property
    def informative(self) -> bool:
        return self.day_first_example is not None or self.month_first_example is not None


@dataclass(frozen=True)
class DateReading:
    """How a column's `dd/mm` or `mm/dd` values are read: in `order`, or refused with
    `refusal` (the warning of each such value)."""

    order: DateOrder | None
    refusal: str = ""


def column_date_reading(
    column: str,
    day_first_example: str | None,
    month_first_example: str | None,
    region: str | None,
) -> DateReading:
    """How the dates of `column` are read, from its evidence and the region the import knows."""
    if day_first_example and month_first_example:
        return DateReading(
            None,
            f"column `{column}` has day-first dates (`{day_first_example}`) and month-first "
            f"dates (`{month_first_example}`); write its dates as YYYY-MM-DD",
        )
    if day_first_example:
        return DateReading(DateOrder.DAY_FIRST)
    if month_first_example:
        return DateReading(DateOrder.MONTH_FIRST)
    by_region = region_date_order(region)
    if by_region is not None:
        return DateReading(by_region)
    return DateReading(
        None,
        f"no date in column `{column}` has a day above 12, so day and month cannot be told "
        "apart, and the import names no region whose order to use (`default_region`); write "
        "its dates as YYYY-MM-DD",
    )


def _calendar_day(year: int, month: int, day: int, value: str, order: str = "") -> str:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise ValueError(f"`{value}` is no day of the calendar{order}") from None


def read_date(text: str, reading: DateReading) -> str:
    """`text` as an ISO date (YYYY-MM-DD); `ValueError` with the reason otherwise."""
    value = text.strip()
    iso = _ISO.match(value)
    if iso:
        return _calendar_day(int(iso.group(1)), int(iso.group(3)), int(iso.group(4)), value)
    parts = _DAY_MONTH.match(value)
    if parts:
        first, second, year = int(parts.group(1)), int(parts.group(3)), int(parts.group(4))
        if reading.order is DateOrder.DAY_FIRST:
            return _calendar_day(year, second, first, value, " (read day-first)")
        if reading.order is DateOrder.MONTH_FIRST:
            return _calendar_day(year, first, second, value, " (read month-first)")
        raise ValueError(f"`{value}`: {reading.refusal}")
    if _SERIAL.match(value) and 61 <= int(value) <= _LAST_EXCEL_SERIAL:
        return (_EXCEL_EPOCH + timedelta(days=int(value))).isoformat()
    raise ValueError(
        f"`{value}` is not a date: write YYYY-MM-DD, or day and month with `/`, `.` or `-` "
        "and a four-digit year"
    )


# Group separators a spreadsheet writes inside a number: spaces (plain, no-break, narrow) and
# the Swiss apostrophe.
_NUMBER_GROUPS = re.compile(r"[\s\u00a0\u202f'\u2019]")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


def read_number(text: str) -> int | float:
    """A number cell as a spreadsheet exports it: `42`, `3.5`, `3,5` (decimal comma), `1 234,5`,
    `1,234.5`, `1.234,5`, `1'234.5`. Of `.` and `,` both present, the last one is the decimal
    sign; one alone is the decimal sign unless it groups thousands (`1,234`, `1.234.567`: three
    digits after each). `ValueError` names the cell otherwise."""
    compact = _NUMBER_GROUPS.sub("", text.strip())
    if "." in compact and "," in compact:
        decimal = "." if compact.rfind(".") > compact.rfind(",") else ","
        grouping = "," if decimal == "." else "."
        compact = compact.replace(grouping, "").replace(decimal, ".")
    elif "," in compact or compact.count(".") > 1:
        sign = "," if "," in compact else "."
        groups = compact.lstrip("+-").split(sign)
        if len(groups) > 2 or (len(groups[-1]) == 3 and groups[0] not in ("", "0")):
            if not all(len(group) == 3 for group in groups[1:]):
                raise ValueError(f"`{text}` is not a number")
            compact = compact.replace(sign, "")
        else:
            compact = compact.replace(",", ".")
    if not _PLAIN_NUMBER.fullmatch(compact):
        raise ValueError(f"`{text}` is not a number")
    value = float(compact)
    return int(value) if value.is_integer() and "." not in compact else value

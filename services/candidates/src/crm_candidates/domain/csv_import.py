"""CSV import, as pure functions: streaming record splitting and turning a row into a profile.

The file is read as it arrives: bytes are decoded incrementally, cut into lines, and lines are
joined into records while a quoted field is open (an odd number of `"` so far), so a record
never needs more than itself in memory. Each record is parsed with the standard `csv` module.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

# A record longer than this is refused: it is an unterminated quote, not a candidate.
MAX_RECORD_CHARS = 65_536
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "x", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "n", "off"})
CUSTOM_FIELD_PREFIX = "custom_fields."
# Profile fields a column can be mapped to; lists take several values separated by ; , or |.
LIST_FIELDS = frozenset({"emails", "phones", "skills", "tags", "profile_urls", "desired_roles"})
TEXT_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "headline",
        "current_title",
        "current_company",
        "location",
        "time_zone",
        "locale",
        "seniority",
        "owner_id",
    }
)
BOOLEAN_FIELDS = frozenset({"marketing_consent"})
IMPORTABLE_FIELDS = LIST_FIELDS | TEXT_FIELDS | BOOLEAN_FIELDS
REQUIRED_FIELDS = ("first_name", "last_name", "emails")
_LIST_SEPARATORS = re.compile(r"[;,|]")


class CsvFormatError(ValueError):
    """The file cannot be read as CSV (encoding, an unterminated quote, no header)."""


def mapping_errors(mapping: dict[str, str]) -> list[tuple[str, str]]:
    """`(path, reason)` for each mapping entry naming no importable field, and missing ones."""
    errors: list[tuple[str, str]] = []
    for column, target in mapping.items():
        if target.startswith(CUSTOM_FIELD_PREFIX) and len(target) > len(CUSTOM_FIELD_PREFIX):
            continue
        if target not in IMPORTABLE_FIELDS:
            known = ", ".join(sorted(IMPORTABLE_FIELDS))
            errors.append(
                (f"mapping.{column}", f"{target!r} is not a field ({known}, custom_fields.<key>)")
            )
    targets = set(mapping.values())
    errors.extend(
        ("mapping", f"no column is mapped to {required}")
        for required in REQUIRED_FIELDS
        if required not in targets
    )
    return errors


async def csv_records(chunks: AsyncIterator[bytes]) -> AsyncIterator[list[str]]:
    """The records of a CSV byte stream, one list of cells each, read as the bytes arrive."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""
    record = ""
    try:
        async for chunk in chunks:
            pending += decoder.decode(chunk)
            lines = pending.splitlines(keepends=True)
            pending = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
            for line in lines:
                record += line
                if record.count('"') % 2 == 0:
                    # A blank line (also the `\n` of a `\r\n` cut between two reads) is no row.
                    if record.strip("\r\n"):
                        yield _parse(record)
                    record = ""
                elif len(record) > MAX_RECORD_CHARS:
                    raise CsvFormatError("a quoted field is never closed")
        pending += decoder.decode(b"", final=True)
    except UnicodeDecodeError as invalid:
        raise CsvFormatError(f"the file is not UTF-8 text ({invalid.reason})") from None
    record += pending
    if record.count('"') % 2:
        raise CsvFormatError("a quoted field is never closed")
    if record.strip():
        yield _parse(record)


def _parse(text: str) -> list[str]:
    rows = list(csv.reader([text.rstrip("\r\n")]))
    return rows[0] if rows else []


@dataclass(frozen=True)
class ColumnPlan:
    """Which cells of a row feed which profile field, decided once from the header."""

    columns: list[tuple[int, str, str]] = field(default_factory=list)

    @classmethod
    def from_header(cls, header: list[str], mapping: list[tuple[str, str]]) -> ColumnPlan:
        """The plan for `header`; raises `CsvFormatError` if a mapped column is missing."""
        positions = {name.strip(): index for index, name in enumerate(header)}
        missing = [column for column, _ in mapping if column.strip() not in positions]
        if missing:
            raise CsvFormatError(f"the header has no column {', '.join(map(repr, missing))}")
        return cls([(positions[column.strip()], column, target) for column, target in mapping])

    def cells(self, row: list[str]) -> list[str]:
        """The mapped cells of a row, in plan order (what an import stores per row)."""
        return [row[index] if index < len(row) else "" for index, _, _ in self.columns]

    def targets(self) -> list[tuple[str, str]]:
        """(column, field) of each mapped cell, in plan order."""
        return [(column, target) for _, column, target in self.columns]


def row_fields(targets: list[tuple[str, str]], cells: list[str]) -> dict[str, Any]:
    """The profile fields of one row's mapped cells; blank cells are left out.

    Several columns may feed one list field (`email`, `work email` -> `emails`).
    """
    fields: dict[str, Any] = {}
    for (_, target), raw in zip(targets, cells, strict=True):
        value = raw.strip()
        if target in LIST_FIELDS:
            items = [item.strip() for item in _LIST_SEPARATORS.split(value) if item.strip()]
            fields.setdefault(target, []).extend(items)
        elif target in BOOLEAN_FIELDS:
            lowered = value.lower()
            fields[target] = lowered in TRUE_WORDS if lowered in TRUE_WORDS | FALSE_WORDS else raw
        elif target.startswith(CUSTOM_FIELD_PREFIX):
            if value:
                fields.setdefault("custom_fields", {})[target[len(CUSTOM_FIELD_PREFIX) :]] = value
        elif value:
            fields[target] = value
    return fields


def column_of(targets: list[tuple[str, str]], field_path: str) -> str | None:
    """The CSV column a profile field path (`emails.1`, `custom_fields.level`) came from."""
    head = field_path.split(".")[0]
    target = field_path if head == "custom_fields" else head
    for column, mapped in targets:
        if mapped == target:
            return column
    return None


def iter_batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    """`items` in consecutive batches of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]

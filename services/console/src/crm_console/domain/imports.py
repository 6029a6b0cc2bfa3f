"""CSV imports as the console shows them: the fields a column can feed, the mapping a person
chose in the form, and an import's progress."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The profile fields a column can feed, in the order the mapping select lists them.
FIELD_LABELS: dict[str, str] = {
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name (split into first and last)",
    "emails": "E-mail addresses",
    "phones": "Phone numbers",
    "current_title": "Current title",
    "current_company": "Current company",
    "headline": "Headline",
    "location": "Location",
    "skills": "Skills",
    "tags": "Tags",
    "profile_urls": "Profile links",
    "desired_roles": "Desired roles",
    "seniority": "Seniority",
    "time_zone": "Time zone",
    "locale": "Language",
    "owner_id": "Owner (user id)",
    "marketing_consent": "Marketing consent (yes/no)",
}
REQUIRED_FIELDS = ("first_name", "last_name", "emails")
# Fields several columns may feed (a work and a private e-mail address).
LIST_FIELDS = frozenset({"emails", "phones", "skills", "tags", "profile_urls", "desired_roles"})
CUSTOM_PREFIX = "custom_fields."
FINISHED = frozenset({"completed", "failed"})
STATUS_LABELS = {
    "awaiting_file": "Waiting for its file",
    "queued": "Queued",
    "running": "Importing",
    "completed": "Completed",
    "failed": "Failed",
}
# The first bytes of a file the console sends for a preview (what the API reads of it).
PREVIEW_BYTES = 65_536


def field_choices(custom_fields: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """`(value, label)` of every field a column can feed: the profile's, then the tenant's
    custom fields."""
    choices = list(FIELD_LABELS.items())
    choices.extend(
        (f"{CUSTOM_PREFIX}{item['key']}", f"{item.get('label') or item['key']} (custom field)")
        for item in custom_fields
        if item.get("key")
    )
    return choices


@dataclass(frozen=True)
class ColumnChoice:
    """One column of the file and the field the person chose for it ("" = not imported)."""

    index: int
    name: str
    field: str


def choices_from_form(form: Mapping[str, str]) -> list[ColumnChoice]:
    """The mapping table's rows as the form sent them (`column_<i>` and `field_<i>`)."""
    chosen: list[ColumnChoice] = []
    index = 0
    while f"column_{index}" in form:
        chosen.append(
            ColumnChoice(index, form[f"column_{index}"], form.get(f"field_{index}", "").strip())
        )
        index += 1
    return chosen


def mapping_of(choices: list[ColumnChoice]) -> dict[str, str]:
    """The API's `mapping` (column -> field) of the columns that are imported."""
    return {choice.name: choice.field for choice in choices if choice.field}


def mapping_problems(choices: list[ColumnChoice]) -> tuple[dict[int, str], str | None]:
    """What is wrong with a mapping before the API is asked: per column (a single-valued field
    chosen twice), and for the whole table (a required field no column feeds)."""
    per_column: dict[int, str] = {}
    seen: dict[str, str] = {}
    for choice in choices:
        if not choice.field:
            continue
        if choice.field in seen and choice.field not in LIST_FIELDS:
            label = FIELD_LABELS.get(choice.field, choice.field)
            per_column[choice.index] = f"{label} is already fed by column “{seen[choice.field]}”"
        seen.setdefault(choice.field, choice.name)
    if "full_name" in seen:
        seen.setdefault("first_name", seen["full_name"])
        seen.setdefault("last_name", seen["full_name"])
    missing = [FIELD_LABELS[name] for name in REQUIRED_FIELDS if name not in seen]
    table = f"Choose a column for: {', '.join(missing)}" if missing else None
    return per_column, table


def column_errors(paths: Mapping[str, str], choices: list[ColumnChoice]) -> dict[int, str]:
    """The API's errors about the mapping (`mapping.<column>`), by column of the table."""
    by_name = {choice.name: choice.index for choice in choices}
    found: dict[int, str] = {}
    for path, detail in paths.items():
        column = path.removeprefix("mapping.")
        if path.startswith("mapping.") and column in by_name:
            found.setdefault(by_name[column], detail)
    return found


def tags_of(text: str) -> list[str]:
    """Tags typed as a comma-separated list."""
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


@dataclass(frozen=True)
class ImportProgress:
    """How far an import has come, for the progress bar and its text."""

    status: str
    label: str
    finished: bool
    processed: int
    total: int
    counts: dict[str, int]
    error: str | None

    @property
    def percent(self) -> int:
        if self.status == "completed":
            return 100
        return min(100, self.processed * 100 // self.total) if self.total else 0

    @property
    def has_report(self) -> bool:
        """Whether rows were refused or imported with a warning (the report lists them)."""
        return bool(self.counts.get("failed") or self.counts.get("with_warnings"))

    @classmethod
    def of(cls, job: Mapping[str, Any]) -> ImportProgress:
        status = str(job.get("status", ""))
        counts = {key: int(value) for key, value in (job.get("counts") or {}).items()}
        return cls(
            status=status,
            label=STATUS_LABELS.get(status, status),
            finished=status in FINISHED,
            processed=counts.get("rows_processed", 0),
            total=counts.get("rows_read", 0),
            counts=counts,
            error=job.get("error"),
        )

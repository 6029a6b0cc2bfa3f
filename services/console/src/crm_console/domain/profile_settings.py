"""How candidate profiles are shaped, as the settings pages handle it: the phone region, the
skill vocabulary (a row per canonical skill with its synonyms) and the custom fields, read
from forms and from the API's answers; the API's refusals placed at the row or field they
concern."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_console.domain.forms import words
from crm_console.domain.problems import LocatedError

# The candidates API's rules, checked here first so a person learns them before a round trip.
REGION = re.compile(r"^[A-Z]{2}$")
CUSTOM_FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,49}$")
LABEL_LENGTH = 100

CUSTOM_FIELD_TYPES: dict[str, str] = {
    "string": "Text",
    "number": "Number",
    "boolean": "Yes or no",
    "date": "Date",
    "enum": "One of a list",
    "multi_enum": "Several of a list",
}
CHOICE_TYPES = frozenset({"enum", "multi_enum"})


@dataclass(frozen=True)
class SettingsForm:
    """A settings form as typed, what is wrong with it, and the body the API is sent."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.errors


def phone_region_form(form: Mapping[str, str]) -> SettingsForm:
    """The default phone region: two letters of an ISO 3166 region, upper-cased."""
    region = form.get("default_phone_region", "").strip().upper()
    errors: dict[str, str] = {}
    if not REGION.match(region):
        errors["default_phone_region"] = "two letters of a region (ISO 3166), such as SE, DE or GB"
    return SettingsForm({"default_phone_region": region}, errors, {"default_phone_region": region})


# Skill vocabulary


@dataclass(frozen=True)
class SkillRow:
    """One canonical skill and its synonyms as the editor shows them; `key` names the row in
    the page (rows come and go without renumbering)."""

    key: str
    canonical: str
    synonyms: str
    error: str = ""


@dataclass(frozen=True)
class VocabularyForm:
    rows: list[SkillRow]
    body: dict[str, Any]

    @property
    def valid(self) -> bool:
        return not any(row.error for row in self.rows)


def vocabulary_rows(vocabulary: Mapping[str, Any]) -> list[SkillRow]:
    """The API's vocabulary as editor rows, in its order."""
    return [
        SkillRow(f"r{index}", str(entry["canonical"]), ", ".join(entry.get("synonyms") or []))
        for index, entry in enumerate(vocabulary.get("skills") or [])
    ]


def vocabulary_form(
    keys: Sequence[str], canonicals: Sequence[str], synonyms: Sequence[str]
) -> VocabularyForm:
    """The rows as submitted (blank rows dropped, so row `i` is the API's `skills.i`) and the
    vocabulary that replaces the tenant's."""
    rows: list[SkillRow] = []
    for index, canonical in enumerate(canonicals):
        name = " ".join(canonical.split())
        variants = synonyms[index] if index < len(synonyms) else ""
        key = keys[index] if index < len(keys) and keys[index] else f"r{index}"
        if not name and not words(variants):
            continue
        error = "" if name else "a skill needs a name before its synonyms"
        if len(name) > LABEL_LENGTH:
            error = f"at most {LABEL_LENGTH} characters"
        rows.append(SkillRow(key, name, ", ".join(words(variants)), error))
    body = {
        "skills": [{"canonical": row.canonical, "synonyms": words(row.synonyms)} for row in rows]
    }
    return VocabularyForm(rows, body)


def reshaped_rows(
    keys: Sequence[str],
    canonicals: Sequence[str],
    synonyms: Sequence[str],
    *,
    remove: str,
    add_key: str | None,
) -> list[SkillRow]:
    """The rows as typed, without the row `remove` names and with an empty row `add_key`
    at the end: the editor's Remove and Add skill posted by a browser without script, which
    changes the rows without saving them (blank rows are kept: one was just added)."""
    rows = [
        SkillRow(keys[index] if index < len(keys) else f"r{index}", canonical, variants)
        for index, (canonical, variants) in enumerate(zip(canonicals, synonyms, strict=False))
    ]
    kept = [row for row in rows if row.key != remove]
    return [*kept, SkillRow(add_key, "", "")] if add_key else kept


_SKILL_PATH = re.compile(r"^skills\.(\d+)(?:\.(canonical|synonyms)(?:\.(\d+))?)?")
_OTHER_SKILL = re.compile(r"skill (\d+) of the list")


def with_refusals(rows: list[SkillRow], refusals: Iterable[LocatedError]) -> list[SkillRow]:
    """The rows with the API's refusal of each (`skills.<i>...`) next to it; a clash names the
    other row by its skill rather than by its place in the list."""
    said: dict[int, list[str]] = {}
    for refusal in refusals:
        found = _SKILL_PATH.match(refusal.field)
        if not found or int(found.group(1)) >= len(rows):
            continue
        index = int(found.group(1))
        detail = _OTHER_SKILL.sub(lambda other: _named(rows, int(other.group(1))), refusal.detail)
        if found.group(2) == "synonyms" and found.group(3) is not None:
            position = int(found.group(3))
            spelled = words(rows[index].synonyms)
            if position < len(spelled) and spelled[position] not in detail:
                detail = f"“{spelled[position]}”: {detail}"
        said.setdefault(index, []).append(detail)
    return [
        SkillRow(row.key, row.canonical, row.synonyms, "; ".join(said[index]))
        if index in said
        else row
        for index, row in enumerate(rows)
    ]


def _named(rows: list[SkillRow], index: int) -> str:
    if index < len(rows) and rows[index].canonical:
        return f"the skill “{rows[index].canonical}”"
    return f"skill {index + 1} of the list"


@dataclass(frozen=True)
class Respelling:
    """How far re-spelling the candidates' stored skills after a vocabulary change got."""

    running: bool
    processed: int
    changed: int
    started_at: str
    finished_at: str

    @property
    def label(self) -> str:
        return "Re-spelling candidates' skills…" if self.running else "Done"

    @classmethod
    def of(cls, job: Mapping[str, Any]) -> Respelling:
        return cls(
            running=job.get("status") != "completed",
            processed=int(job.get("processed") or 0),
            changed=int(job.get("changed") or 0),
            started_at=str(job.get("started_at") or ""),
            finished_at=str(job.get("finished_at") or ""),
        )


# Custom fields


def choice_lines(text: str) -> list[str]:
    """Choices one per line (a choice may hold a comma), trimmed, blank lines dropped."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _quoted(choices: Iterable[str]) -> str:
    """Choices named in a sentence, each quoted: a choice may hold a comma."""
    return ", ".join(f"“{choice}”" for choice in choices)


def _repeated(choices: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for choice in choices:
        folded = choice.casefold()
        if folded in seen:
            repeated.append(choice)
        seen.add(folded)
    return repeated


def _label_error(label: str) -> str | None:
    if not label:
        return "a label is needed: it is what people see on a profile"
    if len(label) > LABEL_LENGTH:
        return f"at most {LABEL_LENGTH} characters"
    return None


def _choices_error(choices: list[str]) -> str | None:
    repeated = _repeated(choices)
    if repeated:
        return f"each choice once (ignoring case): {_quoted(repeated)}"
    long = [choice for choice in choices if len(choice) > LABEL_LENGTH]
    if long:
        return f"a choice has at most {LABEL_LENGTH} characters"
    return None


def custom_field_form(form: Mapping[str, str]) -> SettingsForm:
    """A new custom field: key, label, type, whether required, choices for the list types."""
    key = form.get("key", "").strip()
    label = " ".join(form.get("label", "").split())
    kind = form.get("type", "")
    required = bool(form.get("required"))
    choices = choice_lines(form.get("allowed_values", ""))
    errors: dict[str, str] = {}
    if not CUSTOM_FIELD_KEY.match(key):
        errors["key"] = (
            "lower-case letters, digits and _, starting with a letter (such as contact_preference)"
        )
    if (problem := _label_error(label)) is not None:
        errors["label"] = problem
    if kind not in CUSTOM_FIELD_TYPES:
        errors["type"] = "choose a type"
    elif kind in CHOICE_TYPES and not choices:
        errors["allowed_values"] = "list the choices, one per line"
    elif kind not in CHOICE_TYPES and choices:
        errors["allowed_values"] = (
            "choices are for the types “One of a list” and “Several of a list”"
        )
    if "allowed_values" not in errors and (problem := _choices_error(choices)) is not None:
        errors["allowed_values"] = problem
    values = {
        "key": key,
        "label": label,
        "type": kind,
        "required": required,
        "allowed_values": "\n".join(choices),
    }
    body = {
        "key": key,
        "label": label,
        "type": kind,
        "required": required,
        "allowed_values": choices if kind in CHOICE_TYPES else [],
    }
    return SettingsForm(values, errors, body)


def custom_field_values(definition: Mapping[str, Any]) -> dict[str, Any]:
    """An existing field as its edit form starts: its label, required, no new choices."""
    return {
        "label": str(definition.get("label") or ""),
        "required": bool(definition.get("required")),
        "new_values": "",
    }


def custom_field_edit(definition: Mapping[str, Any], form: Mapping[str, str]) -> SettingsForm:
    """An edit of a field: its label, whether required, and for a list type choices added to
    the ones it has (choices only grow: candidates may hold any of them)."""
    label = " ".join(form.get("label", "").split())
    required = bool(form.get("required"))
    current = [str(value) for value in definition.get("allowed_values") or []]
    added = choice_lines(form.get("new_values", ""))
    errors: dict[str, str] = {}
    if (problem := _label_error(label)) is not None:
        errors["label"] = problem
    body: dict[str, Any] = {"label": label, "required": required}
    if added:
        if definition.get("type") not in CHOICE_TYPES:
            errors["new_values"] = "only a list type has choices"
        else:
            had = {value.casefold() for value in current}
            there = [value for value in added if value.casefold() in had]
            if there:
                errors["new_values"] = f"already a choice: {_quoted(there)}"
            elif (problem := _choices_error(added)) is not None:
                errors["new_values"] = problem
            body["allowed_values"] = current + added
    values = {"label": label, "required": required, "new_values": "\n".join(added)}
    return SettingsForm(values, errors, body)


def edit_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """The API's refusal of an edit by the edit form's fields (its choices are `new_values`)."""
    return {("new_values" if name == "allowed_values" else name): v for name, v in errors.items()}

"""The candidate form (new candidate, edit a profile, record consent) as the pure rules read
it: typed custom-field inputs from the tenant's definitions, the API's request bodies from
what was submitted, and the changes an edit sends. Tested without a browser."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crm_console.domain.forms import FormValues, first

# Text fields of the form, in the order shown, with their labels.
TEXT_FIELDS = {
    "first_name": "First name",
    "last_name": "Last name",
    "current_title": "Title",
    "current_company": "Company",
    "location": "Location",
}
# List fields: typed comma- or line-separated.
LIST_FIELDS = {"emails": "E-mails", "phones": "Phones", "skills": "Skills", "tags": "Tags"}
# A person may have one name: the last name may stay empty.
REQUIRED = frozenset({"first_name", "emails"})
# Text fields the API accepts as null (a field emptied on an edit is cleared).
CLEARABLE = frozenset({"current_title", "current_company", "location"})
CUSTOM_PREFIX = "cf-"
CONSENT_PURPOSES = {
    "marketing": "Marketing",
    "talent_community": "Talent community",
    "data_processing": "Data processing",
}
CONSENT_ACTIONS = {"grant": "Grant", "withdraw": "Withdraw"}
LAWFUL_BASES = {
    "consent": "Consent",
    "legitimate_interest": "Legitimate interest",
    "contract": "Contract",
    "legal_obligation": "Legal obligation",
}
CHANGED_MEANWHILE = (
    "This candidate was changed by someone else meanwhile. Reload the page to see the "
    "current data, then make your change again."
)


def split_list(text: str) -> list[str]:
    """Comma- or line-separated values, trimmed, empty and repeated ones dropped."""
    parts = (part.strip() for part in text.replace("\n", ",").split(","))
    return list(dict.fromkeys(part for part in parts if part))


@dataclass(frozen=True)
class CustomInput:
    """One custom field as the form shows it: the input its type calls for and its value."""

    key: str
    label: str
    type: str
    required: bool
    choices: tuple[str, ...]
    # The value as the input holds it: text, "yes"/"no"/"" for a boolean, a list for multi_enum.
    value: str | list[str]
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{CUSTOM_PREFIX}{self.key}"

    @property
    def input_type(self) -> str:
        return {"number": "number", "date": "date"}.get(self.type, "text")


def _shown(kind: str, value: Any) -> str | list[str]:
    # A value as stored (list, bool) or as typed back into the form (text).
    if kind == "multi_enum":
        if isinstance(value, str):
            return [value] if value else []
        return [str(item) for item in value] if isinstance(value, list) else []
    if kind == "boolean":
        if isinstance(value, str):
            return value if value in ("yes", "no") else ""
        return "" if value is None else ("yes" if value is True else "no")
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def custom_inputs(
    definitions: Sequence[Mapping[str, Any]],
    values: Mapping[str, Any],
    errors: Mapping[str, str] | None = None,
) -> list[CustomInput]:
    """The tenant's live custom fields in their order, each with the candidate's value and
    the API's error for it (`custom_fields.<key>`)."""
    found = errors or {}
    return [
        CustomInput(
            key=str(d["key"]),
            label=str(d.get("label") or d["key"]),
            type=str(d.get("type", "string")),
            required=bool(d.get("required")),
            choices=tuple(str(choice) for choice in d.get("allowed_values") or []),
            value=_shown(str(d.get("type", "string")), values.get(str(d["key"]))),
            error=found.get(f"custom_fields.{d['key']}"),
        )
        for d in definitions
        if not d.get("archived_at")
    ]


def custom_value(kind: str, submitted: Sequence[str]) -> Any:
    """A custom field's submitted value in the API's type; None when left empty. A number
    that is not one is sent as typed, so the API names it at its field."""
    if kind == "multi_enum":
        chosen = [value for value in submitted if value]
        return chosen or None
    text = submitted[0].strip() if submitted else ""
    if not text:
        return None
    if kind == "boolean":
        return text == "yes"
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number
    return text


def candidate_body(form: FormValues, definitions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Everything the form holds as a candidate's fields: text fields (None when empty), the
    lists, and the custom fields by key (None when empty)."""
    body: dict[str, Any] = {name: first(form, name) or None for name in TEXT_FIELDS}
    body.update({name: split_list(first(form, name)) for name in LIST_FIELDS})
    body["custom_fields"] = {
        str(d["key"]): custom_value(
            str(d.get("type", "string")), form.get(f"{CUSTOM_PREFIX}{d['key']}") or []
        )
        for d in definitions
        if not d.get("archived_at")
    }
    return body


def create_body(form: FormValues, definitions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """`POST /candidates`'s body: what was filled in (the API refuses missing required ones)."""
    body = candidate_body(form, definitions)
    created: dict[str, Any] = {
        name: value for name, value in body.items() if value not in (None, [], {})
    }
    custom = {key: value for key, value in body["custom_fields"].items() if value is not None}
    if custom:
        created["custom_fields"] = custom
    else:
        created.pop("custom_fields", None)
    for name in ("first_name", "last_name"):
        created.setdefault(name, "")
    created.setdefault("emails", [])
    source = first(form, "source")
    if source:
        created["source"] = source
    return created


def changes(
    current: Mapping[str, Any], form: FormValues, definitions: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """`PATCH /candidates/{id}`'s body: only what differs from the record as stored now, so a
    field nobody touched is never written back. An emptied title, company or location is
    cleared (null); an emptied custom field is removed (null)."""
    body = candidate_body(form, definitions)
    changed: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        value = body[name]
        if value == (current.get(name) or None):
            continue
        if value is None and name not in CLEARABLE:
            value = ""  # the API names the required field
        changed[name] = value
    for name in LIST_FIELDS:
        if body[name] != list(current.get(name) or []):
            changed[name] = body[name]
    stored = current.get("custom_fields") or {}
    custom = {
        key: value
        for key, value in body["custom_fields"].items()
        if value != stored.get(key) and not (value is None and key not in stored)
    }
    if custom:
        changed["custom_fields"] = custom
    return changed


def changed_meanwhile(current: Mapping[str, Any], seen_updated_at: str) -> bool:
    """Whether the record changed since the form was opened (its `updated_at` then)."""
    return bool(seen_updated_at) and str(current.get("updated_at") or "") != seen_updated_at


def form_errors(
    problem_paths: Mapping[str, str], field_errors: Mapping[str, str]
) -> dict[str, str]:
    """The API's errors by the form's field names: `emails.0` -> `emails`,
    `custom_fields.<key>` kept whole for its custom input."""
    errors = {name: detail for name, detail in field_errors.items() if name != "custom_fields"}
    errors.update(
        {
            path: detail
            for path, detail in problem_paths.items()
            if path.startswith("custom_fields.")
        }
    )
    return errors


def consent_body(form: FormValues) -> dict[str, Any]:
    """`POST /candidates/{id}/consents`'s documented body: purpose, action, lawful basis,
    source `recruiter`, and an expiry date (end of that day, UTC) and evidence when given."""
    body: dict[str, Any] = {
        "purpose": first(form, "purpose"),
        "action": first(form, "action"),
        "lawful_basis": first(form, "lawful_basis") or "consent",
        "source": "recruiter",
    }
    expires = first(form, "expires_at")
    if expires:
        body["expires_at"] = f"{expires}T23:59:59Z" if len(expires) == 10 else expires
    evidence = first(form, "evidence")
    if evidence:
        body["evidence"] = evidence
    return body

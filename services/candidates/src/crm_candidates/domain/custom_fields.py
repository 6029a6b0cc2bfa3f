"""Tenant-defined custom fields: their schema and the validation of a candidate's values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_candidates.domain.models import ProfileError
from crm_shared import new_id, utc_now

CUSTOM_FIELD_KEY_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
MAX_TEXT_LENGTH = 2000


class CustomFieldType(StrEnum):
    """The kind of value a custom field holds."""

    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    ENUM = "enum"
    MULTI_ENUM = "multi_enum"


CHOICE_TYPES = frozenset({CustomFieldType.ENUM, CustomFieldType.MULTI_ENUM})


class CustomFieldDefinition(BaseModel):
    """One custom field of a tenant's candidates."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    tenant_id: str
    key: str = Field(pattern=CUSTOM_FIELD_KEY_PATTERN)
    label: str
    type: CustomFieldType
    required: bool = False
    allowed_values: list[str] = Field(default_factory=list)
    created_by: str
    created_at: datetime = Field(default_factory=utc_now)
    # Deleted: it takes no new values; what candidates hold stays on their records.
    archived_at: datetime | None = None

    @model_validator(mode="after")
    def _choices_match_type(self) -> CustomFieldDefinition:
        if self.type in CHOICE_TYPES:
            if not self.allowed_values:
                raise ValueError(f"a {self.type.value} field needs allowed_values")
            if len({value.casefold() for value in self.allowed_values}) != len(self.allowed_values):
                raise ValueError("allowed_values must differ (ignoring case)")
        elif self.allowed_values:
            raise ValueError(f"allowed_values apply to enum and multi_enum, not {self.type.value}")
        return self


def _choice(definition: CustomFieldDefinition, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be one of the allowed values (text)")
    for allowed in definition.allowed_values:
        # Stored in the schema's spelling, whatever case the writer used.
        if allowed.casefold() == value.strip().casefold():
            return allowed
    raise ValueError(f"{value!r} is not allowed; allowed: {', '.join(definition.allowed_values)}")


def custom_field_value(definition: CustomFieldDefinition, value: Any) -> Any:
    """`value` checked against the field's type, in its stored form; `ValueError` otherwise."""
    kind = definition.type
    if kind is CustomFieldType.STRING:
        if not isinstance(value, str):
            raise ValueError("must be text")
        text = value.strip()
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"must be at most {MAX_TEXT_LENGTH} characters")
        return text
    if kind is CustomFieldType.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    if kind is CustomFieldType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value
    if kind is CustomFieldType.DATE:
        if not isinstance(value, str):
            raise ValueError("must be a date as YYYY-MM-DD")
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not a date as YYYY-MM-DD") from None
    if kind is CustomFieldType.ENUM:
        return _choice(definition, value)
    if not isinstance(value, list):
        raise ValueError("must be a list of allowed values")
    chosen = [_choice(definition, item) for item in value]
    return list(dict.fromkeys(chosen))


def validate_custom_fields(
    values: Mapping[str, Any], definitions: Mapping[str, CustomFieldDefinition]
) -> dict[str, Any]:
    """A candidate's whole set of custom values checked against the tenant's schema.

    Raises `ProfileError` with a `custom_fields.<key>` path for an unknown key, a value of the
    wrong type or not allowed, and a required field without a value.
    """
    errors: list[tuple[str, str]] = []
    stored: dict[str, Any] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors.append((f"custom_fields.{key}", "no custom field with this key is defined"))
            continue
        try:
            stored[key] = custom_field_value(definition, value)
        except ValueError as invalid:
            errors.append((f"custom_fields.{key}", str(invalid)))
    for key, definition in definitions.items():
        if definition.required and key not in values:
            errors.append((f"custom_fields.{key}", "is required"))
    if errors:
        raise ProfileError(errors)
    return stored


def widened(
    definition: CustomFieldDefinition,
    *,
    label: str | None,
    required: bool | None,
    allowed_values: list[str] | None,
) -> CustomFieldDefinition:
    """The definition after an edit; raises `ValueError` for one that stored values could
    break. Key and type never change; choices can be added and renamed in case, not removed,
    since candidates may hold them."""
    changes: dict[str, Any] = {}
    if label is not None:
        changes["label"] = label
    if required is not None:
        changes["required"] = required
    if allowed_values is not None:
        kept = {value.casefold() for value in allowed_values}
        removed = [value for value in definition.allowed_values if value.casefold() not in kept]
        if removed:
            raise ValueError(f"choices candidates may hold cannot be removed: {', '.join(removed)}")
        changes["allowed_values"] = allowed_values
    return CustomFieldDefinition.model_validate(definition.model_dump() | changes)

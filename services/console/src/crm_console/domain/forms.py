"""A submitted form as the pure rules read it: each name with all its values, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

FormValues = Mapping[str, Sequence[str]]


def first(form: FormValues, name: str, default: str = "") -> str:
    """The first value of `name`, stripped; `default` when absent."""
    values = form.get(name) or []
    return values[0].strip() if values else default


def words(value: str) -> list[str]:
    """Comma-separated words, trimmed, empty ones dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


def whole_number(value: str) -> int | str | None:
    """A number field: an int when it is one, the text as typed otherwise (the API names it as
    invalid), None when empty."""
    if not value:
        return None
    return int(value) if value.isdigit() else value

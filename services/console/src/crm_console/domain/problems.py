"""Problem documents (RFC 9457) from the API, turned into what a form shows: a message per
field where the API named the field, and one for the form otherwise."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any


@dataclass(frozen=True)
class LocatedError:
    """One `errors` entry as the API gave it: the full field path (`steps.2.template_id`,
    without `body.`), what is wrong, and for a template part the line it is on."""

    field: str
    detail: str
    line: int | None = None


@dataclass(frozen=True)
class Problem:
    """What the API said went wrong."""

    status: int
    title: str
    detail: str
    problem_type: str = "about:blank"
    # Field name (the last part of the pydantic location) -> what is wrong with it.
    field_errors: dict[str, str] = field(default_factory=dict)
    # Every entry with its full path and line, for forms of repeated parts (a sequence's steps).
    located: tuple[LocatedError, ...] = ()
    # The document's other members (RFC 9457 extensions), e.g. a duplicate's
    # `existing_candidate_id`, so a page can link what the API named.
    extensions: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def message(self) -> str:
        """One line for the top of a form or a page."""
        return self.detail or self.title

    @property
    def paths(self) -> dict[str, str]:
        """Full field path as the API named it (`mapping.E-Mail`, `rule.all.0.value`) -> its
        first detail, for forms that show an error at a part of a field (a column's mapping,
        a condition of a rule)."""
        found: dict[str, str] = {}
        for error in self.located:
            found.setdefault(error.field, error.detail)
        return found


def _field_name(entry: dict[str, Any]) -> str | None:
    name = entry.get("field")
    if isinstance(name, str) and name:
        # `body.first_name` -> `first_name`; `body.emails.0` -> `emails`
        parts = [part for part in name.split(".") if part not in {"body", "query", "path"}]
        named = [part for part in parts if not part.isdigit()]
        return named[0] if named else None
    return None


def problem_from(status: int, body: bytes) -> Problem:
    """The problem a response carried, or one made from its status when it carried none."""
    try:
        document = json.loads(body) if body else {}
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    field_errors: dict[str, str] = {}
    located: list[LocatedError] = []
    for entry in document.get("errors") or []:
        if isinstance(entry, dict):
            name = _field_name(entry)
            detail = entry.get("detail")
            if name and isinstance(detail, str):
                field_errors.setdefault(name, detail)
            path = entry.get("field")
            if isinstance(path, str) and isinstance(detail, str):
                line = entry.get("line")
                located.append(
                    LocatedError(
                        ".".join(p for p in path.split(".") if p not in {"body", "query", "path"}),
                        detail,
                        line if isinstance(line, int) else None,
                    )
                )
    return Problem(
        status=status,
        title=str(document.get("title") or title),
        detail=str(document.get("detail") or ""),
        problem_type=str(document.get("type") or "about:blank"),
        field_errors=field_errors,
        located=tuple(located),
        extensions={
            name: value
            for name, value in document.items()
            if name not in {"type", "title", "status", "detail", "instance", "errors"}
        },
    )

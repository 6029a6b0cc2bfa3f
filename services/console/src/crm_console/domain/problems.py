"""Problem documents (RFC 9457) from the API, turned into what a form shows: a message per
field where the API named the field, and one for the form otherwise."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

# The API's type for a request its models refused (`urn:recruitcrm:problem:validation-error`);
# its detail only lists the paths ("invalid request: body.answers.team").
VALIDATION_ERROR = "validation-error"
# The line at the top of a form the API refused field by field: each field says why.
CHECK_THE_FIELDS = "Some of what was entered was not accepted; each marked field says why."


def _plural(count: str, one: str, many: str) -> str:
    return f"{count} {one if count == '1' else many}"


def _choices(listed: str) -> str:
    names = re.findall(r"'([^']*)'", listed)
    return ", ".join(names) if names else listed


# Pydantic's wording (what a developer reads) -> a sentence for the person at the form, tried
# in order; a message the API wrote itself ("a pool with this name exists") is kept as it is.
_FRIENDLY: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE | re.DOTALL), say)
    for pattern, say in (
        (r"^(?:Value error|Assertion failed), (.+)$", lambda m: friendly(m[1])),
        (r"^Field required$", lambda m: "This is required."),
        (r"^String should have at least 1 character", lambda m: "This is required."),
        (
            r"^String should have at least (\d+) characters",
            lambda m: f"Use at least {_plural(m[1], 'character', 'characters')}.",
        ),
        (
            r"^String should have at most (\d+) characters?",
            lambda m: f"Use at most {_plural(m[1], 'character', 'characters')}.",
        ),
        (r"^List should have at least 1 item", lambda m: "Choose or enter at least one."),
        (
            r"^List should have at least (\d+) items",
            lambda m: f"Choose or enter at least {m[1]}.",
        ),
        (r"^List should have at most (\d+) items?", lambda m: f"Choose or enter at most {m[1]}."),
        (r"^Input should be a valid integer", lambda m: "Enter a whole number."),
        (r"^Input should be a valid number", lambda m: "Enter a number."),
        (r"^Input should be greater than or equal to (\S+?)$", lambda m: f"Enter {m[1]} or more."),
        (r"^Input should be greater than (\S+?)$", lambda m: f"Enter a number above {m[1]}."),
        (r"^Input should be less than or equal to (\S+?)$", lambda m: f"Enter {m[1]} or less."),
        (r"^Input should be less than (\S+?)$", lambda m: f"Enter a number below {m[1]}."),
        (r"^Input should be a valid datetime", lambda m: "Enter a date and time."),
        (r"^Input should be a valid date", lambda m: "Enter a date (YYYY-MM-DD)."),
        (r"^Input should be a valid URL", lambda m: "Enter a full web address (https://…)."),
        (r"^Input should be a valid boolean", lambda m: "Choose yes or no."),
        (
            r"^value is not a valid email address",
            lambda m: "Enter an e-mail address (name@example.org).",
        ),
        (r"^Input should be ('.*')$", lambda m: f"Choose one of: {_choices(m[1])}."),
        # The API's own words for a value outside a fixed set, and for an address without `@`.
        (r"^must be one of: (.+)$", lambda m: f"Choose one of: {m[1]}."),
        (r"^not an e-mail address$", lambda m: "Enter an e-mail address (name@example.org)."),
        (r"^String should match pattern", lambda m: "This is not in the expected format."),
        (r"^Extra inputs are not permitted$", lambda m: "This cannot be set here."),
        (
            r"^Input should be a valid (?:string|list|dictionary|array|object)",
            lambda m: "This is not in the expected form.",
        ),
    )
)


def friendly(detail: str) -> str:
    """What is wrong with a field, said for the person at the form (see `_FRIENDLY`)."""
    text = detail.strip()
    for pattern, say in _FRIENDLY:
        found = pattern.match(text)
        if found:
            return say(found)
    return text


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
    def is_validation(self) -> bool:
        """Whether the API's models refused the request field by field."""
        return self.problem_type.rsplit(":", 1)[-1] == VALIDATION_ERROR or self.detail.startswith(
            "invalid request:"
        )

    @property
    def message(self) -> str:
        """One line for the top of a form or a page: a refusal by field says so in words (each
        field says why), never the API's list of paths."""
        if self.is_validation and self.located:
            return CHECK_THE_FIELDS
        return self.detail or self.title

    @property
    def summary(self) -> list[tuple[str, str]]:
        """Each refused field as a person reads it (`answers.team` -> "Answers team") with
        what is wrong, for the list under the top line."""
        return [(field_label(error.field), error.detail) for error in self.located]

    @property
    def paths(self) -> dict[str, str]:
        """Full field path as the API named it (`mapping.E-Mail`, `rule.all.0.value`) -> its
        first detail, for forms that show an error at a part of a field (a column's mapping,
        a condition of a rule)."""
        found: dict[str, str] = {}
        for error in self.located:
            found.setdefault(error.field, error.detail)
        return found


def field_label(path: str) -> str:
    """A field's path as a person reads it: `trigger.segment_id` -> "Trigger segment id"."""
    words = " ".join(part for part in path.replace("_", " ").split(".") if not part.isdigit())
    return words[:1].upper() + words[1:]


LOCATIONS = frozenset({"body", "query", "path"})


def _without_location(path: str) -> list[str]:
    """A field's path without the request part it came in: `body.first_name` -> `first_name`.
    Only a leading part is a location, and only when a field follows it: the API names a
    note's text `body` (its own field of that name), which is the field, not the request's
    body."""
    parts = path.split(".")
    if len(parts) > 1 and parts[0] in LOCATIONS:
        return parts[1:]
    return parts


def _field_name(entry: dict[str, Any]) -> str | None:
    name = entry.get("field")
    if isinstance(name, str) and name:
        # `body.first_name` -> `first_name`; `body.emails.0` -> `emails`; `body` -> `body`
        named = [part for part in _without_location(name) if not part.isdigit()]
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
            if isinstance(detail, str):
                detail = friendly(detail)
            if name and isinstance(detail, str):
                field_errors.setdefault(name, detail)
            path = entry.get("field")
            if isinstance(path, str) and isinstance(detail, str):
                line = entry.get("line")
                located.append(
                    LocatedError(
                        ".".join(_without_location(path)),
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


def page_refusal(status: int, detail: str) -> str:
    """What a refusal of the console's own (no page at the address, or not by that method)
    says to a person rather than to a program."""
    if status == 404:
        return "There is no such page in the console. The link may be old, or mistyped."
    if status == 405:
        return (
            "This address does something when its button is pressed; it has no page of its "
            "own (a reload or a bookmark of it lands here). Go back to the page it is on."
        )
    return detail

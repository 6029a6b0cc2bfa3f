"""Dynamic segment rules: a tree of all/any/none groups over conditions on candidate fields.

A rule is compiled to a MongoDB query (for counts, previews and full recomputation) and also
evaluated directly against one candidate document (for incremental membership on every write).
Both read the same normalised `facets` of the candidate, and the evaluator mirrors MongoDB's
semantics (a condition on an array field holds when any element satisfies it), so the two agree.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FACETS = "facets"
MAX_RULE_DEPTH = 5


class Operator(StrEnum):
    """How a condition compares a field with its value."""

    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    CONTAINS = "contains"
    EXISTS = "exists"


class FieldKind(StrEnum):
    TEXT = "text"
    TEXT_LIST = "text_list"
    BOOLEAN = "boolean"


SEGMENTABLE_FIELDS: dict[str, FieldKind] = {
    "first_name": FieldKind.TEXT,
    "last_name": FieldKind.TEXT,
    "emails": FieldKind.TEXT_LIST,
    "headline": FieldKind.TEXT,
    "current_title": FieldKind.TEXT,
    "current_company": FieldKind.TEXT,
    "location": FieldKind.TEXT,
    "skills": FieldKind.TEXT_LIST,
    "tags": FieldKind.TEXT_LIST,
    "source": FieldKind.TEXT,
    "owner_id": FieldKind.TEXT,
    "marketing_consent": FieldKind.BOOLEAN,
}


def facet_value(value: Any) -> Any:
    """The normalised form a value is matched in: text trimmed, single-spaced and lower-cased."""
    if isinstance(value, str):
        return " ".join(value.split()).lower()
    if isinstance(value, list):
        return [facet_value(item) for item in value]
    return value


def candidate_facets(profile: dict[str, Any]) -> dict[str, Any]:
    """The normalised copy of a candidate's segmentable fields that rules are matched against."""
    return {name: facet_value(profile.get(name)) for name in SEGMENTABLE_FIELDS}


class Condition(BaseModel):
    """One comparison of a candidate field with a value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(description=f"One of: {', '.join(SEGMENTABLE_FIELDS)}.")
    op: Operator
    value: str | bool | list[str] | None = None

    @model_validator(mode="after")
    def _check(self) -> Condition:
        kind = SEGMENTABLE_FIELDS.get(self.field)
        if kind is None:
            raise ValueError(f"unknown field {self.field!r}")
        if self.op is Operator.EXISTS:
            if not isinstance(self.value, bool):
                raise ValueError("exists takes true or false")
        elif self.op is Operator.IN:
            if not isinstance(self.value, list) or not self.value:
                raise ValueError("in takes a non-empty list of values")
        elif kind is FieldKind.BOOLEAN:
            if self.op not in (Operator.EQUALS, Operator.NOT_EQUALS) or not isinstance(
                self.value, bool
            ):
                raise ValueError(
                    f"{self.field} is true or false: use equals/not_equals with a bool"
                )
        elif not isinstance(self.value, str) or not self.value.strip():
            raise ValueError(f"{self.op.value} takes a non-empty text value")
        return self


class Group(BaseModel):
    """All, any or none of its members hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    all: list[Node] | None = None
    any: list[Node] | None = None
    none: list[Node] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Group:
        given = [name for name in ("all", "any", "none") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("a group has exactly one of all, any, none")
        if not getattr(self, given[0]):
            raise ValueError(f"{given[0]} needs at least one condition")
        return self

    @property
    def kind(self) -> Literal["all", "any", "none"]:
        if self.all is not None:
            return "all"
        return "any" if self.any is not None else "none"

    @property
    def members(self) -> list[Node]:
        return self.all or self.any or self.none or []


Node = Annotated[Group | Condition, Field(union_mode="left_to_right")]
Group.model_rebuild()


def compile_rule(node: Group | Condition) -> dict[str, Any]:
    """The MongoDB query selecting exactly the candidates the rule matches."""
    if isinstance(node, Group):
        parts = [compile_rule(member) for member in node.members]
        return {{"all": "$and", "any": "$or", "none": "$nor"}[node.kind]: parts}
    path = f"{FACETS}.{node.field}"
    value = facet_value(node.value)
    if node.op is Operator.EQUALS:
        return {path: value}
    if node.op is Operator.NOT_EQUALS:
        return {path: {"$ne": value}}
    if node.op is Operator.IN:
        return {path: {"$in": value}}
    if node.op is Operator.CONTAINS:
        return {path: {"$regex": re.escape(value)}}
    present = {path: {"$exists": True, "$nin": [None, "", []]}}
    return present if node.value else {"$nor": [present]}


def _holds(op: Operator, value: Any, actual: Any) -> bool:
    if op is Operator.EQUALS:
        return bool(actual == value)
    if op is Operator.IN:
        return actual in value
    if op is Operator.CONTAINS:
        return isinstance(actual, str) and value in actual
    raise AssertionError(op)


def rule_matches(node: Group | Condition, facets: dict[str, Any]) -> bool:
    """Whether a candidate with these facets matches the rule (same result as the query)."""
    if isinstance(node, Group):
        results = (rule_matches(member, facets) for member in node.members)
        if node.kind == "all":
            return all(results)
        if node.kind == "any":
            return any(results)
        return not any(results)
    actual = facets.get(node.field)
    value = facet_value(node.value)
    if node.op is Operator.EXISTS:
        present = actual not in (None, "", [])
        return present is value
    if node.op is Operator.NOT_EQUALS:
        if isinstance(actual, list):
            return value not in actual
        return bool(actual != value)
    # Like MongoDB, a condition on an array holds when any element satisfies it.
    if isinstance(actual, list):
        return any(_holds(node.op, value, element) for element in actual)
    return _holds(node.op, value, actual)


class RuleError(ValueError):
    """A rule is not valid; `errors` names the path of each bad part, e.g. `rule.all.1.field`."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))
        self.errors = errors


def parse_rule(raw: Any, path: str = "rule") -> Group:
    """Validates a rule tree, reporting every bad part by its path; the root must be a group."""
    errors: list[tuple[str, str]] = []
    if not isinstance(raw, dict) or "field" in raw:
        errors.append((path, "the rule must be a group: an object with all, any or none"))
    else:
        _check_node(raw, path, 1, errors)
    if errors:
        raise RuleError(errors)
    return Group.model_validate(raw)


def _check_node(raw: Any, path: str, depth: int, errors: list[tuple[str, str]]) -> None:
    if not isinstance(raw, dict):
        errors.append((path, "expected a condition or a group object"))
        return
    if "field" in raw:
        try:
            Condition.model_validate(raw)
        except ValidationError as invalid:
            for error in invalid.errors():
                location = ".".join(str(part) for part in error["loc"])
                message = error["msg"].removeprefix("Value error, ")
                errors.append((f"{path}.{location}" if location else path, message))
        return
    kinds = [kind for kind in ("all", "any", "none") if kind in raw]
    unknown = sorted(set(raw) - {"all", "any", "none"})
    if unknown:
        errors.append((f"{path}.{unknown[0]}", "a group has only one of all, any, none"))
    if len(kinds) != 1:
        errors.append((path, "a group has exactly one of all, any, none"))
        return
    members = raw[kinds[0]]
    if not isinstance(members, list) or not members:
        errors.append((f"{path}.{kinds[0]}", "needs a non-empty list of conditions or groups"))
        return
    if depth > MAX_RULE_DEPTH:
        errors.append((path, f"groups nest at most {MAX_RULE_DEPTH} deep"))
        return
    for index, member in enumerate(members):
        _check_node(member, f"{path}.{kinds[0]}.{index}", depth + 1, errors)

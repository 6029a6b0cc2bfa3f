"""Dynamic segment rules: a tree of all/any/none groups over conditions on candidate fields.

A rule is compiled to a MongoDB query (for counts, previews and full recomputation) and also
evaluated directly against one candidate (for incremental membership on every write). Both read
the same normalised `facets` of the candidate, and the evaluator mirrors MongoDB's semantics (a
condition on an array field holds when any element satisfies it; comparisons only hold between
values of the same type, so `true` is never the number 1), so the two agree. The rule language
is described in `docs/segments.md`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crm_candidates.domain.pools import Pool
from crm_shared import validation_detail

FACETS = "facets"
# Stored on the candidate document beside the facets, kept by every segment entry and exit, so
# a rule can refer to another segment's membership without inlining that segment's rule.
SEGMENT_IDS = "segment_ids"
# Candidates that are merged or archived are in no segment, whatever the rule says.
INACTIVE = "inactive"
MAX_RULE_DEPTH = 5
MAX_IN_VALUES = 500
CUSTOM_FIELD_PREFIX = "custom_fields."
CUSTOM_FIELD_KEY = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
RELATIVE_DATE = re.compile(r"^([+-])(\d{1,5})([mhdw])$")
RELATIVE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
RANGE_BOUNDS = ("gt", "gte", "lt", "lte")
ATS_STATUSES = ("applied", "in_process", "rejected", "hired")


class Operator(StrEnum):
    """How a condition compares a field with its value."""

    EQUALS = "equals"
    NOT_EQUALS = "not_equals"
    IN = "in"
    CONTAINS = "contains"
    EXISTS = "exists"
    RANGE = "range"
    BEFORE = "before"
    AFTER = "after"
    IN_POOL = "in_pool"


class FieldKind(StrEnum):
    TEXT = "text"
    TEXT_LIST = "text_list"
    BOOLEAN = "boolean"
    NUMBER = "number"
    DATE = "date"
    POOLS = "pools"
    # A tenant-defined custom field: its values may be text, numbers, booleans or dates.
    CUSTOM = "custom"


SEGMENTABLE_FIELDS: dict[str, FieldKind] = {
    "first_name": FieldKind.TEXT,
    "last_name": FieldKind.TEXT,
    "emails": FieldKind.TEXT_LIST,
    "headline": FieldKind.TEXT,
    "current_title": FieldKind.TEXT,
    "current_company": FieldKind.TEXT,
    "location": FieldKind.TEXT,
    "time_zone": FieldKind.TEXT,
    "locale": FieldKind.TEXT,
    "seniority": FieldKind.TEXT,
    "profile_urls": FieldKind.TEXT_LIST,
    "skills": FieldKind.TEXT_LIST,
    "tags": FieldKind.TEXT_LIST,
    "source": FieldKind.TEXT,
    "owner_id": FieldKind.TEXT,
    "marketing_consent": FieldKind.BOOLEAN,
    "pools": FieldKind.POOLS,
    "engagement_score": FieldKind.NUMBER,
    "last_activity_at": FieldKind.DATE,
    "events_registered": FieldKind.TEXT_LIST,
    "events_attended": FieldKind.TEXT_LIST,
    "events_no_show": FieldKind.TEXT_LIST,
    "ats_status": FieldKind.TEXT,
    "ats_stage": FieldKind.TEXT,
    # When the ATS made the change `ats_status`/`ats_stage` show (its own time).
    "ats_changed_at": FieldKind.DATE,
    "created_at": FieldKind.DATE,
    "updated_at": FieldKind.DATE,
}

OPERATORS_BY_KIND: dict[FieldKind, tuple[Operator, ...]] = {
    FieldKind.TEXT: (
        Operator.EQUALS,
        Operator.NOT_EQUALS,
        Operator.IN,
        Operator.CONTAINS,
        Operator.EXISTS,
    ),
    FieldKind.TEXT_LIST: (
        Operator.EQUALS,
        Operator.NOT_EQUALS,
        Operator.IN,
        Operator.CONTAINS,
        Operator.EXISTS,
    ),
    FieldKind.BOOLEAN: (Operator.EQUALS, Operator.NOT_EQUALS, Operator.EXISTS),
    FieldKind.NUMBER: (
        Operator.EQUALS,
        Operator.NOT_EQUALS,
        Operator.IN,
        Operator.RANGE,
        Operator.EXISTS,
    ),
    FieldKind.DATE: (Operator.RANGE, Operator.BEFORE, Operator.AFTER, Operator.EXISTS),
    FieldKind.POOLS: (Operator.IN_POOL, Operator.EXISTS),
    FieldKind.CUSTOM: tuple(op for op in Operator if op is not Operator.IN_POOL),
}


def field_kind(field: str) -> FieldKind | None:
    """The kind of a segmentable field, or None when rules cannot address it."""
    if field.startswith(CUSTOM_FIELD_PREFIX):
        key = field.removeprefix(CUSTOM_FIELD_PREFIX)
        return FieldKind.CUSTOM if CUSTOM_FIELD_KEY.match(key) else None
    return SEGMENTABLE_FIELDS.get(field)


def _millisecond_utc(moment: datetime) -> datetime:
    # MongoDB stores dates to the millisecond: truncating here makes a fresh in-memory candidate
    # compare exactly as its stored copy does.
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    aware = aware.astimezone(UTC)
    return aware.replace(microsecond=aware.microsecond // 1000 * 1000)


def facet_value(value: Any) -> Any:
    """The normalised form a value is matched in: text trimmed, single-spaced and lower-cased,
    dates in UTC to the millisecond."""
    if isinstance(value, str):
        return " ".join(value.split()).lower()
    if isinstance(value, datetime):
        return _millisecond_utc(value)
    if isinstance(value, list | tuple):
        return [facet_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): facet_value(item) for key, item in value.items()}
    return value


def custom_facet_value(value: Any) -> Any:
    """A custom field value as matched: like `facet_value`, and a date field's `YYYY-MM-DD`
    text (how custom dates are stored) as that date, so dates compare as dates."""
    if isinstance(value, str) and DATE_ONLY.match(value.strip()):
        try:
            return parse_date(value.strip())
        except ValueError:
            return facet_value(value)
    if isinstance(value, list | tuple):
        return [custom_facet_value(item) for item in value]
    return facet_value(value)


def candidate_facets(candidate: Mapping[str, Any]) -> dict[str, Any]:
    """The normalised copy of a candidate's segmentable fields that rules are matched against.

    `candidate` is the candidate's fields with Python values (dates as datetimes), e.g. the
    model's `model_dump()`; fields it lacks read as absent.
    """
    facets = {name: facet_value(candidate.get(name)) for name in SEGMENTABLE_FIELDS}
    custom = candidate.get("custom_fields")
    facets["custom_fields"] = (
        {str(key): custom_facet_value(value) for key, value in custom.items()}
        if isinstance(custom, Mapping)
        else {}
    )
    facets["pools"] = [
        {"pool_id": facet_value(entry.get("pool_id")), "stage": facet_value(entry.get("stage"))}
        for entry in candidate.get("pools") or []
        if isinstance(entry, Mapping)
    ]
    facets[INACTIVE] = candidate.get("status", "active") not in (None, "active")
    return facets


def parse_date(text: str) -> datetime:
    """An absolute date (`2026-01-31`) or date-time (`2026-01-31T09:00:00+01:00`) in UTC; a date
    is midnight UTC and a date-time without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return _millisecond_utc(moment)


def parse_relative(text: str) -> timedelta:
    """An offset from the evaluation instant: `-30d` is 30 days ago, `+2w` two weeks ahead."""
    matched = RELATIVE_DATE.match(text)
    if matched is None:
        raise ValueError(f"{text!r} is not a relative date like -30d, -12h, -2w, +15m")
    sign, amount, unit = matched.groups()
    offset = timedelta(**{RELATIVE_UNITS[unit]: int(amount)})
    return -offset if sign == "-" else offset


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_date_text(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_date(value)
    except ValueError:
        return False
    return True


def _scalar(value: Any) -> bool:
    return isinstance(value, str | bool) or _is_number(value)


class Condition(BaseModel):
    """One comparison of a candidate field with a value (or, for before/after, a date)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(
        description=f"One of: {', '.join(SEGMENTABLE_FIELDS)}, or custom_fields.<key>."
    )
    op: Operator
    value: Any = None
    relative: str | None = Field(
        default=None, description="For before/after: an offset from now such as `-30d`."
    )

    @model_validator(mode="after")
    def _check(self) -> Condition:
        kind = field_kind(self.field)
        if kind is None:
            raise ValueError(f"unknown field {self.field!r}")
        if self.op not in OPERATORS_BY_KIND[kind]:
            allowed = ", ".join(op.value for op in OPERATORS_BY_KIND[kind])
            raise ValueError(f"{self.field} takes the operators {allowed}")
        if self.relative is not None and self.op not in (Operator.BEFORE, Operator.AFTER):
            raise ValueError("relative dates are for before/after")
        _check_value(self, kind)
        return self


def _check_value(condition: Condition, kind: FieldKind) -> None:
    op, value = condition.op, condition.value
    if op is Operator.EXISTS:
        if not isinstance(value, bool):
            raise ValueError("exists takes true or false")
    elif op is Operator.IN_POOL:
        _check_pool(value)
    elif op in (Operator.BEFORE, Operator.AFTER):
        if (value is None) == (condition.relative is None):
            raise ValueError(f"{op.value} takes either a date value or a relative offset")
        if condition.relative is not None:
            parse_relative(condition.relative)
        elif not _is_date_text(value):
            raise ValueError(f"{op.value} takes an ISO date such as 2026-01-31")
    elif op is Operator.RANGE:
        _check_range(value, kind)
    elif op is Operator.IN:
        if not isinstance(value, list) or not value or len(value) > MAX_IN_VALUES:
            raise ValueError(f"in takes a non-empty list of at most {MAX_IN_VALUES} values")
        for item in value:
            _check_comparable(item, kind)
    elif op is Operator.CONTAINS:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("contains takes a non-empty text value")
    else:
        _check_comparable(value, kind)


def _check_comparable(value: Any, kind: FieldKind) -> None:
    if kind is FieldKind.BOOLEAN and not isinstance(value, bool):
        raise ValueError("this field is true or false: compare it with a bool")
    if kind is FieldKind.NUMBER and not _is_number(value):
        raise ValueError("this field is a number: compare it with a number")
    if kind in (FieldKind.TEXT, FieldKind.TEXT_LIST) and (
        not isinstance(value, str) or not value.strip()
    ):
        raise ValueError("this field is text: compare it with a non-empty text value")
    if kind is FieldKind.CUSTOM and not _scalar(value):
        raise ValueError("a custom field is compared with text, a number or a bool")


def _check_pool(value: Any) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("pool_id"), str):
        raise ValueError('in_pool takes {"pool_id": ..., "stage": ...} (stage optional)')
    unknown = set(value) - {"pool_id", "stage"}
    if unknown:
        raise ValueError(f"in_pool does not know {sorted(unknown)[0]!r}")
    if not value["pool_id"].strip():
        raise ValueError("in_pool needs a pool_id")
    stage = value.get("stage")
    if stage is not None and (not isinstance(stage, str) or not stage.strip()):
        raise ValueError("the stage of in_pool is a non-empty text")


def _check_range(value: Any, kind: FieldKind) -> None:
    if not isinstance(value, dict) or not value or set(value) - set(RANGE_BOUNDS):
        raise ValueError("range takes an object with some of gt, gte, lt, lte")
    if ("gt" in value and "gte" in value) or ("lt" in value and "lte" in value):
        raise ValueError("range takes at most one lower (gt/gte) and one upper (lt/lte) bound")
    bounds = list(value.values())
    numbers = all(_is_number(bound) for bound in bounds)
    dates = all(_is_date_text(bound) for bound in bounds)
    if kind is FieldKind.NUMBER and not numbers:
        raise ValueError("the bounds of a number range are numbers")
    if kind is FieldKind.DATE and not dates:
        raise ValueError("the bounds of a date range are ISO dates such as 2026-01-31")
    if kind is FieldKind.CUSTOM and not (numbers or dates):
        raise ValueError("the bounds of a range are all numbers or all ISO dates")


class SegmentReference(BaseModel):
    """Holds for the members of another segment of the same tenant (its stored membership)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    segment: str = Field(min_length=1, description="The id of a segment of the same tenant.")


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


Node = Annotated[Group | SegmentReference | Condition, Field(union_mode="left_to_right")]
Group.model_rebuild()


def utc_instant(now: datetime | None) -> datetime:
    """The evaluation instant relative dates are resolved against (now when not given)."""
    return _millisecond_utc(now or datetime.now(UTC))


def _bound_dates(condition: Condition, now: datetime) -> datetime:
    if condition.relative is not None:
        return _millisecond_utc(now + parse_relative(condition.relative))
    return parse_date(str(condition.value))


def _range_bounds(condition: Condition) -> dict[str, Any]:
    bounds: dict[str, Any] = condition.value
    if all(_is_number(bound) for bound in bounds.values()):
        return dict(bounds)
    return {name: parse_date(bound) for name, bound in bounds.items()}


def _comparisons(condition: Condition, now: datetime) -> dict[str, Any]:
    """A range, before or after condition as MongoDB comparison operators (`$gt`, ...)."""
    if condition.op is Operator.RANGE:
        return {f"${name}": bound for name, bound in _range_bounds(condition).items()}
    instant = _bound_dates(condition, now)
    return {"$lt": instant} if condition.op is Operator.BEFORE else {"$gt": instant}


def _facet_path(field: str) -> str:
    return f"{FACETS}.{field}"


def _condition_value(condition: Condition) -> Any:
    """The condition's value normalised as the field's facets are."""
    if condition.field.startswith(CUSTOM_FIELD_PREFIX) and condition.op in (
        Operator.EQUALS,
        Operator.NOT_EQUALS,
        Operator.IN,
    ):
        return custom_facet_value(condition.value)
    return facet_value(condition.value)


def compile_rule(node: Group | SegmentReference | Condition, *, now: datetime | None = None) -> Any:
    """The MongoDB query selecting exactly the candidates the rule matches at `now`."""
    instant = utc_instant(now)
    if isinstance(node, Group):
        parts = [compile_rule(member, now=instant) for member in node.members]
        return {{"all": "$and", "any": "$or", "none": "$nor"}[node.kind]: parts}
    if isinstance(node, SegmentReference):
        return {SEGMENT_IDS: node.segment}
    path = _facet_path(node.field)
    value = _condition_value(node)
    if node.op is Operator.EQUALS:
        return {path: value}
    if node.op is Operator.NOT_EQUALS:
        return {path: {"$ne": value}}
    if node.op is Operator.IN:
        return {path: {"$in": value}}
    if node.op is Operator.CONTAINS:
        return {path: {"$regex": re.escape(value)}}
    if node.op is Operator.IN_POOL:
        element = {"pool_id": value["pool_id"]}
        if value.get("stage") is not None:
            element["stage"] = value["stage"]
        return {path: {"$elemMatch": element}}
    if node.op in (Operator.RANGE, Operator.BEFORE, Operator.AFTER):
        return {path: _comparisons(node, instant)}
    present = {path: {"$exists": True, "$nin": [None, "", []]}}
    return present if node.value else {"$nor": [present]}


def compile_segment_query(rule: Group, *, now: datetime | None = None) -> dict[str, Any]:
    """The query of a segment's members: the rule, over active candidates only."""
    return {"$and": [{_facet_path(INACTIVE): {"$ne": True}}, compile_rule(rule, now=now)]}


def _same_type(left: Any, right: Any) -> bool:
    # MongoDB compares values of one type only: a bool is never a number, text never a date.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool)
    if _is_number(left) or _is_number(right):
        return _is_number(left) and _is_number(right)
    return type(left) is type(right)


def _equal(left: Any, right: Any) -> bool:
    return _same_type(left, right) and bool(left == right)


def _compares(name: str, actual: Any, bound: Any) -> bool:
    if not _same_type(actual, bound):
        return False
    if name == "$gt":
        return bool(actual > bound)
    if name == "$gte":
        return bool(actual >= bound)
    if name == "$lt":
        return bool(actual < bound)
    return bool(actual <= bound)


def _holds(op: Operator, value: Any, actual: Any) -> bool:
    if op is Operator.EQUALS:
        return _equal(actual, value)
    if op is Operator.IN:
        return any(_equal(actual, candidate) for candidate in value)
    if op is Operator.CONTAINS:
        return isinstance(actual, str) and value in actual
    raise AssertionError(op)


def _elements(actual: Any) -> list[Any]:
    return actual if isinstance(actual, list) else [actual]


def _field_value(facets: Mapping[str, Any], field: str) -> Any:
    if field.startswith(CUSTOM_FIELD_PREFIX):
        custom = facets.get("custom_fields") or {}
        return custom.get(field.removeprefix(CUSTOM_FIELD_PREFIX))
    return facets.get(field)


def rule_matches(
    node: Group | SegmentReference | Condition,
    facets: Mapping[str, Any],
    *,
    segment_ids: Collection[str] = (),
    now: datetime | None = None,
) -> bool:
    """Whether a candidate with these facets (and these segment memberships) matches the rule
    at `now`: the same result as the compiled query."""
    instant = utc_instant(now)
    if isinstance(node, Group):
        results = (
            rule_matches(member, facets, segment_ids=segment_ids, now=instant)
            for member in node.members
        )
        if node.kind == "all":
            return all(results)
        if node.kind == "any":
            return any(results)
        return not any(results)
    if isinstance(node, SegmentReference):
        return node.segment in segment_ids
    actual = _field_value(facets, node.field)
    value = _condition_value(node)
    if node.op is Operator.EXISTS:
        present = actual not in (None, "", [])
        return present is value
    if node.op is Operator.NOT_EQUALS:
        return not any(_equal(element, value) for element in _elements(actual))
    if node.op is Operator.IN_POOL:
        return isinstance(actual, list) and any(
            element.get("pool_id") == value["pool_id"]
            and (value.get("stage") is None or element.get("stage") == value["stage"])
            for element in actual
            if isinstance(element, Mapping)
        )
    if node.op in (Operator.RANGE, Operator.BEFORE, Operator.AFTER):
        # Like MongoDB on an array, each bound may be met by a different element.
        return all(
            any(_compares(name, element, bound) for element in _elements(actual))
            for name, bound in _comparisons(node, instant).items()
        )
    # Like MongoDB, a condition on an array holds when any element satisfies it.
    return any(_holds(node.op, value, element) for element in _elements(actual))


def segment_matches(
    rule: Group,
    facets: Mapping[str, Any],
    *,
    segment_ids: Collection[str] = (),
    now: datetime | None = None,
) -> bool:
    """Whether a candidate belongs to a segment with this rule: active and matching it."""
    return not facets.get(INACTIVE) and rule_matches(rule, facets, segment_ids=segment_ids, now=now)


def conditions(node: Group | SegmentReference | Condition) -> Iterator[Condition]:
    """Every field condition of a rule tree."""
    if isinstance(node, Group):
        for member in node.members:
            yield from conditions(member)
    elif isinstance(node, Condition):
        yield node


def referenced_segments(node: Group | SegmentReference | Condition) -> set[str]:
    """The ids of the segments a rule refers to."""
    if isinstance(node, Group):
        return set().union(*(referenced_segments(member) for member in node.members))
    return {node.segment} if isinstance(node, SegmentReference) else set()


def names_pool_stage(rule: Group, pool_id: str, stage: str) -> bool:
    """Whether the rule has an `in_pool` condition on this stage of the pool."""
    return any(
        condition.op is Operator.IN_POOL
        and isinstance(condition.value, dict)
        and condition.value.get("pool_id") == pool_id
        and str(condition.value.get("stage") or "").casefold() == stage.casefold()
        for condition in conditions(rule)
    )


def rule_with_pool_stage_renamed(
    rule: dict[str, Any], pool_id: str, stage: str, new_name: str
) -> dict[str, Any]:
    """A stored rule with each `in_pool` condition on `stage` of the pool naming `new_name`."""

    def renamed(node: Any) -> Any:
        if isinstance(node, dict):
            value = node.get("value")
            if (
                node.get("op") == Operator.IN_POOL.value
                and isinstance(value, dict)
                and value.get("pool_id") == pool_id
                and str(value.get("stage") or "").casefold() == stage.casefold()
            ):
                return {**node, "value": {**value, "stage": new_name}}
            return {key: renamed(item) for key, item in node.items()}
        if isinstance(node, list):
            return [renamed(item) for item in node]
        return node

    result: dict[str, Any] = renamed(rule)
    return result


# The operators whose skill values name whole skills (`contains` matches part of a spelling,
# so its text is left as written).
SKILL_SPELLED_OPERATORS = (Operator.EQUALS.value, Operator.NOT_EQUALS.value, Operator.IN.value)


def rule_with_skills_respelled(rule: Any, respell: Callable[[str], str]) -> Any:
    """A raw (valid) rule with each whole-skill value of a `skills` condition as `respell`
    spells it (the tenant's vocabulary: `JS` -> `javascript`), so the rule compares the
    spelling candidates' skills are stored in."""

    def respelled(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("field") == "skills" and node.get("op") in SKILL_SPELLED_OPERATORS:
                value = node.get("value")
                if isinstance(value, str):
                    return {**node, "value": respell(value)}
                if isinstance(value, list):
                    spelled = [respell(item) if isinstance(item, str) else item for item in value]
                    return {**node, "value": list(dict.fromkeys(spelled))}
                return node
            return {key: respelled(item) for key, item in node.items()}
        if isinstance(node, list):
            return [respelled(item) for item in node]
        return node

    return respelled(rule)


def unknown_custom_fields(
    raw: Any, known: Collection[str], path: str = "rule"
) -> Iterator[tuple[str, str]]:
    """(path of the field, key) of each condition of a raw (valid) rule on a custom field the
    tenant has not defined (or deleted): a misspelt key would match nobody, silently."""
    if not isinstance(raw, dict):
        return
    field = raw.get("field")
    if isinstance(field, str):
        key = field.removeprefix(CUSTOM_FIELD_PREFIX)
        if field.startswith(CUSTOM_FIELD_PREFIX) and key not in known:
            yield f"{path}.field", key
        return
    for kind in ("all", "any", "none"):
        for index, member in enumerate(raw.get(kind) or []):
            yield from unknown_custom_fields(member, known, f"{path}.{kind}.{index}")


def unknown_pool_stages(
    raw: Any, pools: Mapping[str, Pool], path: str = "rule"
) -> list[tuple[str, str]]:
    """(path of the value, message) of each `in_pool` condition of a raw (valid) rule on a
    pool the tenant does not have, or on a stage its pool lacks (a stage is named as the pool
    names it, in any case): a mistyped one would match nobody, silently."""
    if not isinstance(raw, dict):
        return []
    if raw.get("op") == Operator.IN_POOL.value and isinstance(raw.get("value"), dict):
        pool_id = str(raw["value"].get("pool_id"))
        stage = raw["value"].get("stage")
        pool = pools.get(pool_id)
        if pool is None:
            return [(f"{path}.value", f"no talent pool {pool_id} in this tenant")]
        if stage is not None and str(stage).casefold() not in {s.casefold() for s in pool.stages}:
            stages = ", ".join(pool.stages)
            return [(f"{path}.value", f"{pool.name} has no stage {stage!r} (its stages: {stages})")]
        return []
    return [
        problem
        for kind in ("all", "any", "none")
        for index, member in enumerate(raw.get(kind) or [])
        for problem in unknown_pool_stages(member, pools, f"{path}.{kind}.{index}")
    ]


def referenced_fields(rule: Group) -> set[str]:
    """The candidate fields a rule's conditions compare, e.g. `custom_fields.notice_period`."""
    return {condition.field for condition in conditions(rule)}


def is_time_dependent(rule: Group) -> bool:
    """Whether membership can change with time alone (the rule has relative dates)."""
    return any(condition.relative is not None for condition in conditions(rule))


def time_dependent_segments(rules: Mapping[str, Group]) -> set[str]:
    """The segments (of `rules`, by id) whose membership can change with time alone: their
    rule has a relative date, or refers, at any depth, to a segment whose rule has one."""
    found = {segment_id for segment_id, rule in rules.items() if is_time_dependent(rule)}
    references = {segment_id: referenced_segments(rule) for segment_id, rule in rules.items()}
    grew = True
    while grew:
        grew = False
        for segment_id, referred in references.items():
            if segment_id not in found and referred & found:
                found.add(segment_id)
                grew = True
    return found


def next_change_at(rule: Group, facets: Mapping[str, Any], *, now: datetime) -> datetime | None:
    """The first instant after `now` at which a relative date condition of the rule could change
    its truth for this candidate, or None if none can: when to evaluate the candidate again.

    `field after -30d` holds while `value > now - 30d`, i.e. until `value + 30d`; every relative
    condition flips at `value - offset` (for each date value of the field).
    """
    instant = utc_instant(now)
    upcoming: list[datetime] = []
    for condition in conditions(rule):
        if condition.relative is None:
            continue
        offset = parse_relative(condition.relative)
        for element in _elements(_field_value(facets, condition.field)):
            if isinstance(element, datetime):
                flip = element - offset
                if flip > instant:
                    upcoming.append(flip)
    return min(upcoming, default=None)


def membership_changes(
    ordered: Sequence[tuple[str, Group]],
    facets: Mapping[str, Any],
    members: set[str],
    *,
    now: datetime,
    only: Collection[str] | None = None,
) -> tuple[list[tuple[str, bool]], datetime | None]:
    """What one candidate's memberships do now: (segment id, entered) for each segment it
    enters or leaves, in `ordered`'s order, and when a relative date could next change one.

    `ordered` lists the tenant's segments (id, rule) after the segments they refer to, so each
    rule sees the memberships as changed so far; `members` (the candidate's segment ids) is
    brought up to date here. Only the segments in `only` change, when given; every
    time-dependent rule counts towards the next change.
    """
    changes: list[tuple[str, bool]] = []
    upcoming: list[datetime] = []
    for segment_id, rule in ordered:
        if is_time_dependent(rule):
            flip = next_change_at(rule, facets, now=now)
            if flip is not None:
                upcoming.append(flip)
        if only is not None and segment_id not in only:
            continue
        matches = segment_matches(rule, facets, segment_ids=members, now=now)
        if matches and segment_id not in members:
            members.add(segment_id)
            changes.append((segment_id, True))
        elif not matches and segment_id in members:
            members.discard(segment_id)
            changes.append((segment_id, False))
    return changes, min(upcoming, default=None)


class RuleError(ValueError):
    """A rule is not valid; `errors` names the path of each bad part, e.g. `rule.all.1.field`."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))
        self.errors = errors


def parse_rule(raw: Any, path: str = "rule") -> Group:
    """Validates a rule tree, reporting every bad part by its path; the root must be a group."""
    errors: list[tuple[str, str]] = []
    if not isinstance(raw, dict) or "field" in raw or "segment" in raw:
        errors.append((path, "the rule must be a group: an object with all, any or none"))
    else:
        _check_node(raw, path, 1, errors)
    if errors:
        raise RuleError(errors)
    return Group.model_validate(raw)


def _validation_errors(
    model: type[BaseModel], raw: Any, path: str, errors: list[tuple[str, str]]
) -> None:
    try:
        model.model_validate(raw)
    except ValidationError as invalid:
        for error in invalid.errors():
            location = ".".join(str(part) for part in error["loc"])
            message = validation_detail(error).removeprefix("Value error, ")
            errors.append((f"{path}.{location}" if location else path, message))


def _check_node(raw: Any, path: str, depth: int, errors: list[tuple[str, str]]) -> None:
    if not isinstance(raw, dict):
        errors.append((path, "expected a condition or a group object"))
        return
    if "field" in raw:
        _validation_errors(Condition, raw, path, errors)
        return
    if "segment" in raw:
        _validation_errors(SegmentReference, raw, path, errors)
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


def reference_paths(raw: Any, path: str = "rule") -> Iterator[tuple[str, str]]:
    """(path, segment id) of every segment reference in a raw (already valid) rule."""
    if not isinstance(raw, dict):
        return
    if "segment" in raw:
        yield path, str(raw["segment"])
        return
    for kind in ("all", "any", "none"):
        for index, member in enumerate(raw.get(kind) or []):
            yield from reference_paths(member, f"{path}.{kind}.{index}")


@dataclass(frozen=True)
class ReferenceGraph:
    """Which segment refers to which, within one tenant."""

    references: dict[str, set[str]]

    def cycle_through(self, start: str) -> list[str] | None:
        """A chain of references leading from `start` back to it, if there is one."""
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        seen: set[str] = set()
        while stack:
            current, chain = stack.pop()
            for referenced in self.references.get(current, set()):
                if referenced == start:
                    return [*chain, start]
                if referenced not in seen:
                    seen.add(referenced)
                    stack.append((referenced, [*chain, referenced]))
        return None

    def evaluation_order(self) -> list[str]:
        """Segment ids with every segment after the ones it refers to (the graph is acyclic)."""
        ordered: list[str] = []
        placed: set[str] = set()

        def place(segment_id: str, visiting: frozenset[str]) -> None:
            if segment_id in placed or segment_id in visiting:
                return
            for referenced in sorted(self.references.get(segment_id, set())):
                place(referenced, visiting | {segment_id})
            placed.add(segment_id)
            ordered.append(segment_id)

        for segment_id in sorted(self.references):
            place(segment_id, frozenset())
        return ordered

    def dependents_of(self, segment_id: str) -> set[str]:
        """Every segment that refers to `segment_id`, directly or through others."""
        found: set[str] = set()
        frontier = [segment_id]
        while frontier:
            current = frontier.pop()
            for candidate, referenced in self.references.items():
                if current in referenced and candidate not in found:
                    found.add(candidate)
                    frontier.append(candidate)
        return found


def reference_problems(
    raw: dict[str, Any],
    rule: Group,
    segment_id: str,
    existing: dict[str, dict[str, Any]],
    names: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """(path, message) of what is wrong with the segment references of `segment_id`'s rule,
    given the tenant's `existing` segment rules by id: references to segments the tenant does
    not have, else a chain of references leading (through others) back to the segment, each
    named as people know it (`names`, by id) with its id."""
    references = list(reference_paths(raw))
    unknown = [
        (f"{path}.segment", f"no segment {referenced} in this tenant")
        for path, referenced in references
        if referenced not in existing and referenced != segment_id
    ]
    if unknown:
        return unknown
    graph = ReferenceGraph(
        {sid: referenced_segments(Group.model_validate(stored)) for sid, stored in existing.items()}
        | {segment_id: referenced_segments(rule)}
    )
    cycle = graph.cycle_through(segment_id)
    if cycle is None:
        return []
    named = names or {}

    def shown(link: str) -> str:
        if link == segment_id:
            return "this segment"
        return f"“{named[link]}” ({link})" if link in named else link

    chain = " -> ".join(shown(link) for link in cycle)
    return [
        (f"{path}.segment", f"segment references form a cycle: {chain}")
        for path, referenced in references
        if referenced == cycle[1]
    ]

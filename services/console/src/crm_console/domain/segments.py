"""The segment rule builder's model: the rule language of the candidates service (groups of
all/any/none nested up to five deep, conditions on every field with every operator it takes,
relative dates, pool and segment references) as the form edits it, turned into the API's rule
and back, with the API's errors placed at the part of the rule they name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_console.domain.questions import Question

MAX_DEPTH = 5
ROOT = "r"
GROUP_KINDS = {"all": "All of these", "any": "Any of these", "none": "None of these"}
# Every field a rule may name, in menu order, with its kind (the candidates service's
# SEGMENTABLE_FIELDS; a unit test keeps the two in step).
FIELDS: dict[str, tuple[str, str]] = {
    "tags": ("Tags", "text_list"),
    "skills": ("Skills", "text_list"),
    "pools": ("Talent pool", "pools"),
    "engagement_score": ("Engagement score", "number"),
    "last_activity_at": ("Last activity", "date"),
    "marketing_consent": ("Marketing consent", "boolean"),
    "source": ("Source", "text"),
    "location": ("Location", "text"),
    "current_title": ("Current title", "text"),
    "current_company": ("Current company", "text"),
    "headline": ("Headline", "text"),
    "seniority": ("Seniority", "text"),
    "first_name": ("First name", "text"),
    "last_name": ("Last name", "text"),
    "emails": ("E-mail addresses", "text_list"),
    "profile_urls": ("Profile links", "text_list"),
    "time_zone": ("Time zone", "text"),
    "locale": ("Language", "text"),
    "owner_id": ("Owner", "text"),
    "events_registered": ("Registered for event", "text_list"),
    "events_attended": ("Attended event", "text_list"),
    "events_no_show": ("Did not come to event", "text_list"),
    "ats_status": ("ATS status", "text"),
    "ats_stage": ("ATS stage", "text"),
    "ats_changed_at": ("ATS status since", "date"),
    "created_at": ("Created", "date"),
    "updated_at": ("Last changed", "date"),
}
# Fields whose values are ids the builder offers by name (`id_choices`).
EVENT_FIELDS = ("events_registered", "events_attended", "events_no_show")


def id_choices(
    events: list[dict[str, Any]], team: list[dict[str, Any]]
) -> dict[str, list[tuple[str, str]]]:
    """For each id-valued field, its (id, what a person reads) choices: events by name and
    date, soonest first as the API lists them; members by name (an invitation without a name
    yet is left out)."""
    event_choices = [
        (str(e["id"]), f"{e.get('name') or e['id']} ({str(e.get('starts_at') or '')[:10]})")
        for e in events
        if e.get("id")
    ]
    members = [
        (str(m["user_id"]), str(m["name"])) for m in team if m.get("user_id") and m.get("name")
    ]
    return {name: event_choices for name in EVENT_FIELDS} | {"owner_id": members}


OPERATORS_BY_KIND: dict[str, tuple[str, ...]] = {
    "text": ("equals", "not_equals", "in", "contains", "exists"),
    "text_list": ("equals", "not_equals", "in", "contains", "exists"),
    "boolean": ("equals", "not_equals", "exists"),
    "number": ("equals", "not_equals", "in", "range", "exists"),
    "date": ("after", "before", "range", "exists"),
    "pools": ("in_pool", "exists"),
    # A custom field of a known type (the custom-field definitions say it): a choice list's
    # value is one of its choices (a list of them for several), compared whole; a date
    # compares as a date, by the day.
    "choice": ("equals", "not_equals", "in", "exists"),
    "choice_list": ("equals", "not_equals", "in", "exists"),
    "custom_date": ("equals", "not_equals", "in", "range", "before", "after", "exists"),
    # A custom field whose type the person cannot read: everything the language allows.
    "custom": (
        "equals",
        "not_equals",
        "in",
        "contains",
        "exists",
        "range",
        "before",
        "after",
    ),
}
OPERATOR_LABELS = {
    "equals": "is",
    "not_equals": "is not",
    "in": "is one of",
    "contains": "contains",
    "exists": "is set or not",
    "range": "is between",
    "before": "is before",
    "after": "is after",
    "in_pool": "is in pool",
}
# A list holds when any of its elements does: said so for a "several of a list" field.
CHOICE_LIST_LABELS = {
    "equals": "includes",
    "not_equals": "does not include",
    "in": "includes one of",
}
# How a custom field's declared type (`GET /custom-fields`) is compared, as a builder kind.
CUSTOM_KINDS = {
    "string": "text",
    "number": "number",
    "boolean": "boolean",
    "date": "custom_date",
    "enum": "choice",
    "multi_enum": "choice_list",
}
CHOICE_KINDS = ("choice", "choice_list")
RELATIVE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE = re.compile(r"^([+-])(\d{1,5})([mhdw])$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
CUSTOM_PREFIX = "custom_fields."


@dataclass(frozen=True)
class FieldCatalogue:
    """The fields a rule may name for one tenant: the profile's, then its custom fields."""

    # field -> (label, kind); a custom field's declared type decides its kind (the operators
    # offered) and how its value is read.
    fields: dict[str, tuple[str, str]]
    custom_types: dict[str, str] = field(default_factory=dict)
    # A choice-list custom field's choices, in the definition's order and spelling.
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, custom_fields: list[dict[str, Any]]) -> FieldCatalogue:
        fields = dict(FIELDS)
        types: dict[str, str] = {}
        choices: dict[str, tuple[str, ...]] = {}
        for item in custom_fields:
            key = item.get("key")
            if key:
                name = f"{CUSTOM_PREFIX}{key}"
                declared = str(item.get("type", "string"))
                kind = CUSTOM_KINDS.get(declared, "custom")
                fields[name] = (f"{item.get('label') or key} (custom)", kind)
                types[name] = declared
                if kind in CHOICE_KINDS:
                    choices[name] = tuple(str(v) for v in item.get("allowed_values") or [])
        return cls(fields, types, choices)

    def kind(self, name: str) -> str:
        if name in self.fields:
            return self.fields[name][1]
        return "custom" if name.startswith(CUSTOM_PREFIX) else "text"

    def operators(self, name: str) -> tuple[str, ...]:
        return OPERATORS_BY_KIND[self.kind(name)]

    def operator_label(self, name: str, op: str) -> str:
        """What the operator menu says for `op` on the field `name`."""
        if self.kind(name) == "choice_list":
            return CHOICE_LIST_LABELS.get(op, OPERATOR_LABELS[op])
        return OPERATOR_LABELS[op]

    def value_type(self, name: str, typed: str = "") -> str:
        """How a condition's typed value is sent: text, number, boolean or date."""
        kind = self.kind(name)
        if kind == "custom":
            declared = self.custom_types.get(name) or typed or "string"
            return declared if declared in ("number", "boolean", "date") else "text"
        return {
            "number": "number",
            "boolean": "boolean",
            "date": "date",
            "custom_date": "date",
        }.get(kind, "text")


@dataclass
class Condition:
    """A condition as the form holds it: every value as typed."""

    field: str = "tags"
    op: str = "equals"
    value: str = ""
    # range: a lower bound (gt/gte) and an upper one (lt/lte), either may be empty
    lower_op: str = "gte"
    lower: str = ""
    upper_op: str = "lte"
    upper: str = ""
    # before/after: a date, or an offset from now (direction, amount, unit)
    when: str = "relative"
    direction: str = "-"
    amount: str = "30"
    unit: str = "d"
    # in_pool
    pool_id: str = ""
    stage: str = ""
    # A custom field's value type as the stored rule had it (number, boolean), for a custom
    # field whose declared type the person cannot read.
    typed: str = ""


@dataclass
class Reference:
    """Membership of another segment."""

    segment: str = ""


@dataclass
class Group:
    kind: str = "all"
    members: list[Group | Condition | Reference] = field(default_factory=list)


Node = Group | Condition | Reference
_CONDITION_ATTRS = tuple(Condition.__dataclass_fields__)


def _sort_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in path.split(".")[1:])


def draft_from_form(form: Mapping[str, str]) -> Group:
    """The rule as the builder's form sent it: `<path>.type` names each node (`r` the root,
    `r.0.2` the third member of the root's first), its other fields `<path>.<name>`."""
    paths = sorted(
        (key.removesuffix(".type") for key in form if key.endswith(".type")),
        key=_sort_key,
    )
    nodes: dict[str, Node] = {}
    for path in paths:
        kind = form[f"{path}.type"]
        node: Node
        if kind == "group":
            group_kind = form.get(f"{path}.kind", "all")
            node = Group(kind=group_kind if group_kind in GROUP_KINDS else "all")
        elif kind == "segment":
            node = Reference(segment=form.get(f"{path}.segment", ""))
        else:
            node = Condition(
                **{
                    name: form[f"{path}.{name}"]
                    for name in _CONDITION_ATTRS
                    if f"{path}.{name}" in form
                }
            )
        nodes[path] = node
        parent = nodes.get(path.rsplit(".", 1)[0]) if "." in path else None
        if isinstance(parent, Group):
            parent.members.append(node)
    root = nodes.get(ROOT)
    return root if isinstance(root, Group) else Group(members=[Condition()])


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        # One a line: an item may hold a comma ("Berlin, Germany"), never a line break; a
        # field typed as text shows them comma-separated.
        return "\n".join(_text(item) for item in value)
    return "" if value is None else str(value)


def _condition_from_rule(raw: Mapping[str, Any]) -> Condition:
    condition = Condition(field=str(raw.get("field", "")), op=str(raw.get("op", "equals")))
    value = raw.get("value")
    sample = value[0] if isinstance(value, list) and value else value
    if isinstance(sample, bool):
        condition.typed = "boolean"
    elif isinstance(sample, int | float):
        condition.typed = "number"
    if condition.op == "range" and isinstance(value, Mapping):
        for name, bound in value.items():
            if name in ("gt", "gte"):
                condition.lower_op, condition.lower = name, _text(bound)
            elif name in ("lt", "lte"):
                condition.upper_op, condition.upper = name, _text(bound)
    elif condition.op in ("before", "after"):
        matched = _RELATIVE.match(str(raw.get("relative") or ""))
        if matched:
            condition.when = "relative"
            condition.direction, condition.amount, condition.unit = matched.groups()
        else:
            condition.when, condition.value = "date", _text(value)[:10]
    elif condition.op == "in_pool" and isinstance(value, Mapping):
        condition.pool_id = str(value.get("pool_id", ""))
        condition.stage = str(value.get("stage") or "")
    else:
        condition.value = _text(value)
    return condition


def draft_from_rule(raw: Mapping[str, Any]) -> Group:
    """The builder's form of a stored rule (the API's own shape)."""

    def node(part: Mapping[str, Any]) -> Node:
        if "segment" in part:
            return Reference(segment=str(part["segment"]))
        if "field" in part:
            return _condition_from_rule(part)
        kind = next((k for k in GROUP_KINDS if k in part), "all")
        return Group(kind=kind, members=[node(member) for member in part.get(kind) or []])

    root = node(raw)
    return root if isinstance(root, Group) else Group(members=[root])


def _number(text: str) -> int | float:
    cleaned = text.strip().replace(",", ".") if text.count(",") == 1 else text.strip()
    if not _NUMBER.match(cleaned):
        raise ValueError(f"“{text}” is not a number")
    number = float(cleaned)
    return int(number) if number.is_integer() and "." not in cleaned else number


def _typed(text: str, value_type: str) -> Any:
    if value_type == "number":
        return _number(text)
    if value_type == "boolean":
        return text.strip().lower() == "true"
    return text.strip()


def _items(text: str, *, by_line: bool = False) -> list[str]:
    """The items of an `in` value: one a line (a choice list's, or a stored rule's), else as
    typed, separated by commas."""
    parts = text.splitlines() if by_line or "\n" in text else text.split(",")
    return [part.strip() for part in parts if part.strip()]


def _condition_rule(condition: Condition, catalogue: FieldCatalogue) -> dict[str, Any]:
    rule: dict[str, Any] = {"field": condition.field, "op": condition.op}
    value_type = catalogue.value_type(condition.field, condition.typed)
    op = condition.op
    if op == "exists":
        rule["value"] = condition.value != "false"
    elif op == "in_pool":
        rule["value"] = {"pool_id": condition.pool_id}
        if condition.stage:
            rule["value"]["stage"] = condition.stage
    elif op in ("before", "after"):
        if condition.when == "date":
            rule["value"] = condition.value.strip()
        else:
            unit = condition.unit if condition.unit in RELATIVE_UNITS else "d"
            if not _RELATIVE.match(f"+{condition.amount.strip()}{unit}"):
                # A sign typed into the amount: the direction has its own choice beside it.
                raise ValueError(
                    f"Enter how many {RELATIVE_UNITS[unit]} as a whole number from 0 to 99999 "
                    f"(not “{condition.amount}”); choose ago or from now under Direction"
                )
            direction = "+" if condition.direction == "+" else "-"
            rule["relative"] = f"{direction}{int(condition.amount)}{unit}"
    elif op == "range":
        bound_type = "number" if value_type == "number" else "text"
        bounds: dict[str, Any] = {}
        if condition.lower.strip():
            lower_op = condition.lower_op if condition.lower_op in ("gt", "gte") else "gte"
            bounds[lower_op] = _typed(condition.lower, bound_type)
        if condition.upper.strip():
            upper_op = condition.upper_op if condition.upper_op in ("lt", "lte") else "lte"
            bounds[upper_op] = _typed(condition.upper, bound_type)
        rule["value"] = bounds
    elif op == "in":
        by_line = catalogue.kind(condition.field) in CHOICE_KINDS
        rule["value"] = [
            _typed(item, value_type) for item in _items(condition.value, by_line=by_line)
        ]
    else:
        rule["value"] = _typed(condition.value, value_type)
    return rule


def rule_of(draft: Group, catalogue: FieldCatalogue) -> tuple[dict[str, Any], dict[str, str]]:
    """The API's rule for the draft, and what the console can tell is wrong before asking
    (a number that is none), by node path."""
    errors: dict[str, str] = {}

    def build(node: Node, path: str) -> dict[str, Any]:
        if isinstance(node, Group):
            return {
                node.kind: [build(member, f"{path}.{i}") for i, member in enumerate(node.members)]
            }
        if isinstance(node, Reference):
            return {"segment": node.segment}
        try:
            return _condition_rule(node, catalogue)
        except ValueError as wrong:
            errors[path] = str(wrong)
            return {"field": node.field, "op": node.op}

    return build(draft, ROOT), errors


def incomplete(draft: Group) -> dict[str, str]:
    """The parts of the draft still waiting for a choice or a value, by node path, with what
    to give: while editing, a part just added is not wrong yet (the preview waits for it
    quietly); on saving, each is said at its part."""
    missing: dict[str, str] = {}

    def walk(node: Node, path: str) -> None:
        if isinstance(node, Group):
            for index, member in enumerate(node.members):
                walk(member, f"{path}.{index}")
        elif isinstance(node, Reference):
            if not node.segment.strip():
                missing[path] = "Choose the segment"
        elif node.op == "in_pool":
            if not node.pool_id.strip():
                missing[path] = "Choose the talent pool"
        elif node.op == "range":
            if not node.lower.strip() and not node.upper.strip():
                missing[path] = "Give a lower or an upper bound, or both"
        elif node.op in ("before", "after"):
            if node.when == "date" and not node.value.strip():
                missing[path] = "Give the date"
        elif node.op != "exists" and not node.value.strip():
            missing[path] = "Give the value"

    walk(draft, ROOT)
    return missing


def node_path(api_path: str) -> str | None:
    """The builder's node an API error path names: `rule.all.1.any.0.value` -> `r.1.0`."""
    tokens = api_path.split(".")
    if not tokens or tokens[0] != "rule":
        return None
    path, index = ROOT, 1
    while index + 1 < len(tokens) and tokens[index] in GROUP_KINDS and tokens[index + 1].isdigit():
        path += f".{tokens[index + 1]}"
        index += 2
    return path


def errors_by_node(paths: Mapping[str, str]) -> dict[str, str]:
    """The API's rule errors by the builder's node path (the first error of each node)."""
    found: dict[str, str] = {}
    for api_path, detail in paths.items():
        path = node_path(api_path)
        if path is not None:
            found.setdefault(path, detail)
    return found


def fit_to_fields(group: Group, catalogue: FieldCatalogue) -> Group:
    """The draft with each condition's operator one its field takes (after the field changed,
    its first), so the form never offers, nor sends, a pair the API refuses."""
    for member in group.members:
        if isinstance(member, Group):
            fit_to_fields(member, catalogue)
        elif isinstance(member, Condition):
            if member.field.startswith(CUSTOM_PREFIX) and member.field not in catalogue.fields:
                # A custom field the person may not list (no settings:read) stays as it is.
                key = member.field.removeprefix(CUSTOM_PREFIX)
                catalogue.fields[member.field] = (f"{key} (custom)", "custom")
            elif member.field not in catalogue.fields:
                member.field = next(iter(catalogue.fields))
            operators = catalogue.operators(member.field)
            if member.op not in operators:
                member.op = operators[0]
    return group


def _node_at(root: Group, path: str) -> Node | None:
    node: Node = root
    for part in path.split(".")[1:]:
        if not isinstance(node, Group) or not part.isdigit() or int(part) >= len(node.members):
            return None
        node = node.members[int(part)]
    return node


def apply_action(root: Group, action: str) -> tuple[Group, str | None]:
    """The draft after a builder button (`add-condition:r.1`, `add-group:r`,
    `add-segment:r`, `remove:r.0.2`), and the path of the node it added, to focus."""
    verb, _, path = action.partition(":")
    target = _node_at(root, path)
    if verb.startswith("add-") and isinstance(target, Group):
        depth = path.count(".") + 1
        added: Node
        if verb == "add-group" and depth < MAX_DEPTH:
            added = Group(kind="any", members=[Condition()])
        elif verb == "add-segment":
            added = Reference()
        else:
            added = Condition()
        target.members.append(added)
        return root, f"{path}.{len(target.members) - 1}"
    if verb == "remove" and "." in path:
        parent = _node_at(root, path.rsplit(".", 1)[0])
        index = int(path.rsplit(".", 1)[1])
        if isinstance(parent, Group) and index < len(parent.members):
            del parent.members[index]
            if not parent.members:
                parent.members.append(Condition())
    return root, None


def html_id(path: str) -> str:
    """A node path as an HTML id part (`r.0.2` -> `r-0-2`)."""
    return path.replace(".", "-")


def path_label(path: str) -> str:
    """A node path as people count (`r.0.2` -> `1.3`; the root is the whole rule)."""
    parts = [str(int(part) + 1) for part in path.split(".")[1:]]
    return ".".join(parts) or "rule"


def delete_question(segment: Mapping[str, Any]) -> Question:
    """What the segment's delete button asks first."""
    return Question(f"Delete the segment “{segment.get('name') or ''}”?", "Delete segment")

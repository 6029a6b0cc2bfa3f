"""The sequence builder's rules: the step kinds, triggers and exits the API supports, a
definition read from the builder's form, and the API's problems placed on their step."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_console.domain.forms import FormValues, first, whole_number, words
from crm_console.domain.problems import VALIDATION_ERROR, LocatedError, Problem
from crm_console.domain.questions import Question

STEP_KINDS: dict[str, str] = {
    "send": "Send a mail",
    "wait": "Wait",
    "wait_until": "Wait until a weekday and time",
    "branch": "Branch on a reaction",
    "add_tag": "Add tags",
    "remove_tag": "Remove tags",
    "move_stage": "Move to a pool stage",
    "notify_owner": "Notify the owner",
}
TRIGGER_KINDS: dict[str, str] = {
    "manual": "Enrolled by hand",
    "segment_entered": "Enters a segment",
    "pool_stage_reached": "Reaches a pool stage",
    "event_checked_in": "Checks in at an event",
    "event_attended": "Attended an event (once completed)",
    "event_no_show": "Did not come to an event (once completed)",
    "ats_rejected": "Rejected in the ATS",
}
# What may end an enrolment early (`removed` by a person and `sequence_archived` always do).
EXIT_REASONS: dict[str, str] = {
    "applied": "Applies",
    "hired": "Is hired",
    "replied": "Replies",
    "unsubscribed": "Unsubscribes",
    "merged": "Is merged into a candidate already enrolled",
}
# Why a send step's mail was not sent, when that ended the enrolment (it names `exit_step`).
NOT_SENT_REASONS: dict[str, str] = {
    "no_marketing_consent": "no marketing consent",
    "no_email_address": "no e-mail address",
    "unsubscribed": "unsubscribed",
    "bounced": "the address bounced",
    "complained": "reported a mail as spam",
    "erased": "the person's data was erased",
    "suppressed": "the address is on the suppression list",
}
# Why enrolments ended early, as the sequence's enrolment report names the reasons (the others
# are a send step's mail not sent: NOT_SENT_REASONS).
ENDED_BECAUSE: dict[str, str] = {
    "replied": "Replied",
    "applied": "Applied",
    "hired": "Hired",
    "unsubscribed": "Unsubscribed",
    "removed": "Removed from the sequence",
    "merged": "Merged into a record already enrolled",
    "sequence_archived": "The sequence was archived",
}
DEFAULT_EXITS = ("applied", "hired", "replied", "unsubscribed")
# The lines of the enrolment report's chart per day.
ENROLMENT_CHART: tuple[tuple[str, str], ...] = (
    ("entered", "Entered"),
    ("completed", "Ran through every step"),
    ("exited", "Left early"),
)
REENTRY_POLICIES = {"never": "Never", "after_days": "After some days", "always": "Always"}
WEEKDAYS = {
    "mon": "Mon",
    "tue": "Tue",
    "wed": "Wed",
    "thu": "Thu",
    "fri": "Fri",
    "sat": "Sat",
    "sun": "Sun",
}
BRANCH_CONDITIONS = {
    "opened": "Opened the mail",
    "clicked": "Clicked a link",
    "replied": "Replied",
    "registered": "Registered for an event",
}
ENROLMENT_STATES = ("active", "waiting", "paused", "failed", "completed", "exited")
# The fields each step kind has besides its label (the form's names and the API's).
STEP_FIELDS: dict[str, tuple[str, ...]] = {
    "send": ("template_id",),
    "wait": ("days", "hours", "minutes"),
    "wait_until": ("weekdays", "time"),
    "branch": (
        "condition",
        "after_send",
        "event_id",
        "within_days",
        "within_hours",
        "if_yes",
        "if_no",
    ),
    "add_tag": ("tags",),
    "remove_tag": ("tags",),
    "move_stage": ("pool_id", "stage"),
    "notify_owner": ("title", "body"),
}
_NUMBERS = frozenset({"days", "hours", "minutes", "within_days", "within_hours"})
_TARGETS = frozenset({"after_send", "if_yes", "if_no"})


def new_step_key() -> str:
    """A key naming one step's fields in the form (`s-<key>-<field>`), unique on the page."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class StepForm:
    """One step as the builder shows it: its kind, the values of its fields, its errors."""

    key: str
    kind: str
    values: Mapping[str, Any] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return STEP_KINDS.get(self.kind, self.kind)


def step_form(kind: str) -> StepForm:
    """A new, empty step of `kind` (a wait of one day by default)."""
    if kind not in STEP_KINDS:
        raise ValueError(f"unknown step kind {kind!r}")
    values: dict[str, Any] = {"days": 1} if kind == "wait" else {}
    return StepForm(new_step_key(), kind, values)


def _step(form: FormValues, key: str) -> dict[str, Any]:
    prefix = f"s-{key}-"
    kind = first(form, prefix + "type")
    step: dict[str, Any] = {"type": kind}
    label = first(form, prefix + "label")
    if label:
        step["label"] = label
    for name in STEP_FIELDS.get(kind, ()):
        if name == "weekdays":
            step[name] = [day for day in form.get(prefix + name, []) if day]
            continue
        value = first(form, prefix + name)
        if name == "tags":
            step[name] = words(value)
        elif name in _NUMBERS:
            number = whole_number(value)
            if number is not None:
                step[name] = number
        elif name in _TARGETS:
            if value:
                step[name] = int(value) if value.isdigit() else value
        elif name == "event_id":
            if value:
                step[name] = value
        elif name == "body" or value:
            step[name] = value
    return step


def steps_from_form(form: FormValues) -> tuple[list[str], list[dict[str, Any]]]:
    """The step keys in page order and the API's steps they describe."""
    keys = [key for key in form.get("step", []) if key]
    return keys, [_step(form, key) for key in keys]


def trigger_from_form(form: FormValues) -> dict[str, Any]:
    """The API's trigger for the builder's trigger fields."""
    kind = first(form, "trigger_type", "manual")
    trigger: dict[str, Any] = {"type": kind}
    if kind == "segment_entered":
        trigger["segment_id"] = first(form, "trigger_segment_id")
    elif kind == "pool_stage_reached":
        trigger["pool_id"] = first(form, "trigger_pool_id")
        trigger["stage"] = first(form, "trigger_stage")
    elif kind in ("event_checked_in", "event_attended", "event_no_show"):
        # Each event kind's list is its own field (without script all three are posted).
        event_id = first(form, f"trigger_event_id.{kind}") or first(form, "trigger_event_id")
        if event_id:
            trigger["event_id"] = event_id
    elif kind == "ats_rejected":
        trigger["stages"] = words(first(form, "trigger_stages"))
    return trigger


def definition_from_form(form: FormValues) -> tuple[list[str], dict[str, Any]]:
    """The step keys and the API's sequence definition (create body) the builder describes."""
    keys, steps = steps_from_form(form)
    policy = first(form, "reentry_policy", "never")
    reentry: dict[str, Any] = {"policy": policy}
    if policy == "after_days":
        reentry["days"] = whole_number(first(form, "reentry_days")) or 0
    definition: dict[str, Any] = {
        "name": first(form, "name"),
        "trigger": trigger_from_form(form),
        "steps": steps,
        "reentry": reentry,
        "exit_on": [reason for reason in form.get("exit_on", []) if reason in EXIT_REASONS],
    }
    return keys, definition


def step_forms(
    keys: Sequence[str], steps: Sequence[Mapping[str, Any]], problem: Problem | None = None
) -> list[StepForm]:
    """The builder's steps for `steps` (as the API shows or takes them) and the API's errors
    on each (`steps.<i>.<field>`, `steps.<i>` for the step as a whole)."""
    errors: dict[int, dict[str, str]] = {}
    for error in problem.located if problem else ():
        parts = error.field.split(".")
        if len(parts) >= 2 and parts[0] == "steps" and parts[1].isdigit():
            name = parts[2] if len(parts) > 2 and not parts[2].isdigit() else "step"
            errors.setdefault(int(parts[1]), {}).setdefault(name, error.detail)
    forms = []
    for index, step in enumerate(steps):
        key = keys[index] if index < len(keys) else new_step_key()
        values = dict(step)
        for name in ("tags",):
            if isinstance(values.get(name), list):
                values[name] = ", ".join(values[name])
        forms.append(StepForm(key, str(step.get("type", "")), values, errors.get(index, {})))
    return forms


def reshaped_without_script(
    form: FormValues, keys: Sequence[str], steps: Sequence[Mapping[str, Any]]
) -> tuple[list[str], list[dict[str, Any]]] | None:
    """The builder's step keys and steps after the button a form posted without script pressed
    (`add_step`: one more step of the kind chosen beside it; `remove_step`: without the step of
    that key; `move_step`: `<key>:up` or `<key>:down`, swapped with its neighbour), or None
    when the post is a save."""
    if first(form, "add_step"):
        kind = first(form, "new_step_kind", "send")
        added = step_form(kind if kind in STEP_KINDS else "send")
        return [*keys, added.key], [*map(dict, steps), {"type": added.kind, **added.values}]
    removed = first(form, "remove_step")
    if removed:
        kept = [(key, dict(step)) for key, step in zip(keys, steps, strict=True) if key != removed]
        return [key for key, _ in kept], [step for _, step in kept]
    moved, _, direction = first(form, "move_step").partition(":")
    if moved in keys:
        order = [(key, dict(step)) for key, step in zip(keys, steps, strict=True)]
        at = keys.index(moved)
        to = at - 1 if direction == "up" else at + 1
        if 0 <= to < len(order):
            order[at], order[to] = order[to], order[at]
        return [key for key, _ in order], [step for _, step in order]
    return None


def names_pool_stage(definition: Mapping[str, Any]) -> bool:
    """Whether the trigger or a step names a stage of a talent pool."""
    trigger = definition.get("trigger") or {}
    return trigger.get("type") == "pool_stage_reached" or any(
        step.get("type") == "move_stage" for step in definition.get("steps") or []
    )


def stage_problem(
    definition: Mapping[str, Any], pools: Sequence[Mapping[str, Any]]
) -> Problem | None:
    """A pool stage the trigger or a step names that its pool does not have (matched ignoring
    case and spacing, as the candidates service matches it), said at its field before the API
    is asked: the API cannot check it (campaigns knows no pool's stages), and such a step would
    do nothing and such a trigger never fire. None when every stage is one of its pool's, or
    a pool is not among `pools` (the API says what it thinks of it)."""
    stages = {str(pool["id"]): pool for pool in pools}

    def missing(pool_id: Any, stage: Any) -> str | None:
        pool = stages.get(str(pool_id))
        if pool is None or not str(stage or "").strip():
            return None
        known = [str(name) for name in pool.get("stages", [])]
        wanted = " ".join(str(stage).split()).casefold()
        if any(" ".join(name.split()).casefold() == wanted for name in known):
            return None
        return f"{pool.get('name', pool_id)} has no stage “{stage}”: {', '.join(known)}"

    located: list[LocatedError] = []
    trigger = definition.get("trigger") or {}
    if trigger.get("type") == "pool_stage_reached" and (
        said := missing(trigger.get("pool_id"), trigger.get("stage"))
    ):
        located.append(LocatedError("trigger.stage", said))
    for index, step in enumerate(definition.get("steps") or []):
        if step.get("type") == "move_stage" and (
            said := missing(step.get("pool_id"), step.get("stage"))
        ):
            located.append(LocatedError(f"steps.{index}.stage", said))
    if not located:
        return None
    return Problem(
        status=422,
        title="Unprocessable Content",
        detail="a pool stage is not one of its pool's",
        problem_type=VALIDATION_ERROR,
        located=tuple(located),
    )


def other_errors(problem: Problem | None) -> dict[str, str]:
    """The API's errors not about one step: `name`, `trigger.segment_id`, `reentry`, ..."""
    found: dict[str, str] = {}
    for error in problem.located if problem else ():
        if not error.field.startswith("steps."):
            found.setdefault(error.field, error.detail)
    return found


def describe_trigger(trigger: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """A trigger in words, naming segments, pools and events by name where known."""
    names = names or {}
    kind = str(trigger.get("type", "manual"))

    def name_of(identifier: Any) -> str:
        return names.get(str(identifier), str(identifier))

    if kind == "segment_entered":
        return f"Enters the segment {name_of(trigger.get('segment_id'))}"
    if kind == "pool_stage_reached":
        return f"Reaches {trigger.get('stage')} in {name_of(trigger.get('pool_id'))}"
    if kind == "event_checked_in":
        event = trigger.get("event_id")
        return f"Checks in at {name_of(event)}" if event else "Checks in at any event"
    if kind in ("event_attended", "event_no_show"):
        event = trigger.get("event_id")
        verb = "Attended" if kind == "event_attended" else "Did not come to"
        return f"{verb} {name_of(event)}" if event else f"{verb} any event"
    if kind == "ats_rejected":
        stages = trigger.get("stages") or []
        return "Rejected in the ATS" + (f" at {', '.join(stages)}" if stages else "")
    return TRIGGER_KINDS.get(kind, kind)


def describe_step(step: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """A step in words, naming templates and pools by name where known."""
    names = names or {}
    kind = str(step.get("type"))
    if kind == "send":
        template = str(step.get("template_id"))
        return f"Send “{names.get(template, template)}”"
    if kind == "wait":
        parts = [
            amount(step.get(unit), unit) for unit in ("days", "hours", "minutes") if step.get(unit)
        ]
        return "Wait " + (", ".join(parts) or "0 minutes")
    if kind == "wait_until":
        days = ", ".join(WEEKDAYS.get(d, d) for d in step.get("weekdays", []))
        return f"Wait until {days} at {step.get('time')} (candidate's time)"
    if kind == "branch":
        condition = BRANCH_CONDITIONS.get(str(step.get("condition")), str(step.get("condition")))
        window = f"{step.get('within_days', 0)} d {step.get('within_hours', 0)} h"
        yes = step.get("if_yes") if step.get("if_yes") is not None else "next"
        no = step.get("if_no") if step.get("if_no") is not None else "next"
        return f"If {condition.lower()} within {window}: go to {yes}, else {no}"
    if kind in ("add_tag", "remove_tag"):
        verb = "Add" if kind == "add_tag" else "Remove"
        return f"{verb} tags {', '.join(step.get('tags', []))}"
    if kind == "move_stage":
        pool = str(step.get("pool_id"))
        return f"Move to {step.get('stage')} in {names.get(pool, pool)}"
    if kind == "notify_owner":
        return f"Notify the owner: {step.get('title')}"
    return kind


def enrolment_name(enrolment: Mapping[str, Any]) -> str:
    """Who an enrolment is, as its list shows it: the name the API gives with it; a record
    merged into another (campaigns knows the person by the survivor now) said so; else the
    candidate's id while campaigns does not know the name (not learnt yet, or erased)."""
    parts = (enrolment.get("first_name"), enrolment.get("last_name"))
    named = " ".join(str(part) for part in parts if part)
    if named:
        return named
    if enrolment.get("exit_reason") == "merged":
        return "A record merged into another (its profile names the survivor)"
    return str(enrolment["candidate_id"])


def ended_because(reason: str) -> str:
    """An exit reason of the enrolment report as a row names it."""
    if reason in ENDED_BECAUSE:
        return ENDED_BECAUSE[reason]
    if reason in NOT_SENT_REASONS:
        return f"A mail not sent: {NOT_SENT_REASONS[reason]}"
    return reason.replace("_", " ").capitalize()


def step_shown(enrolment: Mapping[str, Any], step_total: int | None) -> str:
    """Its row's "At step": the send step whose mail ended it, if one did (the engine had
    moved past that step when the mail was held back, so `step_index` would say the next one,
    or "end"), else the step it is at, "end" once past the last."""
    if enrolment.get("exit_step") is not None:
        return str(enrolment["exit_step"])
    index = int(enrolment["step_index"])
    return "end" if step_total is not None and index >= step_total else str(index)


# The refused steps a row shows, the latest last: more would crowd the table.
STEP_PROBLEMS_SHOWN = 3


def step_problem_lines(enrolment: Mapping[str, Any]) -> list[str]:
    """The latest steps the enrolment went past that did nothing (the candidates service
    refused their change), each as its row says it: "Step 2 did nothing: 'Ofer' is not a
    stage of pool 'Engineering': Sourced, Contacted, Offer"."""
    problems = list(enrolment.get("step_problems") or [])[-STEP_PROBLEMS_SHOWN:]
    return [f"Step {p['step']} did nothing: {p['reason']}" for p in problems]


def exit_label(enrolment: Mapping[str, Any]) -> str:
    """Why an enrolment ended early, as its row's Reason column says it ("" if it did not):
    a send step's mail that could not be sent says so, naming the step, so nobody takes the
    enrolment's end for a mail that went out and was ignored; any other reason in the words of
    the enrolment report ("Replied", "Removed from the sequence")."""
    reason = enrolment.get("exit_reason")
    if not reason:
        return ""
    step = enrolment.get("exit_step")
    if step is not None and reason in NOT_SENT_REASONS:
        return f"Not sent: {NOT_SENT_REASONS[reason]} (step {step})"
    return ended_because(str(reason))


@dataclass(frozen=True)
class Chosen:
    """A person chosen for manual enrolment: kept across searches until enrolled or removed."""

    candidate_id: str
    name: str


MAX_CHOSEN = 500


def chosen_people(
    form: FormValues,
    *,
    toggled: str = "",
    toggled_name: str = "",
    ticked: bool = False,
    removed: str = "",
) -> list[Chosen]:
    """The chosen list after one change: the people chosen so far (`candidate_id` and
    `chosen_name` pairs, in order, no repeats), with a ticked search result added at the end,
    an unticked one or a removed one left out."""
    ids = list(form.get("candidate_id") or [])
    names = list(form.get("chosen_name") or [])
    people: dict[str, Chosen] = {}
    for index, candidate_id in enumerate(ids):
        if candidate_id and candidate_id not in people:
            name = names[index] if index < len(names) else ""
            people[candidate_id] = Chosen(candidate_id, name or candidate_id)
    if toggled:
        if ticked and toggled not in people:
            people[toggled] = Chosen(toggled, toggled_name or toggled)
        elif not ticked:
            people.pop(toggled, None)
    people.pop(removed, None)
    return list(people.values())[:MAX_CHOSEN]


def amount(count: Any, unit: str) -> str:
    """`1 minute`, `2 minutes`: a count with its unit (plural `unit`) in the right number."""
    return f"{count} {unit[:-1] if count == 1 else unit}"


def answered_row(enrolment: Mapping[str, Any] | None, name: str) -> dict[str, Any] | None:
    """An enrolment as an action's answer gives it, named as its row named it (the answer
    carries no name); None when there was no answer."""
    if not enrolment or "candidate_id" not in enrolment:
        return None
    row = dict(enrolment)
    if name and not (row.get("first_name") or row.get("last_name")):
        row["first_name"] = name
    return row


# What a person may do with one enrolment, by its state, and the buttons' words.
ENROLMENT_ACTIONS = {"pause": "Pause", "resume": "Resume", "retry": "Retry", "remove": "Remove"}

# What an enrolment's remove asks first, on the sequence's page and on the profile.
REMOVE_QUESTION = Question("Remove this person from the sequence?", "Remove from the sequence")


def enrolment_actions(enrolment: Mapping[str, Any]) -> list[str]:
    """The actions an enrolment's row offers: one in progress can be paused (also one paused
    with its sequence, so it stays paused when the sequence resumes) or removed; one paused on
    its own resumed; a failed one retried. An ended one offers nothing."""
    state = enrolment.get("state")
    if state == "failed":
        return ["retry", "remove"]
    if state == "paused" and enrolment.get("paused_by"):
        return ["resume", "remove"]
    if state in ("active", "waiting", "paused"):
        return ["pause", "remove"]
    return []


def action_label(action: str, enrolment: Mapping[str, Any]) -> str:
    """An action's button as the row says it: pausing an enrolment its sequence's pause holds
    is keeping it paused when the sequence resumes ("Keep paused", not a second "Pause")."""
    if action == "pause" and enrolment.get("state") == "paused":
        return "Keep paused"
    return ENROLMENT_ACTIONS[action]


def enrolment_done(action: str, enrolment: Mapping[str, Any] | None) -> str:
    """What the page says after an action on one enrolment (from the API's answer)."""
    if action == "pause":
        return "Enrolment paused: none of its steps runs until it is resumed."
    if action == "resume":
        if enrolment is not None and enrolment.get("state") == "paused":
            return "Enrolment resumed: it waits for its sequence, which is paused."
        return "Enrolment resumed: it goes on from the step it stopped at."
    if action == "retry":
        return "The failed step runs again."
    return "Removed from the sequence."


def sequence_actions(status: str) -> list[str]:
    """The status changes a sequence in `status` allows (active <-> paused)."""
    return {"active": ["pause"], "paused": ["resume"]}.get(status, [])

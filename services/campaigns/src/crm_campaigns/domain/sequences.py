"""The pure logic of nurture sequences: definitions, step targets, local-time waits, branches.

Nothing here touches the database or the clock; the engine passes in what it read and `now`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as time_of_day
from difflib import SequenceMatcher
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, TypeAdapter, ValidationError

from crm_campaigns.domain.models import (
    END,
    STEP_TYPES,
    TRIGGER_TYPES,
    BranchCondition,
    BranchStep,
    CustomField,
    NotifyOwnerStep,
    SendStep,
    Step,
    StepTarget,
    Trigger,
    WaitStep,
    WaitUntilStep,
    Weekday,
)
from crm_campaigns.domain.templates import TemplateError, validate_template
from crm_shared import validation_detail

FieldError = tuple[str, str]
"""A bad field of a definition, e.g. `("steps.2.if_yes", "no step is labelled 'intro'")`."""

_step_adapter: TypeAdapter[Step] = TypeAdapter(Step)
_trigger_adapter: TypeAdapter[Trigger] = TypeAdapter(Trigger)


class SequenceDefinitionError(ValueError):
    """A sequence definition is not valid; `errors` names each bad field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{field}: {detail}" for field, detail in errors))
        self.errors = errors


def _parse_tagged(
    adapter: TypeAdapter[Any], kinds: dict[str, type[BaseModel]], raw: Any, prefix: str
) -> tuple[Any, list[FieldError]]:
    """Validates one member of a tagged union, naming errors `<prefix>.<field>` (no tag)."""
    if not isinstance(raw, dict):
        return None, [(prefix, "must be an object")]
    if raw.get("type") not in kinds:
        return None, [(f"{prefix}.type", f"must be one of {', '.join(kinds)}")]
    try:
        return adapter.validate_python(raw), []
    except ValidationError as error:
        errors = []
        for problem in error.errors():
            # The first location part of a tagged union is the tag itself.
            location = [str(part) for part in problem["loc"][1:]]
            errors.append((".".join([prefix, *location]), validation_detail(problem)))
        return None, errors


def parse_trigger(raw: Any) -> Trigger:
    """The trigger of a definition; raises `SequenceDefinitionError` naming `trigger.<field>`.

    A trigger without a type is a segment trigger, as it was when that was the only kind.
    """
    if isinstance(raw, dict) and "type" not in raw:
        raw = {"type": "segment_entered", **raw}
    trigger, errors = _parse_tagged(_trigger_adapter, TRIGGER_TYPES, raw, "trigger")
    if errors:
        raise SequenceDefinitionError(errors)
    parsed: Trigger = trigger
    return parsed


def parse_steps(raw: Sequence[Any], *, custom_fields: Collection[CustomField] = ()) -> list[Step]:
    """The steps of a definition, checked as a whole; errors name `steps.<i>.<field>`.
    A `notify_owner` step may merge the tenant's live `custom_fields`, as templates do."""
    steps: list[Step] = []
    errors: list[FieldError] = []
    for index, raw_step in enumerate(raw):
        step, step_errors = _parse_tagged(_step_adapter, STEP_TYPES, raw_step, f"steps.{index}")
        errors.extend(step_errors)
        if step is not None:
            steps.append(step)
    if errors:
        raise SequenceDefinitionError(errors)
    errors = check_steps(steps, custom_fields=custom_fields)
    if errors:
        raise SequenceDefinitionError(errors)
    return steps


def _labels(steps: Sequence[Step]) -> dict[str, int]:
    return {step.label: index for index, step in enumerate(steps) if step.label is not None}


def resolve_target(steps: Sequence[Step], target: StepTarget | None, index: int) -> int:
    """The step index a target names; `len(steps)` means the end. Unset is the next step."""
    if target is None:
        return index + 1
    if isinstance(target, int):
        return target
    if target == END:
        return len(steps)
    return _labels(steps)[target]


def _target_error(steps: Sequence[Step], target: StepTarget | None) -> str | None:
    if target is None or target == END:
        return None
    if isinstance(target, int):
        return None if 0 <= target < len(steps) else f"there is no step {target}"
    return None if target in _labels(steps) else f"no step is labelled {target!r}"


def default_send_step(steps: Sequence[Step], index: int) -> int | None:
    """The nearest send step before `index`, which a branch looks at unless told otherwise."""
    for earlier in range(index - 1, -1, -1):
        if isinstance(steps[earlier], SendStep):
            return earlier
    return None


def send_step_of(steps: Sequence[Step], index: int) -> int | None:
    """The send step the branch at `index` looks at."""
    branch = steps[index]
    assert isinstance(branch, BranchStep)
    if branch.after_send is None:
        return default_send_step(steps, index)
    return resolve_target(steps, branch.after_send, index)


def _pauses(step: Step) -> bool:
    """Whether a step always makes the enrolment wait, which bounds how fast a loop can spin."""
    if isinstance(step, WaitStep):
        return step.duration > timedelta(0)
    return isinstance(step, WaitUntilStep)


def successors(steps: Sequence[Step], index: int) -> list[int]:
    """Where the step at `index` can lead (`len(steps)` is the end)."""
    step = steps[index]
    if isinstance(step, BranchStep):
        return [
            resolve_target(steps, step.if_yes, index),
            resolve_target(steps, step.if_no, index),
        ]
    return [index + 1]


def _loop_without_wait(steps: Sequence[Step]) -> FieldError | None:
    """The branch target that closes a loop with no waiting step in it, if there is one."""
    # Only waiting steps break a loop; remove them and look for a cycle among the rest.
    state: dict[int, str] = {}

    def visit(index: int) -> FieldError | None:
        state[index] = "open"
        step = steps[index]
        edges: list[tuple[str, int]] = []
        if isinstance(step, BranchStep):
            edges = [
                ("if_yes", resolve_target(steps, step.if_yes, index)),
                ("if_no", resolve_target(steps, step.if_no, index)),
            ]
        else:
            edges = [("", index + 1)]
        for field, target in edges:
            if target >= len(steps) or _pauses(steps[target]):
                continue
            if state.get(target) == "open":
                where = f"steps.{index}.{field}" if field else f"steps.{index}"
                return (where, f"loops back to step {target} without a wait step in the loop")
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[index] = "done"
        return None

    for start in range(len(steps)):
        if start not in state and not _pauses(steps[start]):
            found = visit(start)
            if found:
                return found
    return None


def check_steps(
    steps: Sequence[Step], *, custom_fields: Collection[CustomField] = ()
) -> list[FieldError]:
    """What is wrong with a list of individually valid steps taken together (a `notify_owner`
    step's title and body checked as templates are, against the tenant's `custom_fields`)."""
    errors: list[FieldError] = []
    seen: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.label is not None:
            if step.label == END:
                errors.append((f"steps.{index}.label", f"{END!r} is reserved for the end"))
            elif step.label in seen:
                errors.append(
                    (f"steps.{index}.label", f"step {seen[step.label]} has this label already")
                )
            else:
                seen[step.label] = index
        if isinstance(step, WaitUntilStep) and len(set(step.weekdays)) != len(step.weekdays):
            errors.append((f"steps.{index}.weekdays", "a weekday is repeated"))
        if isinstance(step, NotifyOwnerStep):
            try:
                validate_template(
                    {"title": step.title, "body": step.body}, custom_fields=custom_fields
                )
            except TemplateError as error:
                errors.extend((f"steps.{index}.{part}", detail) for part, detail in error.errors)
        if isinstance(step, BranchStep):
            errors.extend(_branch_errors(steps, index, step))
    if errors:
        return errors
    loop = _loop_without_wait(steps)
    return [loop] if loop else []


def _branch_errors(steps: Sequence[Step], index: int, step: BranchStep) -> list[FieldError]:
    errors: list[FieldError] = []
    for field in ("if_yes", "if_no"):
        problem = _target_error(steps, getattr(step, field))
        if problem:
            errors.append((f"steps.{index}.{field}", problem))
    if step.event_id is not None and step.condition is not BranchCondition.REGISTERED:
        errors.append((f"steps.{index}.event_id", "only a `registered` branch names an event"))
    if step.after_send is None:
        if default_send_step(steps, index) is None:
            errors.append(
                (f"steps.{index}.after_send", "no send step comes before this branch; name one")
            )
        return errors
    if step.after_send == END:
        errors.append((f"steps.{index}.after_send", "must name a send step"))
        return errors
    problem = _target_error(steps, step.after_send)
    if problem:
        errors.append((f"steps.{index}.after_send", problem))
    elif not isinstance(steps[resolve_target(steps, step.after_send, index)], SendStep):
        errors.append((f"steps.{index}.after_send", "must name a send step"))
    return errors


def zone_named(name: str | None) -> tzinfo | None:
    """The IANA time zone of that name, or None when it is unset or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def next_local_time(
    now: datetime, zone: tzinfo, weekdays: Iterable[Weekday], at: time_of_day
) -> datetime:
    """The first instant at or after `now` that is `at` on one of `weekdays` in `zone` (UTC).

    A local time that does not exist on a day the clocks go forward is taken as the same
    wall-clock time under the old offset (02:30 becomes 03:30); one that happens twice when
    they go back is the first of the two.
    """
    days = {weekday.number for weekday in weekdays}
    local_today = now.astimezone(zone).date()
    for offset in range(8):
        day = local_today + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        instant = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if instant >= now:
            return instant
    raise ValueError("no weekdays given")  # pragma: no cover - weekdays has at least one day


@dataclass(frozen=True)
class Signal:
    """Something a candidate did that a branch can look at."""

    kind: BranchCondition
    at: datetime
    message_id: str | None = None
    event_id: str | None = None


class BranchDecision(StrEnum):
    YES = "yes"
    NO = "no"
    WAIT = "wait"


@dataclass(frozen=True)
class BranchOutcome:
    decision: BranchDecision
    wait_until: datetime | None = None


def evaluate_branch(
    step: BranchStep,
    *,
    message_id: str,
    window_start: datetime,
    now: datetime,
    signals: Iterable[Signal],
) -> BranchOutcome:
    """Whether the candidate reacted within the window after the send, or when to look again."""
    window_end = window_start + step.window
    for signal in signals:
        if signal.kind is not step.condition or not window_start <= signal.at <= window_end:
            continue
        if step.condition is BranchCondition.REGISTERED:
            if step.event_id is None or signal.event_id == step.event_id:
                return BranchOutcome(BranchDecision.YES)
        elif signal.message_id == message_id:
            return BranchOutcome(BranchDecision.YES)
    if now < window_end:
        return BranchOutcome(BranchDecision.WAIT, window_end)
    return BranchOutcome(BranchDecision.NO)


def _step_key(step: Step) -> str:
    """A step's definition as comparable text: two steps with the same key do the same."""
    return json.dumps(_step_adapter.dump_python(step, mode="json"), sort_keys=True)


@dataclass(frozen=True)
class StepRemap:
    """What an edit of a sequence's steps means for its enrolments in progress.

    An enrolment's `step_index` is a position: it is about to run that step (past the last
    step: it waits out a final wait). `positions` maps each position of the old steps
    (`0..len(old)`) to the new one, so that an enrolment runs next what it had not reached:
    the same step where it was kept, what replaced it where it was changed, the step after it
    where it was removed, and steps inserted right where it is (before the step it was about to
    run) first. `places` maps the index of each old step that is still there, as it was or
    changed in place, to its new index (a branch reads the message a send step sent by the
    step's index); a removed step has none."""

    positions: dict[int, int]
    places: dict[int, int]

    @property
    def moves_anything(self) -> bool:
        """Whether an enrolment's position or its record of sent messages changes."""
        old_steps = len(self.positions) - 1  # positions run from 0 to past the last step
        return (
            any(old != new for old, new in self.positions.items())
            or any(old != new for old, new in self.places.items())
            or len(self.places) < old_steps
        )


def step_remap(old: Sequence[Step], new: Sequence[Step]) -> StepRemap:
    """How an edit from `old` to `new` steps moves the enrolments in progress (`StepRemap`).
    Steps are matched as a diff matches lines; among those the edit changed, a step of the
    same kind (a send, a wait...) in the same run is the one changed in place."""
    positions: dict[int, int] = {}
    places: dict[int, int] = {}
    _align(
        [_step_key(step) for step in old],
        [_step_key(step) for step in new],
        (0, 0),
        positions,
        places,
        kinds=([step.type for step in old], [step.type for step in new]),
    )
    positions.setdefault(len(old), len(new))
    return StepRemap(positions, places)


def _align(
    old: Sequence[str],
    new: Sequence[str],
    start: tuple[int, int],
    positions: dict[int, int],
    places: dict[int, int],
    *,
    kinds: tuple[Sequence[str], Sequence[str]] | None,
) -> None:
    """Records where `old`'s positions and steps (from `start[0]`) go among `new`'s (from
    `start[1]`). With `kinds`, a changed run is aligned again by the steps' kinds; without,
    its steps are paired in order (each changed in place)."""
    matcher = SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        a1, a2, b1, b2 = i1 + start[0], i2 + start[0], j1 + start[1], j2 + start[1]
        if tag == "insert":
            # Steps inserted where an enrolment stands come before the one it was about to run.
            positions.setdefault(a1, b1)
        elif tag == "replace" and kinds is not None:
            _align(kinds[0][i1:i2], kinds[1][j1:j2], (a1, b1), positions, places, kinds=None)
            continue
        for position in range(a1, a2):
            if tag in ("equal", "replace"):
                offset = position - a1
                positions.setdefault(position, b1 + min(offset, b2 - b1))
                if offset < b2 - b1:
                    places.setdefault(position, b1 + offset)
            else:  # delete: the step after the removed ones
                positions.setdefault(position, b1)

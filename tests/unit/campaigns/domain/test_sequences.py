"""Sequence definitions are checked as a whole; local-time waits and branches decide correctly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import time as time_of_day
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crm_campaigns.domain.models import (
    AtsRejectedTrigger,
    BranchCondition,
    BranchStep,
    CustomField,
    EnrolmentState,
    EnrolmentStatus,
    EventCheckedInTrigger,
    SendStep,
    Weekday,
    enrolment_state,
)
from crm_campaigns.domain.sequences import (
    BranchDecision,
    SequenceDefinitionError,
    Signal,
    evaluate_branch,
    next_local_time,
    parse_steps,
    parse_trigger,
    resolve_target,
    step_remap,
    zone_named,
)

pytestmark = pytest.mark.unit

SEND = {"type": "send", "template_id": "t1"}
WAIT = {"type": "wait", "days": 2}


def errors_of(steps: list[Any]) -> list[tuple[str, str]]:
    with pytest.raises(SequenceDefinitionError) as raised:
        parse_steps(steps)
    return raised.value.errors


def fields_of(steps: list[Any]) -> list[str]:
    return [field for field, _ in errors_of(steps)]


def test_every_step_type_parses() -> None:
    steps = parse_steps(
        [
            {"type": "send", "template_id": "t1", "label": "intro"},
            {"type": "wait", "days": 1},
            {"type": "wait_until", "weekdays": ["tue", "thu"], "time": "09:30"},
            {
                "type": "branch",
                "condition": "clicked",
                "within_days": 3,
                "if_yes": "tagged",
                "if_no": "end",
            },
            {"type": "add_tag", "tags": ["engaged"], "label": "tagged"},
            {"type": "remove_tag", "tags": ["cold"]},
            {"type": "move_stage", "pool_id": "p1", "stage": "warm"},
            {"type": "notify_owner", "title": "{{ candidate.first_name }} clicked"},
        ]
    )
    assert [step.type for step in steps] == [
        "send",
        "wait",
        "wait_until",
        "branch",
        "add_tag",
        "remove_tag",
        "move_stage",
        "notify_owner",
    ]
    assert resolve_target(steps, "tagged", 3) == 4
    assert resolve_target(steps, "end", 3) == len(steps)
    assert resolve_target(steps, None, 3) == 4


def test_a_bad_step_names_its_index_and_field_without_the_type_tag() -> None:
    assert fields_of([SEND, {"type": "wait", "days": -1}]) == ["steps.1.days"]
    assert fields_of([{"type": "send"}]) == ["steps.0.template_id"]
    assert fields_of([{"type": "teleport"}]) == ["steps.0.type"]
    assert fields_of([{"template_id": "t1"}]) == ["steps.0.type"]
    assert fields_of(["send"]) == ["steps.0"]
    assert fields_of([SEND, {"type": "wait", "days": 1, "color": "red"}]) == ["steps.1.color"]
    assert fields_of([{"type": "wait_until", "weekdays": ["someday"], "time": "9"}]) == [
        "steps.0.weekdays.0",
        "steps.0.time",
    ]
    assert fields_of([{"type": "wait_until", "weekdays": [], "time": "09:00"}]) == [
        "steps.0.weekdays"
    ]
    assert fields_of([{"type": "add_tag", "tags": []}]) == ["steps.0.tags"]


def test_branch_targets_must_exist_and_branches_need_a_send_before_them() -> None:
    branch = {"type": "branch", "condition": "opened", "within_days": 1}
    assert fields_of([SEND, branch | {"if_yes": 7}]) == ["steps.1.if_yes"]
    assert fields_of([SEND, branch | {"if_no": "nowhere"}]) == ["steps.1.if_no"]
    assert fields_of([WAIT, branch]) == ["steps.1.after_send"]
    assert fields_of([SEND, WAIT, branch | {"after_send": 1}]) == ["steps.2.after_send"]
    assert fields_of([SEND, branch | {"event_id": "e1"}]) == ["steps.1.event_id"]
    # A later send step may be named explicitly.
    parse_steps(
        [WAIT, branch | {"after_send": "later", "if_yes": "end"}, SEND | {"label": "later"}]
    )


def test_labels_are_unique_and_end_is_reserved() -> None:
    assert fields_of([SEND | {"label": "a"}, WAIT | {"label": "a"}]) == ["steps.1.label"]
    assert fields_of([SEND | {"label": "end"}]) == ["steps.0.label"]


def test_a_loop_must_contain_a_wait() -> None:
    branch = {"type": "branch", "condition": "opened", "within_days": 1}
    assert errors_of([SEND | {"label": "top"}, branch | {"if_no": "top"}])[0][0] == (
        "steps.1.if_no"
    )
    # A zero wait does not bound the loop either.
    zero_wait = {"type": "wait", "minutes": 0}
    assert fields_of([SEND | {"label": "top"}, zero_wait, branch | {"if_yes": "top"}]) == [
        "steps.2.if_yes"
    ]
    # A branch looping onto itself.
    assert fields_of([SEND, branch | {"label": "self", "if_no": "self"}]) == ["steps.1.if_no"]
    parse_steps([SEND | {"label": "top"}, WAIT, branch | {"if_no": "top"}])
    until = {"type": "wait_until", "weekdays": ["mon"], "time": "08:00"}
    parse_steps([until | {"label": "top"}, SEND, branch | {"if_no": "top", "if_yes": "end"}])


def test_notify_owner_merge_fields_are_checked() -> None:
    assert fields_of([{"type": "notify_owner", "title": "{{ candidate.salary }}"}]) == [
        "steps.0.title"
    ]
    # The tenant's custom fields may be merged, as in a template; a deleted one may not.
    at = datetime(2026, 12, 1, tzinfo=UTC)
    langues = CustomField(
        tenant_id="acme", key="langues", label="Langues", type="string", changed_at=at
    )
    gone = CustomField(
        tenant_id="acme", key="salaire", label="Salaire", type="number", changed_at=at
    )
    step = {
        "type": "notify_owner",
        "title": "{{ candidate.first_name }}",
        "body": "Parle {{ candidate.custom_fields.langues }}",
    }
    [notify] = parse_steps([step], custom_fields=[langues])
    assert notify.type == "notify_owner"
    with pytest.raises(SequenceDefinitionError) as raised:
        parse_steps(
            [step | {"body": "{{ candidate.custom_fields.salaire }}"}],
            custom_fields=[langues, gone.model_copy(update={"deleted": True})],
        )
    assert [field for field, _ in raised.value.errors] == ["steps.0.body"]


def test_triggers_parse_with_clean_field_names() -> None:
    trigger = parse_trigger({"type": "ats_rejected", "stages": ["Face to Face", "Offer"]})
    assert isinstance(trigger, AtsRejectedTrigger)
    assert trigger.admits("offer")
    assert not trigger.admits("Application Review")
    assert not trigger.admits(None)
    assert AtsRejectedTrigger().admits(None)
    assert isinstance(parse_trigger({"type": "event_checked_in"}), EventCheckedInTrigger)
    with pytest.raises(SequenceDefinitionError) as raised:
        parse_trigger({"type": "pool_stage_reached", "pool_id": "p1"})
    assert [field for field, _ in raised.value.errors] == ["trigger.stage"]
    with pytest.raises(SequenceDefinitionError) as raised:
        parse_trigger({"type": "whenever"})
    assert [field for field, _ in raised.value.errors] == ["trigger.type"]


BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def test_wait_until_finds_the_next_allowed_weekday_at_local_time() -> None:
    # Wednesday 2026-11-25 12:00 UTC is 13:00 in Berlin.
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    tuesday_thursday = [Weekday.TUE, Weekday.THU]
    assert next_local_time(now, BERLIN, tuesday_thursday, time_of_day(9, 30)) == datetime(
        2026, 11, 26, 8, 30, tzinfo=UTC
    )
    # Later today in Berlin (14:00 local = 13:00 UTC) is still today.
    assert next_local_time(now, BERLIN, [Weekday.WED], time_of_day(14, 0)) == datetime(
        2026, 11, 25, 13, 0, tzinfo=UTC
    )
    # Earlier today already passed: a week later.
    assert next_local_time(now, BERLIN, [Weekday.WED], time_of_day(9, 0)) == datetime(
        2026, 12, 2, 8, 0, tzinfo=UTC
    )
    # Exactly now counts.
    assert next_local_time(now, BERLIN, [Weekday.WED], time_of_day(13, 0)) == now


def test_wait_until_uses_the_local_date_not_the_utc_date() -> None:
    # Thursday 02:00 UTC is still Wednesday 21:00 in New York.
    now = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
    assert next_local_time(now, NEW_YORK, [Weekday.WED], time_of_day(22, 0)) == datetime(
        2026, 11, 26, 3, 0, tzinfo=UTC
    )
    assert next_local_time(now, NEW_YORK, [Weekday.THU], time_of_day(9, 0)) == datetime(
        2026, 11, 26, 14, 0, tzinfo=UTC
    )


def test_wait_until_across_daylight_saving_changes() -> None:
    # Berlin springs forward on Sunday 2026-03-29: 09:00 is UTC+2 after, UTC+1 before.
    saturday = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert next_local_time(saturday, BERLIN, [Weekday.MON], time_of_day(9, 0)) == datetime(
        2026, 3, 30, 7, 0, tzinfo=UTC
    )
    assert next_local_time(saturday, BERLIN, [Weekday.SAT], time_of_day(14, 0)) == datetime(
        2026, 3, 28, 13, 0, tzinfo=UTC
    )
    # 02:30 does not exist that Sunday; it is taken as 03:30 local (01:30 UTC).
    assert next_local_time(saturday, BERLIN, [Weekday.SUN], time_of_day(2, 30)) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC
    )
    # New York falls back on Sunday 2026-11-01: 01:30 happens twice; the first one counts.
    before = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    assert next_local_time(before, NEW_YORK, [Weekday.SUN], time_of_day(1, 30)) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )
    assert next_local_time(before, NEW_YORK, [Weekday.MON], time_of_day(9, 0)) == datetime(
        2026, 11, 2, 14, 0, tzinfo=UTC
    )


def test_unknown_zones_are_none_so_the_fallback_applies() -> None:
    assert zone_named("Mars/Olympus_Mons") is None
    assert zone_named("") is None
    assert zone_named(None) is None
    assert zone_named("../etc/passwd") is None
    assert zone_named("Europe/Berlin") == BERLIN


SENT_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def branch(condition: str, **fields: Any) -> BranchStep:
    return BranchStep.model_validate({"condition": condition, "within_days": 2} | fields)


def decide(step: BranchStep, now: datetime, signals: list[Signal]) -> Any:
    return evaluate_branch(step, message_id="m1", window_start=SENT_AT, now=now, signals=signals)


def test_a_branch_says_yes_as_soon_as_the_reaction_came_within_the_window() -> None:
    opened = Signal(BranchCondition.OPENED, SENT_AT + timedelta(hours=3), message_id="m1")
    outcome = decide(branch("opened"), SENT_AT + timedelta(hours=4), [opened])
    assert outcome.decision is BranchDecision.YES


def test_a_branch_waits_for_the_window_then_says_no() -> None:
    step = branch("clicked")
    other_message = Signal(BranchCondition.CLICKED, SENT_AT + timedelta(hours=1), message_id="m0")
    opened_only = Signal(BranchCondition.OPENED, SENT_AT + timedelta(hours=1), message_id="m1")
    early = decide(step, SENT_AT + timedelta(hours=1), [other_message, opened_only])
    assert early.decision is BranchDecision.WAIT
    assert early.wait_until == SENT_AT + timedelta(days=2)
    late = decide(step, SENT_AT + timedelta(days=2, seconds=1), [other_message, opened_only])
    assert late.decision is BranchDecision.NO


def test_a_reaction_outside_the_window_does_not_count() -> None:
    too_late = Signal(BranchCondition.REPLIED, SENT_AT + timedelta(days=3), message_id="m1")
    before = Signal(BranchCondition.REPLIED, SENT_AT - timedelta(hours=1), message_id="m1")
    outcome = decide(branch("replied"), SENT_AT + timedelta(days=4), [too_late, before])
    assert outcome.decision is BranchDecision.NO


def test_a_registration_branch_matches_the_event_or_any() -> None:
    registered = Signal(BranchCondition.REGISTERED, SENT_AT + timedelta(hours=5), event_id="e1")
    now = SENT_AT + timedelta(days=5)
    assert decide(branch("registered"), now, [registered]).decision is BranchDecision.YES
    assert (
        decide(branch("registered", event_id="e1"), now, [registered]).decision
        is BranchDecision.YES
    )
    assert (
        decide(branch("registered", event_id="e2"), now, [registered]).decision is BranchDecision.NO
    )


def test_a_zero_window_decides_at_once() -> None:
    step = BranchStep(condition=BranchCondition.OPENED)
    now = SENT_AT + timedelta(minutes=5)
    opened = Signal(BranchCondition.OPENED, SENT_AT, message_id="m1")
    assert decide(step, now, []).decision is BranchDecision.NO
    assert decide(step, now, [opened]).decision is BranchDecision.YES
    assert SendStep(template_id="t").label is None


def test_an_enrolment_s_state_splits_active_into_due_and_waiting() -> None:
    now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    assert enrolment_state(EnrolmentStatus.ACTIVE, now, now) is EnrolmentState.ACTIVE
    later = now + timedelta(seconds=1)
    assert enrolment_state(EnrolmentStatus.ACTIVE, later, now) is EnrolmentState.WAITING
    assert enrolment_state(EnrolmentStatus.FAILED, None, now) is EnrolmentState.FAILED
    assert enrolment_state(EnrolmentStatus.EXITED, None, now) is EnrolmentState.EXITED
    assert enrolment_state(EnrolmentStatus.COMPLETED, None, now) is EnrolmentState.COMPLETED


def _send(template: str) -> dict[str, Any]:
    return {"type": "send", "template_id": template}


WAIT = {"type": "wait", "days": 2}


def test_an_edit_moves_enrolments_with_the_steps_they_have_not_reached() -> None:
    """Positions are "about to run step i" (and past the last): an inserted step before it is
    run, a removed one is never run again nor skipped over, a changed one runs changed."""
    old = parse_steps([_send("welcome"), WAIT, _send("jobs"), WAIT, _send("event")])
    # A step inserted first, one removed (the second wait), one changed in place.
    new = parse_steps([_send("intro"), _send("welcome"), WAIT, _send("jobs"), _send("event-2026")])
    remap = step_remap(old, new)
    assert remap.positions == {0: 0, 1: 2, 2: 3, 3: 4, 4: 4, 5: 5}
    # Who had got the welcome mail (waiting at 1) goes on after it, never getting "intro"
    # nor the welcome again; who waited after "jobs" (3) gets the changed event mail next.
    assert remap.places == {0: 1, 1: 2, 2: 3, 4: 4}
    assert remap.moves_anything

    # A step inserted where an enrolment stands runs before the one it was about to run.
    inserted = step_remap(
        old,
        parse_steps(
            [
                *map(dict, [_send("welcome"), WAIT]),
                _send("new"),
                _send("jobs"),
                WAIT,
                _send("event"),
            ]
        ),
    )
    assert inserted.positions[2] == 2  # "new", then "jobs"
    assert inserted.positions[3] == 4

    # Steps added after the last: enrolments in their final wait run them.
    appended = step_remap(
        old,
        parse_steps([_send("welcome"), WAIT, _send("jobs"), WAIT, _send("event"), _send("more")]),
    )
    assert appended.positions[5] == 5

    # Only a label changed elsewhere, or nothing: nobody moves.
    same = step_remap(old, old)
    assert not same.moves_anything
    relabelled = step_remap(
        old,
        parse_steps(
            [_send("welcome"), WAIT, _send("jobs"), WAIT, {**_send("event"), "label": "last"}]
        ),
    )
    assert relabelled.positions == {n: n for n in range(6)}
    assert not relabelled.moves_anything  # the changed step keeps its place and its mail

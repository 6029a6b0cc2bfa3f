"""Following a pool stage's rename in sequences, audiences and late moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_campaigns.domain.models import (
    AddTagStep,
    ManualTrigger,
    MoveStageStep,
    PoolAudience,
    PoolStageTrigger,
)
from crm_campaigns.domain.pool_stages import (
    KnownPool,
    StageRename,
    stage_now_called,
    stage_problems,
    with_stage_renamed,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_triggers_steps_and_audiences_naming_the_stage_follow_the_rename() -> None:
    trigger = PoolStageTrigger(pool_id="p1", stage="contacted").model_dump()
    steps = [
        {"type": "wait", "days": 1},
        MoveStageStep(pool_id="p1", stage="Contacted").model_dump(),
        MoveStageStep(pool_id="p2", stage="Contacted").model_dump(),
        MoveStageStep(pool_id="p1", stage="Sourced").model_dump(),
    ]
    audience = PoolAudience(pool_id="p1", stage="Contacted").model_dump()

    renamed_trigger, changed = with_stage_renamed(trigger, "p1", "Contacted", "Phone screen")
    assert changed
    assert renamed_trigger["stage"] == "Phone screen"
    renamed_steps, changed = with_stage_renamed(steps, "p1", "Contacted", "Phone screen")
    assert changed
    assert [step.get("stage") for step in renamed_steps] == [
        None,
        "Phone screen",
        "Contacted",
        "Sourced",
    ]
    renamed_audience, _ = with_stage_renamed(audience, "p1", "Contacted", "Phone screen")
    assert PoolAudience.model_validate(renamed_audience).stage == "Phone screen"
    untouched, changed = with_stage_renamed(steps, "p3", "Contacted", "Phone screen")
    assert (untouched, changed) == (steps, False)


def test_a_move_made_before_a_rename_follows_it_and_one_made_after_does_not() -> None:
    renames = [
        StageRename("Screen", "Phone screen", T0 + timedelta(minutes=5)),
        StageRename("Contacted", "Screen", T0),
    ]
    # Before both renames: Contacted became Screen, which became Phone screen.
    assert stage_now_called("contacted", T0 - timedelta(seconds=1), renames) == "Phone screen"
    # Between them: the stage was called Screen, later Phone screen.
    assert stage_now_called("Screen", T0 + timedelta(minutes=1), renames) == "Phone screen"
    # After both: a new stage named like an old one is itself.
    assert stage_now_called("Contacted", T0 + timedelta(minutes=9), renames) == "Contacted"


def test_a_stage_its_known_pool_lacks_is_named_at_its_field() -> None:
    pools = {"p1": KnownPool("p1", "Ingeniería", ["Sourced", "Phone screen", "Offer"])}
    steps = [
        AddTagStep(tags=["x"]),
        MoveStageStep(pool_id="p1", stage="  phone   SCREEN "),  # case and spacing ignored
        MoveStageStep(pool_id="p1", stage="Ofer"),
        MoveStageStep(pool_id="p-new", stage="Anything"),  # not heard of yet: not judged
    ]
    assert stage_problems(PoolStageTrigger(pool_id="p1", stage="Intervew"), steps, pools) == [
        (
            "trigger.stage",
            "the pool 'Ingeniería' has no stage 'Intervew' (its stages: Sourced, Phone screen, "
            "Offer)",
        ),
        (
            "steps.2.stage",
            "the pool 'Ingeniería' has no stage 'Ofer' (its stages: Sourced, Phone screen, Offer)",
        ),
    ]
    assert stage_problems(ManualTrigger(), steps[:2], pools) == []
    assert stage_problems(None, [], pools) == []

"""Which stage deletions a pool allows."""

from __future__ import annotations

import pytest

from crm_candidates.domain.pools import (
    FormerStage,
    Pool,
    StageDeletionRefused,
    StageRenameRefused,
    UnknownStageError,
    resolve_stage_following_renames,
    stages_renamed,
    stages_without,
)
from crm_candidates.domain.segments import Group, names_pool_stage, rule_with_pool_stage_renamed

pytestmark = pytest.mark.unit

POOL = Pool(
    tenant_id="t",
    name="Data",
    stages=["Sourced", "Contacted", "Interviewing"],
    owner_ids=["u"],
    created_by="u",
)


def test_a_stage_without_members_goes_and_one_with_members_needs_somewhere_to_send_them() -> None:
    assert stages_without(POOL, "Contacted", None, members=0) == ["Sourced", "Interviewing"]
    assert stages_without(POOL, "Contacted", "Sourced", members=3) == ["Sourced", "Interviewing"]
    with pytest.raises(StageDeletionRefused, match="3 candidates are at 'Contacted'"):
        stages_without(POOL, "Contacted", None, members=3)
    with pytest.raises(StageDeletionRefused, match="the stage being deleted"):
        stages_without(POOL, "Contacted", "Contacted", members=3)


def test_a_pool_keeps_at_least_one_stage() -> None:
    single = POOL.model_copy(update={"stages": ["Sourced"]})
    with pytest.raises(StageDeletionRefused, match="only stage"):
        stages_without(single, "Sourced", None, members=0)


def test_a_stage_is_renamed_in_place_and_may_not_take_another_stage_s_name() -> None:
    assert stages_renamed(POOL, "Contacted", "  Phone   screen ") == [
        "Sourced",
        "Phone screen",
        "Interviewing",
    ]
    assert stages_renamed(POOL, "Contacted", "CONTACTED")[1] == "CONTACTED"
    with pytest.raises(StageRenameRefused, match="has a stage 'Sourced' already"):
        stages_renamed(POOL, "Contacted", "sourced")


def test_segment_rules_on_the_renamed_stage_follow_it_and_nothing_else_changes() -> None:
    rule = {
        "all": [
            {"field": "pools", "op": "in_pool", "value": {"pool_id": "p1", "stage": "contacted"}},
            {"any": [{"field": "pools", "op": "in_pool", "value": {"pool_id": "p1"}}]},
            {"field": "pools", "op": "in_pool", "value": {"pool_id": "p2", "stage": "Contacted"}},
            {"field": "tags", "op": "equals", "value": "Contacted"},
        ]
    }
    renamed = rule_with_pool_stage_renamed(rule, "p1", "Contacted", "Phone screen")
    assert renamed["all"][0]["value"] == {"pool_id": "p1", "stage": "Phone screen"}
    assert renamed["all"][1:] == rule["all"][1:]
    assert names_pool_stage(Group.model_validate(renamed), "p1", "Phone screen")
    assert not names_pool_stage(Group.model_validate(renamed), "p1", "Contacted")


def test_a_request_naming_a_stage_s_former_name_reaches_the_renamed_stage() -> None:
    renamed = POOL.model_copy(
        update={
            "stages": ["Sourced", "Phone screen", "Interviewing"],
            "former_stages": [
                FormerStage(name="Contacted", renamed_to="Screen"),
                FormerStage(name="Screen", renamed_to="Phone screen"),
            ],
        }
    )
    assert resolve_stage_following_renames(renamed, "contacted") == "Phone screen"
    assert resolve_stage_following_renames(renamed, "sourced") == "Sourced"
    with pytest.raises(UnknownStageError):
        resolve_stage_following_renames(renamed, "Hired")
    # A current stage wins over a former name it shares.
    reused = renamed.model_copy(update={"stages": [*renamed.stages, "Contacted"]})
    assert resolve_stage_following_renames(reused, "Contacted") == "Contacted"

"""Which stage deletions a pool allows."""

from __future__ import annotations

import pytest

from crm_candidates.domain.pools import Pool, StageDeletionRefused, stages_without

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

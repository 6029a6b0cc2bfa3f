"""The status an application is left in by each kind of change the ATS reports."""

from __future__ import annotations

import pytest

from crm_ats_sync.domain.changes import (
    ApplicationStatus,
    ChangeKind,
    status_after,
)

pytestmark = pytest.mark.unit


def test_a_rejection_rejects_a_hire_hires_and_a_stage_change_keeps_it_active() -> None:
    assert status_after(ChangeKind.REJECTED) is ApplicationStatus.REJECTED
    assert status_after(ChangeKind.HIRED) is ApplicationStatus.HIRED
    assert status_after(ChangeKind.STAGE_CHANGED) is ApplicationStatus.ACTIVE

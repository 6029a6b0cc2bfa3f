"""What a snapshot read from an ATS's API means against the stored application: the changes a
webhook stream would have reported, nothing for an equal state, None for an older one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from crm_ats_sync.domain.changes import (
    ApplicationChange,
    ApplicationSnapshot,
    ApplicationStatus,
    ChangeKind,
)
from crm_ats_sync.domain.models import Application, Provider
from crm_ats_sync.domain.snapshots import (
    changes_after_creation,
    changes_to_reach,
    details_to_reach,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def snapshot(
    stage: str | None,
    status: ApplicationStatus = ApplicationStatus.ACTIVE,
    *,
    at: datetime | None = T0,
    reason: str | None = None,
) -> ApplicationSnapshot:
    return ApplicationSnapshot(
        ats_application_id="a-1",
        ats_candidate_id="c-1",
        emails=["ada@example.org"],
        first_name="Ada",
        last_name="Lovelace",
        job_name="Data Engineer",
        applied_at=T0,
        stage=stage,
        status=status,
        changed_at=at,
        rejection_reason=reason,
    )


def stored(
    stage: str | None, status: ApplicationStatus = ApplicationStatus.ACTIVE, *, at: datetime = T0
) -> Application:
    return Application(
        tenant_id="acme",
        connection_id="conn",
        provider=Provider.GREENHOUSE,
        ats_application_id="a-1",
        ats_candidate_id="c-1",
        candidate_id=None,
        email="ada@example.org",
        job_name="Data Engineer",
        applied_at=T0,
        stage=stage,
        status=status,
        ats_changed_at=at,
    )


def kinds(changes: list[ApplicationChange] | None) -> list[ChangeKind] | None:
    return None if changes is None else [c.kind for c in changes]


LATER = T0 + timedelta(days=2)


def test_an_equal_state_needs_no_change_and_an_older_one_is_stale() -> None:
    assert changes_to_reach(stored("Onsite"), snapshot("Onsite", at=LATER)) == []
    assert changes_to_reach(stored("Onsite", at=LATER), snapshot("Offer", at=T0)) is None


def test_a_new_stage_is_a_stage_change() -> None:
    (change,) = changes_to_reach(stored("Phone Screen"), snapshot("Onsite", at=LATER)) or []
    assert (change.kind, change.stage, change.occurred_at) == (
        ChangeKind.STAGE_CHANGED,
        "Onsite",
        LATER,
    )


def test_a_rejection_further_on_is_a_stage_change_then_the_rejection_with_its_reason() -> None:
    changes = changes_to_reach(
        stored("Phone Screen"),
        snapshot("Onsite", ApplicationStatus.REJECTED, at=LATER, reason="Hired another"),
    )
    assert kinds(changes) == [ChangeKind.STAGE_CHANGED, ChangeKind.REJECTED]
    assert changes is not None
    assert (changes[1].stage, changes[1].rejection_reason) == ("Onsite", "Hired another")
    assert changes[0].rejection_reason is None


def test_a_rejection_or_hire_at_the_same_stage_is_reported_alone() -> None:
    rejected = snapshot("Onsite", ApplicationStatus.REJECTED, at=LATER)
    assert kinds(changes_to_reach(stored("Onsite"), rejected)) == [ChangeKind.REJECTED]
    hired = snapshot("Offer", ApplicationStatus.HIRED, at=LATER)
    assert kinds(changes_to_reach(stored("Offer"), hired)) == [ChangeKind.HIRED]


def test_a_rejected_application_reopened_is_a_stage_change() -> None:
    reopened = snapshot("Onsite", at=LATER)
    assert kinds(changes_to_reach(stored("Onsite", ApplicationStatus.REJECTED), reopened)) == [
        ChangeKind.STAGE_CHANGED
    ]


def test_a_rejected_application_seen_at_another_stage_is_reported_rejected_again() -> None:
    moved = snapshot("Offer", ApplicationStatus.REJECTED, at=LATER)
    assert kinds(changes_to_reach(stored("Onsite", ApplicationStatus.REJECTED), moved)) == [
        ChangeKind.REJECTED
    ]


def test_an_undated_snapshot_is_compared_not_ignored() -> None:
    assert kinds(changes_to_reach(stored("Onsite", at=LATER), snapshot("Offer", at=None))) == [
        ChangeKind.STAGE_CHANGED
    ]


def test_an_application_first_seen_closed_is_created_then_rejected_or_hired() -> None:
    assert changes_after_creation(snapshot("Onsite")) == []
    (rejected,) = changes_after_creation(snapshot("Onsite", ApplicationStatus.REJECTED, reason="x"))
    assert (rejected.kind, rejected.rejection_reason) == (ChangeKind.REJECTED, "x")
    (hired,) = changes_after_creation(snapshot("Offer", ApplicationStatus.HIRED))
    assert hired.kind is ChangeKind.HIRED


def test_the_details_a_snapshot_corrects_are_its_job_prospect_and_rejection_reason() -> None:
    # Stored from a webhook that named no job: the snapshot says which, with no state change.
    application = stored("Onsite").model_copy(update={"job_name": None})
    with_job = replace(snapshot("Onsite", at=LATER), ats_job_id="4012")
    assert changes_to_reach(application, with_job) == []
    assert details_to_reach(application, with_job) == {
        "ats_job_id": "4012",
        "job_name": "Data Engineer",
    }
    rejected = stored("Onsite", ApplicationStatus.REJECTED).model_copy(
        update={"ats_job_id": "4012", "rejection_reason": "Withdrew"}
    )
    corrected = replace(
        snapshot("Onsite", ApplicationStatus.REJECTED, at=LATER, reason="Took another offer"),
        ats_job_id="4012",
    )
    assert details_to_reach(rejected, corrected) == {"rejection_reason": "Took another offer"}
    same = rejected.model_copy(update={"rejection_reason": "Took another offer"})
    assert details_to_reach(same, corrected) == {}

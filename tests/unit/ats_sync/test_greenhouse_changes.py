"""Greenhouse application changes: stage change, rejection (with the stage reached) and hire."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from crm_ats_sync.domain.changes import (
    ApplicationChange,
    ChangeKind,
    NewApplication,
    WebhookRejectedError,
)
from crm_ats_sync.domain.greenhouse import (
    parse_webhook,
)
from crm_devstack.greenhouse import (
    candidate_stage_change,
    hire_candidate,
    new_candidate_application,
    reject_candidate,
)

pytestmark = pytest.mark.unit


def change_of(body: bytes) -> ApplicationChange:
    _, change = parse_webhook(body)
    assert isinstance(change, ApplicationChange)
    return change


def test_a_stage_change_names_the_new_stage() -> None:
    change = change_of(
        candidate_stage_change(
            application_id=11,
            candidate_id=22,
            email="A@Example.org",
            stage="Face to Face",
            last_activity_at="2026-11-27T10:00:00Z",
        )
    )
    assert change.kind is ChangeKind.STAGE_CHANGED
    assert (change.ats_application_id, change.ats_candidate_id) == ("11", "22")
    assert change.emails == ["A@Example.org"]
    assert change.stage == "Face to Face"
    assert change.occurred_at == datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_a_rejection_carries_the_stage_reached_and_the_reason() -> None:
    change = change_of(
        reject_candidate(
            application_id=11,
            candidate_id=22,
            email="a@example.org",
            stage="Offer",
            reason="Timing",
            rejected_at="2026-11-28T15:50:41Z",
        )
    )
    assert change.kind is ChangeKind.REJECTED
    assert change.stage == "Offer"
    assert change.rejection_reason == "Timing"
    assert change.job_name == "Platform Engineer"
    assert change.occurred_at == datetime(2026, 11, 28, 15, 50, 41, tzinfo=UTC)


def test_a_hire_is_dated_by_the_accepted_offer_and_may_lack_a_stage() -> None:
    change = change_of(
        hire_candidate(
            application_id=11,
            candidate_id=22,
            email="a@example.org",
            resolved_at="2026-11-30T09:00:00Z",
        )
    )
    assert change.kind is ChangeKind.HIRED
    assert change.stage is None
    assert change.occurred_at == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def test_greenhouse_documented_hire_shape_with_the_deprecated_job_field() -> None:
    body = json.dumps(
        {
            "action": "hire_candidate",
            "payload": {
                "application": {
                    "id": 46194062,
                    "candidate": {"id": 35897443, "email_addresses": []},
                    "job": {"id": 323753, "name": "Developer"},
                    "offer": {"id": 506409, "resolved_at": None},
                }
            },
        }
    ).encode()
    change = change_of(body)
    assert change.job_name == "Developer"
    assert change.emails == []
    assert change.occurred_at is None  # the receiver dates it on arrival


def test_a_new_application_remembers_its_first_stage() -> None:
    _, application = parse_webhook(
        new_candidate_application(
            application_id=1,
            candidate_id=2,
            email="a@example.org",
            first_name="A",
            last_name="B",
            job_name="Job",
        )
    )
    assert isinstance(application, NewApplication)
    assert application.stage == "Application Review"


@pytest.mark.parametrize(
    "payload",
    [
        {"application": {"id": 1}},
        {"application": {"candidate": {"id": 2}}},
        {"application": {"id": 1, "candidate": {"id": 2}, "rejected_at": "yesterday"}},
        {"application": "rejected"},
        {},
    ],
)
def test_a_malformed_rejection_is_refused(payload: object) -> None:
    body = json.dumps({"action": "reject_candidate", "payload": payload}).encode()
    with pytest.raises(WebhookRejectedError, match="reject_candidate"):
        parse_webhook(body)


def test_other_actions_are_acknowledged_without_a_change() -> None:
    action, reported = parse_webhook(b'{"action": "update_candidate", "payload": {}}')
    assert action == "update_candidate"
    assert reported is None

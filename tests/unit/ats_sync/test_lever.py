"""Lever: the documented webhook signature, what a webhook reports, the delivery id, and how an
opportunity and a posting map into the CRM's records."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_ats_sync.adapters import API_FACTORIES, WEBHOOK_FORMATS
from crm_ats_sync.adapters.lever import LeverWebhooks, open_api
from crm_ats_sync.domain.changes import (
    ApplicationStatus,
    ApplicationTouched,
    JobStatus,
    WebhookRejectedError,
)
from crm_ats_sync.domain.lever import (
    ArchiveReason,
    delivery_id,
    opportunity_snapshot,
    parse_webhook,
    posting_job,
    sign,
    verify_signature,
)
from crm_ats_sync.domain.models import Connection, Provider
from crm_devstack.ats.lever import WEBHOOK_EVENTS, webhook_body
from crm_devstack.ats.lever import LeverWebhooks as SimulatedWebhooks

pytestmark = pytest.mark.unit

TRIGGERED_AT = 1_764_525_600_000  # 2025-11-30T18:00:00Z
IDS = {
    "opportunityId": "7f1c3a2e-0d6b-4c53-9b0e-2a1f4c5d6e7f",
    "candidateId": "7f1c3a2e-0d6b-4c53-9b0e-2a1f4c5d6e7f",
    "contactId": "c0ffee00-1111-4222-8333-444455556666",
}


def body(event: str = "candidateStageChange", **data: Any) -> bytes:
    return webhook_body("secret", event, IDS | data, TRIGGERED_AT)


def test_the_signature_is_a_hex_hmac_sha256_of_the_token_and_triggered_at() -> None:
    document = json.loads(body())
    expected = hmac.new(
        b"secret", f"{document['token']}{TRIGGERED_AT}".encode(), hashlib.sha256
    ).hexdigest()
    assert document["signature"] == expected == sign("secret", document["token"], TRIGGERED_AT)
    verify_signature(["secret"], body())
    verify_signature(["new secret", "secret"], body())


def tampered(**changes: Any) -> bytes:
    document = json.loads(body())
    document.update(changes)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    "delivery",
    [
        webhook_body("other secret", "candidateHired", IDS, TRIGGERED_AT),
        tampered(signature="00" * 32),
        tampered(triggeredAt=TRIGGERED_AT + 1),
        tampered(token="another token"),
        tampered(signature=None),
        tampered(token=None),
        tampered(triggeredAt=None),
        b"",
        b"[]",
        b"not json",
    ],
)
def test_a_wrong_or_missing_signature_is_rejected(delivery: bytes) -> None:
    with pytest.raises(WebhookRejectedError):
        verify_signature(["secret"], delivery)


def test_the_data_is_not_signed_so_it_only_names_the_opportunity_to_read_back() -> None:
    # Lever signs the token and time only: a changed `data` still verifies, which is why no
    # state in it is believed.
    forged = tampered(data=IDS | {"toArchived": {"reason": "hired", "archivedAt": 1}})
    verify_signature(["secret"], forged)
    assert parse_webhook(forged)[1] == ApplicationTouched(
        ats_application_id=IDS["opportunityId"],
        occurred_at=datetime(2025, 11, 30, 18, 0, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    "event",
    [
        "applicationCreated",
        "candidateStageChange",
        "candidateArchiveChange",
        "candidateHired",
        "candidateDeleted",
    ],
)
def test_every_opportunity_event_names_the_opportunity_to_read_back(event: str) -> None:
    name, report = parse_webhook(body(event, toStageId="offer"))
    assert name == event
    assert report == ApplicationTouched(
        ats_application_id=IDS["opportunityId"],
        occurred_at=datetime(2025, 11, 30, 18, 0, tzinfo=UTC),
    )


def test_interview_and_contact_events_are_recognised_but_not_used() -> None:
    assert parse_webhook(body("interviewCreated")) == ("interviewCreated", None)
    assert parse_webhook(body("contactUpdated")) == ("contactUpdated", None)


@pytest.mark.parametrize(
    "delivery",
    [
        b"{}",
        tampered(event=None),
        tampered(data={"contactId": "c"}),
        tampered(data="not an object"),
        tampered(triggeredAt="soon"),
    ],
)
def test_a_malformed_body_is_rejected(delivery: bytes) -> None:
    with pytest.raises(WebhookRejectedError):
        parse_webhook(delivery)


def test_a_delivery_is_identified_by_its_signed_token_time_event_and_opportunity() -> None:
    delivery = body()
    document = json.loads(delivery)
    assert delivery_id(delivery) == delivery_id(delivery)
    assert delivery_id(delivery) == (
        f"{document['token']}:{TRIGGERED_AT}:candidateStageChange:{IDS['opportunityId']}"
    )
    # The same token and time for another opportunity (a bulk action) is another delivery.
    other = tampered(data=IDS | {"opportunityId": "another"})
    assert delivery_id(other) != delivery_id(delivery)
    assert delivery_id(tampered(token=None)) == ""
    assert delivery_id(b"not json") == ""


def test_lever_is_registered_for_webhooks_and_the_api() -> None:
    assert isinstance(WEBHOOK_FORMATS[Provider.LEVER], LeverWebhooks)
    assert API_FACTORIES[Provider.LEVER] is open_api


REASONS = {
    "hired": ArchiveReason(id="hired", text="Hired", hired=True),
    "underqualified": ArchiveReason(id="underqualified", text="Underqualified", hired=False),
}
POSTINGS = {"posting-1": "Platform Engineer"}


def opportunity(**fields: Any) -> dict[str, Any]:
    return {
        "id": "opp-1",
        "name": "María José García",
        "contact": "contact-1",
        "emails": ["maria@example.org", "mj@example.com"],
        "stage": {"id": "on-site", "text": "On-site interview"},
        "archived": None,
        "applications": [
            {"id": "app-1", "type": "posting", "posting": "posting-1", "createdAt": TRIGGERED_AT}
        ],
        "createdAt": TRIGGERED_AT - 1000,
        "updatedAt": TRIGGERED_AT + 5000,
    } | fields


def test_an_active_opportunity_maps_its_person_stage_posting_and_time() -> None:
    snapshot = opportunity_snapshot(opportunity(), REASONS, POSTINGS)
    assert snapshot.ats_application_id == "opp-1"
    assert snapshot.ats_candidate_id == "contact-1"
    assert snapshot.emails == ["maria@example.org", "mj@example.com"]
    assert (snapshot.first_name, snapshot.last_name) == ("María", "José García")
    assert snapshot.stage == "On-site interview"
    assert snapshot.status is ApplicationStatus.ACTIVE
    assert (snapshot.ats_job_id, snapshot.job_name) == ("posting-1", "Platform Engineer")
    assert snapshot.applied_at == datetime(2025, 11, 30, 18, 0, tzinfo=UTC)
    assert snapshot.changed_at == datetime(2025, 11, 30, 18, 0, 5, tzinfo=UTC)
    assert snapshot.rejection_reason is None
    assert snapshot.prospect is False


def test_archived_with_a_non_hired_reason_is_a_rejection_with_its_text() -> None:
    archived = opportunity(archived={"reason": "underqualified", "archivedAt": TRIGGERED_AT})
    snapshot = opportunity_snapshot(archived, REASONS, POSTINGS)
    assert snapshot.status is ApplicationStatus.REJECTED
    assert snapshot.rejection_reason == "Underqualified"
    # The stage it had reached stays: "rejected at final interview" is a segment.
    assert snapshot.stage == "On-site interview"


def test_archived_with_the_hired_reason_is_a_hire() -> None:
    hired = opportunity(archived={"reason": "hired", "archivedAt": TRIGGERED_AT})
    snapshot = opportunity_snapshot(hired, REASONS, POSTINGS)
    assert (snapshot.status, snapshot.rejection_reason) == (ApplicationStatus.HIRED, None)


def test_archived_with_an_unknown_reason_is_a_rejection_without_a_reason() -> None:
    archived = opportunity(archived={"reason": "gone", "archivedAt": TRIGGERED_AT})
    snapshot = opportunity_snapshot(archived, REASONS, POSTINGS)
    assert (snapshot.status, snapshot.rejection_reason) == (ApplicationStatus.REJECTED, None)


def test_a_lead_without_a_posting_is_a_prospect() -> None:
    lead = opportunity(applications=[], stage="lead-new", name="Zoë")
    snapshot = opportunity_snapshot(lead, REASONS, POSTINGS)
    assert snapshot.prospect is True
    assert (snapshot.ats_job_id, snapshot.job_name, snapshot.stage) == (None, None, None)
    assert (snapshot.first_name, snapshot.last_name) == ("Zoë", None)
    assert snapshot.applied_at == datetime(2025, 11, 30, 17, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("published", JobStatus.OPEN),
        ("internal", JobStatus.OPEN),
        ("closed", JobStatus.CLOSED),
        ("draft", JobStatus.DRAFT),
        ("pending", JobStatus.DRAFT),
    ],
)
def test_a_posting_is_a_job_with_its_state_team_and_locations(
    state: str, status: JobStatus
) -> None:
    job = posting_job(
        {
            "id": "posting-1",
            "text": "Platform Engineer",
            "state": state,
            "updatedAt": TRIGGERED_AT,
            "categories": {
                "team": "Platform",
                "department": "Engineering",
                "location": "Berlin",
                "allLocations": ["Berlin", "Remote"],
            },
        }
    )
    assert (job.ats_job_id, job.name, job.status) == ("posting-1", "Platform Engineer", status)
    assert job.departments == ["Engineering", "Platform"]
    assert job.locations == ["Berlin", "Remote"]
    assert job.changed_at == datetime(2025, 11, 30, 18, 0, tzinfo=UTC)


NOW = datetime(2026, 12, 4, 7, 0, tzinfo=UTC)


def lever_connection(**fields: Any) -> Connection:
    return Connection(
        tenant_id="t1",
        provider=Provider.LEVER,
        name="Lever",
        webhook_secret="the connection's own",
        created_by="admin-1",
        **fields,
    )


def test_each_event_is_verified_with_the_signature_token_lever_issued_for_it() -> None:
    issued = SimulatedWebhooks.issued("http://crm.test/hooks")
    connection = lever_connection(ats_webhook_secrets=tuple(issued.tokens.values()))
    accepted = connection.accepted_secrets(NOW)

    for event in WEBHOOK_EVENTS:
        verify_signature(accepted, issued.body(event, IDS, TRIGGERED_AT))
    # Once Lever's tokens are set, the connection's own secret no longer verifies.
    own = SimulatedWebhooks.signed_with("http://crm.test/hooks", "the connection's own")
    with pytest.raises(WebhookRejectedError):
        verify_signature(accepted, own.body("candidateHired", IDS, TRIGGERED_AT))
    with pytest.raises(WebhookRejectedError):
        verify_signature(accepted, webhook_body("a guess", "candidateHired", IDS, TRIGGERED_AT))


def test_without_issued_tokens_the_connection_verifies_with_its_own_secret() -> None:
    connection = lever_connection()
    assert connection.accepted_secrets(NOW) == ["the connection's own"]
    verify_signature(
        connection.accepted_secrets(NOW),
        webhook_body("the connection's own", "candidateHired", IDS, TRIGGERED_AT),
    )


def test_replaced_tokens_are_accepted_until_their_grace_ends() -> None:
    old = SimulatedWebhooks.issued("http://crm.test/hooks")
    new = SimulatedWebhooks.issued("http://crm.test/hooks")
    connection = lever_connection(
        ats_webhook_secrets=tuple(new.tokens.values()),
        previous_ats_webhook_secrets=tuple(old.tokens.values()),
        previous_ats_secrets_until=NOW + timedelta(hours=1),
    )
    old_delivery = old.body("candidateStageChange", IDS, TRIGGERED_AT)

    verify_signature(connection.accepted_secrets(NOW), old_delivery)
    verify_signature(
        connection.accepted_secrets(NOW), new.body("candidateStageChange", IDS, TRIGGERED_AT)
    )
    with pytest.raises(WebhookRejectedError):
        verify_signature(connection.accepted_secrets(NOW + timedelta(hours=1)), old_delivery)
    assert "the connection's own" not in connection.accepted_secrets(NOW)


def test_issued_tokens_are_kept_out_of_the_connection_repr() -> None:
    issued = SimulatedWebhooks.issued("http://crm.test/hooks")
    connection = lever_connection(
        ats_webhook_secrets=tuple(issued.tokens.values()),
        previous_ats_webhook_secrets=("an older token",),
    )
    assert not any(token in repr(connection) for token in issued.tokens.values())
    assert "an older token" not in repr(connection)

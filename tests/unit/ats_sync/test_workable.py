"""Workable's webhooks and SPI answers in the CRM's words: the signature, the delivery id, the
mapping of a candidate's state, and the rate-limit reset."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crm_ats_sync.adapters import API_FACTORIES, WEBHOOK_FORMATS
from crm_ats_sync.adapters.http import AtsHttp
from crm_ats_sync.adapters.workable import WorkableApi, WorkableWebhooks, rate_limit_wait
from crm_ats_sync.domain import workable
from crm_ats_sync.domain.changes import (
    ApplicationChange,
    ApplicationStatus,
    ApplicationTouched,
    ChangeKind,
    JobStatus,
    NewApplication,
    WebhookRejectedError,
)
from crm_ats_sync.domain.models import Connection, Provider

pytestmark = pytest.mark.unit

TOKEN = "account-token"


def _candidate(**overrides: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "id": "1a2b3c",
        "name": "Zoë Ångström",
        "firstname": "Zoë",
        "lastname": "Ångström",
        "job": {"shortcode": "BACKEN00", "title": "Backend Engineer"},
        "stage": "Interview",
        "disqualified": False,
        "disqualification_reason": None,
        "disqualified_at": None,
        "hired_at": None,
        "sourced": False,
        "email": "zoe@example.org",
        "created_at": "2026-11-02T09:00:00Z",
        "updated_at": "2026-11-20T14:30:00Z",
    }
    return candidate | overrides


def _body(event: str, **overrides: Any) -> bytes:
    return json.dumps(
        {
            "event_type": event,
            "fired_at": "2026-11-20T14:30:01Z",
            "resource_type": "candidate",
            "data": _candidate(**overrides),
        }
    ).encode()


def test_the_signature_is_the_hex_hmac_of_the_body_under_the_account_token() -> None:
    body = _body("candidate_created")
    formats = WorkableWebhooks()
    signature = workable.sign(TOKEN, body)
    assert len(signature) == 64
    formats.verify([TOKEN], {"x-workable-signature": signature}, body)
    formats.verify(["other", TOKEN], {"x-workable-signature": signature.upper()}, body)
    for headers in ({}, {"x-workable-signature": workable.sign("wrong", body)}):
        with pytest.raises(WebhookRejectedError):
            formats.verify([TOKEN], headers, body)
    with pytest.raises(WebhookRejectedError):
        formats.verify([TOKEN], {"x-workable-signature": signature}, body + b" ")
    with pytest.raises(WebhookRejectedError):
        formats.verify([], {"x-workable-signature": signature}, body)


def test_a_workable_connection_verifies_with_its_api_key_not_a_webhook_secret() -> None:
    now = datetime(2026, 12, 4, tzinfo=UTC)
    common: dict[str, Any] = {"tenant_id": "t", "name": "W", "created_by": "u"}
    connection = Connection(
        provider=Provider.WORKABLE, webhook_secret="unused", api_key=TOKEN, **common
    )
    assert connection.accepted_secrets(now) == [TOKEN]
    without_key = Connection(provider=Provider.WORKABLE, webhook_secret="unused", **common)
    assert without_key.accepted_secrets(now) == []
    greenhouse = Connection(
        provider=Provider.GREENHOUSE, webhook_secret="s", api_key=TOKEN, **common
    )
    assert greenhouse.accepted_secrets(now) == ["s"]


def test_workable_is_registered_for_webhooks_and_the_api() -> None:
    assert isinstance(WEBHOOK_FORMATS[Provider.WORKABLE], WorkableWebhooks)
    with pytest.raises(ValueError, match="api_base_url"):
        API_FACTORIES[Provider.WORKABLE](base_url=None, api_key=TOKEN)


def test_the_delivery_id_names_the_event_the_candidate_and_its_state() -> None:
    created = workable.delivery_id(_body("candidate_created"))
    assert created == "candidate_created:1a2b3c:2026-11-20T14:30:00Z"
    # A retry with the same state is the same delivery; a later move is another.
    assert workable.delivery_id(_body("candidate_created")) == created
    assert workable.delivery_id(_body("candidate_moved")) != created
    assert workable.delivery_id(
        _body("candidate_moved", updated_at="2026-11-21T08:00:00Z")
    ) != workable.delivery_id(_body("candidate_moved"))
    assert workable.delivery_id(b"not json") == ""


def test_candidate_created_is_a_new_application() -> None:
    event, report = workable.parse_webhook(_body("candidate_created", stage="Applied"))
    assert event == "candidate_created"
    assert report == NewApplication(
        ats_application_id="1a2b3c",
        ats_candidate_id="1a2b3c",
        emails=["zoe@example.org"],
        first_name="Zoë",
        last_name="Ångström",
        job_name="Backend Engineer",
        applied_at=datetime(2026, 11, 2, 9, tzinfo=UTC),
        stage="Applied",
        ats_job_id="BACKEN00",
    )


def test_a_candidate_created_in_the_talent_pool_is_a_prospect() -> None:
    _, report = workable.parse_webhook(_body("candidate_created", job=None, stage="Sourced"))
    assert isinstance(report, NewApplication)
    assert (report.ats_job_id, report.prospect) == (None, True)


@pytest.mark.parametrize(
    ("overrides", "kind", "reason"),
    [
        ({}, ChangeKind.STAGE_CHANGED, None),
        (
            {
                "disqualified": True,
                "disqualification_reason": "Failed final interview",
                "disqualified_at": "2026-11-20T14:30:00Z",
            },
            ChangeKind.REJECTED,
            "Failed final interview",
        ),
        ({"stage": "Hired", "hired_at": "2026-11-20T14:30:00Z"}, ChangeKind.HIRED, None),
        ({"stage": "Hired"}, ChangeKind.HIRED, None),
    ],
)
def test_candidate_moved_is_a_stage_change_rejection_or_hire_by_the_candidates_state(
    overrides: dict[str, Any], kind: ChangeKind, reason: str | None
) -> None:
    event, report = workable.parse_webhook(_body("candidate_moved", **overrides))
    assert event == "candidate_moved"
    assert isinstance(report, ApplicationChange)
    assert report.kind is kind
    assert report.rejection_reason == reason
    assert report.stage == overrides.get("stage", "Interview")
    assert report.job_name == "Backend Engineer"
    # Dated by Workable's last change of the candidate, which orders deliveries.
    assert report.occurred_at == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


def test_a_payload_without_a_state_is_read_back_from_the_api() -> None:
    body = json.dumps(
        {"event_type": "candidate_moved", "data": {"id": "9f", "updated_at": "2026-11-20T10:00Z"}}
    ).encode()
    _, report = workable.parse_webhook(body)
    assert report == ApplicationTouched("9f", datetime(2026, 11, 20, 10, tzinfo=UTC))


@pytest.mark.parametrize(
    "body",
    [b"[]", b"{", b'{"event_type": "candidate_moved"}', b'{"data": {"name": "no id"}}'],
)
def test_a_body_that_is_not_a_candidate_webhook_is_refused(body: bytes) -> None:
    with pytest.raises(WebhookRejectedError):
        workable.parse_webhook(body)


def test_a_bad_time_in_a_signed_payload_is_malformed() -> None:
    with pytest.raises(WebhookRejectedError, match="malformed"):
        workable.parse_webhook(_body("candidate_moved", updated_at="yesterday"))


def test_a_candidate_of_the_api_is_a_snapshot_and_one_without_a_job_a_prospect() -> None:
    rejected = workable.snapshot(
        _candidate(disqualified=True, disqualification_reason="Position filled")
    )
    assert rejected.status is ApplicationStatus.REJECTED
    assert rejected.rejection_reason == "Position filled"
    assert rejected.ats_job_id == "BACKEN00"
    assert rejected.changed_at == datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    assert not rejected.prospect
    pooled = workable.snapshot(_candidate(job=None, stage="Sourced", sourced=True))
    assert pooled.prospect
    assert pooled.ats_job_id is None
    assert pooled.job_name is None
    assert pooled.status is ApplicationStatus.ACTIVE
    assert pooled.rejection_reason is None


def test_a_job_is_keyed_by_its_shortcode_and_its_state_mapped() -> None:
    job = {
        "id": "5000",
        "shortcode": "DATAEN01",
        "title": "Data Engineer",
        "full_title": "Data Engineer - Lisbon",
        "state": "published",
        "department": "Engineering",
        "location": {"city": "Lisbon", "country": "Portugal"},
        "created_at": "2022-01-01T00:00:00Z",
    }
    mapped = workable.ats_job(job)
    assert (mapped.ats_job_id, mapped.name, mapped.status) == (
        "DATAEN01",
        "Data Engineer - Lisbon",
        JobStatus.OPEN,
    )
    assert mapped.departments == ["Engineering"]
    assert mapped.locations == ["Lisbon, Portugal"]
    assert workable.ats_job(job | {"state": "archived"}).status is JobStatus.CLOSED
    assert workable.ats_job(job | {"state": "draft"}).status is JobStatus.DRAFT


def test_the_rate_limit_reset_is_read_as_unix_seconds_or_a_date() -> None:
    now = datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)
    assert workable.rate_limit_wait(str(int(now.timestamp()) + 4), now=now) == 4.0
    assert workable.rate_limit_wait(str(int(now.timestamp() * 1000) + 1500), now=now) == 1.5
    assert workable.rate_limit_wait("2026-12-04T10:00:03Z", now=now) == 3.0
    assert workable.rate_limit_wait(str(int(now.timestamp()) - 4), now=now) == 0.0
    assert workable.rate_limit_wait("later", now=now) is None
    assert workable.rate_limit_wait(None, now=now) is None


async def test_a_429_waits_until_workables_rate_limit_reset_and_a_5xx_backs_off() -> None:
    reset = str(int(time.time()) + 3)
    answers = [
        httpx.Response(429, headers={"X-Rate-Limit-Reset": reset}),
        httpx.Response(503, headers={"X-Rate-Limit-Reset": reset}),
        httpx.Response(200, json={"candidates": [], "paging": {}}),
    ]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: answers.pop(0)))
    http = AtsHttp(client, sleep=sleep, jitter=lambda: 0.5, wait_hint=rate_limit_wait)
    api = WorkableApi(http, "https://acme.workable.com/spi/v3")
    page = await api.applications_page(updated_after=None, cursor=None)
    await api.aclose()
    assert page.items == []
    assert page.next_cursor is None
    assert 1.0 < waits[0] <= 3.0  # until the reset, not a backoff
    assert waits[1] == 1.0  # the 503: backoff (0.5 * 2, jitter 0.5), whatever the reset says

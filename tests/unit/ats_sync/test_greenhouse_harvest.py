"""Greenhouse Harvest API records in the CRM's words: applications with their candidate, jobs,
the `Link` header's next page, and the bodies and answers of a push. Records are shaped like
the examples in Greenhouse's Harvest v1 documentation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crm_ats_sync.adapters.greenhouse import GreenhouseApi
from crm_ats_sync.adapters.http import AtsHttp
from crm_ats_sync.application.ports import AtsUnavailableError
from crm_ats_sync.domain.changes import ApplicationStatus, JobStatus, Prospect
from crm_ats_sync.domain.greenhouse import (
    HarvestRecordError,
    job_from_harvest,
    next_link,
    person_body,
    pushed_from_harvest,
    snapshot_from_harvest,
)

pytestmark = pytest.mark.unit

CANDIDATE: dict[str, Any] = {
    "id": 53883394,
    "first_name": "Zoë",
    "last_name": "Núñez",
    "email_addresses": [
        {"value": "zoe@work.example", "type": "work"},
        {"value": "zoe@home.example", "type": "personal"},
    ],
}


def _application(**changes: Any) -> dict[str, Any]:
    return {
        "id": 985314,
        "candidate_id": 53883394,
        "prospect": False,
        "applied_at": "2016-03-26T20:11:39.000Z",
        "rejected_at": None,
        "last_activity_at": "2016-08-27T16:13:15.000Z",
        "rejection_reason": None,
        "jobs": [{"id": 123, "name": "Accounting Manager"}],
        "status": "active",
        "current_stage": {"id": 62828, "name": "Recruiter Phone Screen"},
        "prospect_detail": {"prospect_pool": None, "prospect_stage": None, "prospect_owner": None},
    } | changes


def test_next_link_follows_rel_next_even_when_urls_hold_commas() -> None:
    header = (
        '<https://harvest.greenhouse.io/v1/candidates?candidate_ids=1,2&page=2>; rel="next", '
        '<https://harvest.greenhouse.io/v1/candidates?candidate_ids=1,2&page=1>; rel="prev", '
        '<https://harvest.greenhouse.io/v1/candidates?candidate_ids=1,2&page=9>; rel="last"'
    )
    assert next_link(header) == (
        "https://harvest.greenhouse.io/v1/candidates?candidate_ids=1,2&page=2"
    )
    assert next_link('<https://h/v1/jobs?page=1>; rel="prev"') is None
    assert next_link(None) is None


def test_a_rejected_application_keeps_its_stage_reason_and_later_time() -> None:
    snapshot = snapshot_from_harvest(
        _application(
            status="rejected",
            rejected_at="2016-08-17T21:08:29.686Z",
            rejection_reason={
                "id": 8,
                "name": "Lacking skill(s)/qualification(s)",
                "type": {"id": 1, "name": "We rejected them"},
            },
        ),
        CANDIDATE,
    )
    assert snapshot.status is ApplicationStatus.REJECTED
    assert snapshot.stage == "Recruiter Phone Screen"
    assert snapshot.rejection_reason == "Lacking skill(s)/qualification(s)"
    assert snapshot.changed_at == datetime(2016, 8, 27, 16, 13, 15, tzinfo=UTC)
    assert (snapshot.ats_application_id, snapshot.ats_candidate_id) == ("985314", "53883394")
    assert (snapshot.first_name, snapshot.last_name) == ("Zoë", "Núñez")
    assert snapshot.emails == ["zoe@work.example", "zoe@home.example"]
    assert (snapshot.job_name, snapshot.ats_job_id) == ("Accounting Manager", "123")
    assert snapshot.applied_at == datetime(2016, 3, 26, 20, 11, 39, tzinfo=UTC)


def test_hired_active_and_converted_statuses() -> None:
    assert snapshot_from_harvest(_application(status="hired"), CANDIDATE).status is (
        ApplicationStatus.HIRED
    )
    active = snapshot_from_harvest(_application(), CANDIDATE)
    assert active.status is ApplicationStatus.ACTIVE
    assert active.rejection_reason is None
    assert snapshot_from_harvest(_application(status="converted"), CANDIDATE).status is (
        ApplicationStatus.ACTIVE
    )


def test_a_prospect_without_a_job_stage_reports_its_prospect_stage() -> None:
    snapshot = snapshot_from_harvest(
        _application(
            prospect=True,
            jobs=[],
            current_stage=None,
            prospect_detail={
                "prospect_pool": {"id": 227, "name": "Opted In: In-Person Event"},
                "prospect_stage": {"id": 826, "name": "In Discussion"},
                "prospect_owner": None,
            },
        ),
        CANDIDATE,
    )
    assert snapshot.prospect
    assert snapshot.stage == "In Discussion"
    assert (snapshot.job_name, snapshot.ats_job_id) == (None, None)


def test_an_application_whose_person_is_gone_has_no_emails() -> None:
    snapshot = snapshot_from_harvest(_application(), None)
    assert snapshot.emails == []
    assert snapshot.first_name is None


def test_a_record_that_is_not_an_application_is_refused() -> None:
    with pytest.raises(HarvestRecordError):
        snapshot_from_harvest({"id": 1}, CANDIDATE)
    with pytest.raises(HarvestRecordError):
        snapshot_from_harvest(_application(status="archived"), CANDIDATE)


def test_a_job_keeps_its_status_departments_and_office_locations() -> None:
    job = job_from_harvest(
        {
            "id": 6404,
            "name": "Archaeologist",
            "status": "closed",
            "updated_at": "2013-12-12T14:42:58Z",
            "departments": [{"id": 25907, "name": "Exploration"}],
            "offices": [
                {"id": 47012, "name": "New York", "location": {"name": "New York, United States"}},
                {"id": 47013, "name": "Remote", "location": None},
            ],
        }
    )
    assert (job.ats_job_id, job.name, job.status) == ("6404", "Archaeologist", JobStatus.CLOSED)
    assert job.changed_at == datetime(2013, 12, 12, 14, 42, 58, tzinfo=UTC)
    assert job.departments == ["Exploration"]
    assert job.locations == ["New York, United States", "Remote"]
    with pytest.raises(HarvestRecordError):
        job_from_harvest({"id": 1, "name": "X", "status": "paused"})


def test_a_push_is_a_prospect_without_a_job_and_a_candidate_application_with_one() -> None:
    prospect = Prospect(
        candidate_id="c1", email="ana@example.com", first_name="Ana", last_name="Ferreira"
    )
    assert person_body(prospect) == {
        "first_name": "Ana",
        "last_name": "Ferreira",
        "email_addresses": [{"value": "ana@example.com", "type": "personal"}],
    }
    for_job = Prospect(
        candidate_id="c1",
        email="ana@example.com",
        first_name=None,
        last_name=None,
        ats_job_id="266926",
    )
    body = person_body(for_job)
    assert (body["first_name"], body["last_name"]) == ("ana", "-")
    assert body["applications"] == [{"job_id": 266926}]


def test_the_answer_to_a_push_gives_the_person_and_the_right_application() -> None:
    answered = {
        "id": 29843268,
        "applications": [
            {"id": 1, "prospect": False, "jobs": [{"id": 4614}]},
            {"id": 38776657, "prospect": True, "jobs": []},
        ],
    }
    pushed = pushed_from_harvest(answered, ats_job_id=None)
    assert (pushed.ats_candidate_id, pushed.ats_application_id) == ("29843268", "38776657")
    assert pushed_from_harvest(answered, ats_job_id="4614").ats_application_id == "1"
    # Greenhouse may answer a new prospect before its record is complete: only the id.
    truncated = pushed_from_harvest({"id": 29843268}, ats_job_id=None)
    assert truncated.ats_application_id is None


def _api(answer: httpx.Response, **options: Any) -> tuple[GreenhouseApi, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    client = httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="https://harvest.test/v1"
    )
    return GreenhouseApi(AtsHttp(client, attempts=1), **options), seen


async def test_a_push_without_a_greenhouse_user_is_refused_before_calling() -> None:
    api, seen = _api(httpx.Response(201, json={"id": 1}))
    with pytest.raises(AtsUnavailableError, match="Greenhouse user"):
        await api.push_prospect(
            Prospect(candidate_id="c", email="a@b.c", first_name="A", last_name="B")
        )
    assert seen == []


async def test_a_cursor_from_another_host_is_never_followed_with_the_key() -> None:
    api, seen = _api(httpx.Response(200, json=[]))
    with pytest.raises(AtsUnavailableError, match="cursor"):
        await api.jobs_page(updated_after=None, cursor="https://evil.test/v1/jobs?page=2")
    assert seen == []


async def test_a_refused_push_says_what_greenhouse_said() -> None:
    refusal = httpx.Response(
        422,
        json={
            "message": "Validation error",
            "errors": [{"field": "job_id", "message": "unknown job"}],
        },
    )
    api, seen = _api(refusal, on_behalf_of="4080")
    with pytest.raises(AtsUnavailableError, match=r"422.*job_id: unknown job"):
        await api.push_prospect(
            Prospect(candidate_id="c", email="a@b.c", first_name="A", last_name="B", ats_job_id="9")
        )
    assert seen[0].headers["On-Behalf-Of"] == "4080"
    assert seen[0].url.path == "/v1/candidates"

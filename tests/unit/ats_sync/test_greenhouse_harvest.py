"""Greenhouse Harvest API v3 in the CRM's words: the connection's client credentials, bearer
tokens (cached, renewed before expiry, replaced once on a 401), applications with their
candidate, jobs, the `Link` header's next page, and the bodies and answers of a push. Records
are shaped like the examples of Greenhouse's Harvest documentation (v1 field names, which the
adapter assumes v3 keeps; see the adapter's docstring)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from crm_ats_sync.adapters.greenhouse import (
    DEFAULT_TOKEN_URL,
    GreenhouseApi,
    HarvestToken,
    open_api,
    token_url_for,
)
from crm_ats_sync.adapters.http import AtsHttp
from crm_ats_sync.application.ports import (
    AtsCredentialsRefused,
    AtsRequestRefused,
    AtsUnavailableError,
)
from crm_ats_sync.domain.changes import ApplicationStatus, JobStatus, Prospect
from crm_ats_sync.domain.greenhouse import (
    HarvestRecordError,
    client_credentials,
    harvest_filter_time,
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
        '<https://harvest.greenhouse.io/v3/candidates?ids=1,2&cursor=b2s>; rel="next", '
        '<https://harvest.greenhouse.io/v3/candidates?ids=1,2&cursor=cHJldg>; rel="prev"'
    )
    assert next_link(header) == "https://harvest.greenhouse.io/v3/candidates?ids=1,2&cursor=b2s"
    assert next_link('<https://h/v3/jobs?cursor=cHJldg>; rel="prev"') is None
    assert next_link(None) is None


def test_the_api_key_holds_the_client_id_and_secret() -> None:
    assert client_credentials("abc123:s3cr:et") == ("abc123", "s3cr:et")
    for wrong in ("just-a-v1-key", ":secret", "client:", " : "):
        with pytest.raises(ValueError, match="<client id>:<client secret>"):
            client_credentials(wrong)


async def test_an_api_key_not_in_that_form_is_reported_on_opening() -> None:
    with pytest.raises(AtsUnavailableError, match="<client id>:<client secret>"):
        open_api(base_url=None, api_key="a-harvest-v1-key")


def test_the_updated_at_filter_is_at_or_after_in_utc() -> None:
    moment = datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)
    assert harvest_filter_time(moment) == "gte|2026-03-01T12:30:05.123Z"


def test_the_token_is_greenhouses_or_at_the_origin_of_another_api_address() -> None:
    assert token_url_for(None) == DEFAULT_TOKEN_URL == "https://auth.greenhouse.io/token"
    assert token_url_for("http://127.0.0.1:8791/v3") == "http://127.0.0.1:8791/token"


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _account(
    answers: list[httpx.Response], clock: _Clock
) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """A client for an account whose token endpoint hands out `token-1`, `token-2`... and whose
    API gives the next of `answers` (200 `[]` when they run out)."""
    seen: list[httpx.Request] = []
    issued = iter(range(1, 100))

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/token":
            return httpx.Response(
                200,
                json={
                    "access_token": f"token-{next(issued)}",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                },
            )
        return answers.pop(0) if answers else httpx.Response(200, json=[])

    auth = HarvestToken("https://auth.test/token", "client", "secret", clock=clock)
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(handler), base_url="https://harvest.test/v3", auth=auth
    )
    return client, seen


async def test_a_token_is_fetched_with_the_client_credentials_and_reused_until_expiry() -> None:
    clock = _Clock()
    client, seen = _account([], clock)
    await client.get("/jobs")
    await client.get("/jobs")
    token_request, first, second = seen
    assert token_request.method == "POST"
    assert token_request.url == "https://auth.test/token"
    assert token_request.headers["Authorization"] == "Basic Y2xpZW50OnNlY3JldA=="
    assert token_request.content == b"grant_type=client_credentials"
    assert first.headers["Authorization"] == second.headers["Authorization"] == "Bearer token-1"

    # A minute before the hour is up, the next call fetches a new token first.
    clock.now += 3600 - 60
    await client.get("/jobs")
    assert [r.url.path for r in seen[3:]] == ["/token", "/v3/jobs"]
    assert seen[-1].headers["Authorization"] == "Bearer token-2"
    await client.aclose()


async def test_a_401_gets_one_new_token_and_one_retry_only() -> None:
    clock = _Clock()
    client, seen = _account([httpx.Response(401), httpx.Response(200, json=[{"id": 1}])], clock)
    answer = await client.get("/jobs")
    assert answer.json() == [{"id": 1}]
    assert [r.url.path for r in seen] == ["/token", "/v3/jobs", "/token", "/v3/jobs"]
    assert seen[-1].headers["Authorization"] == "Bearer token-2"

    # A second 401 in a row is the answer: the credentials no longer work.
    client2, seen2 = _account([httpx.Response(401), httpx.Response(401)], clock)
    assert (await client2.get("/jobs")).status_code == 401
    assert len(seen2) == 4
    await client.aclose()
    await client2.aclose()


async def test_refused_client_credentials_are_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_client"})

    client = httpx.AsyncClient(
        transport=httpx.MockTransport(handler),
        base_url="https://harvest.test/v3",
        auth=HarvestToken("https://auth.test/token", "client", "wrong"),
    )
    # Credentials refused, not the ATS away: a backfill stops at once instead of asking again.
    with pytest.raises(AtsCredentialsRefused, match="refused the client credentials \\(401\\)"):
        await client.get("/jobs")
    await client.aclose()


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


def test_an_application_naming_its_job_by_id_only_keeps_the_id() -> None:
    snapshot = snapshot_from_harvest(
        _application(jobs=None, job_id=4614, updated_at="2016-09-01T00:00:00Z"), CANDIDATE
    )
    assert (snapshot.ats_job_id, snapshot.job_name) == ("4614", None)
    assert snapshot.changed_at == datetime(2016, 9, 1, tzinfo=UTC)


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
        transport=httpx.MockTransport(handler), base_url="https://harvest.test/v3"
    )
    return GreenhouseApi(AtsHttp(client, attempts=1), **options), seen


async def test_a_cursor_from_another_host_is_never_followed_with_the_key() -> None:
    api, seen = _api(httpx.Response(200, json=[]))
    with pytest.raises(AtsUnavailableError, match="cursor"):
        await api.jobs_page(updated_after=None, cursor="https://evil.test/v3/jobs?cursor=x")
    assert seen == []


async def test_a_refused_push_says_what_greenhouse_said() -> None:
    refusal = httpx.Response(
        422,
        json={
            "message": "Validation error",
            "errors": [{"field": "job_id", "message": "unknown job"}],
        },
    )
    api, seen = _api(refusal)
    with pytest.raises(AtsRequestRefused, match=r"422.*job_id: unknown job"):
        await api.push_prospect(
            Prospect(candidate_id="c", email="a@b.c", first_name="A", last_name="B", ats_job_id="9")
        )
    # v3 has no On-Behalf-Of: the write is the token's user's.
    assert "On-Behalf-Of" not in seen[0].headers
    assert seen[0].url.path == "/v3/candidates"

"""The Greenhouse adapter (Harvest v3) against a simulated Greenhouse account served over HTTP:
a whole seeded history read page by page equals the account's, `updated_after` reads only what
changed, one token serves many calls and an expired one is replaced, 429s are waited out, wrong
client credentials are reported, pushes create people (a repeated push creates a second person,
as Greenhouse does), and changes arrive as signed webhooks the CRM accepts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from crm_ats_sync.adapters import API_FACTORIES, WEBHOOK_FORMATS
from crm_ats_sync.adapters.greenhouse import GreenhouseApi, open_api
from crm_ats_sync.application.ports import AtsRequestRefused, AtsUnavailableError
from crm_ats_sync.domain.changes import (
    ApplicationChange,
    ApplicationSnapshot,
    ApplicationStatus,
    AtsJob,
    ChangeKind,
    JobStatus,
    Prospect,
)
from crm_ats_sync.domain.models import Provider
from crm_devstack.ats.greenhouse import GreenhouseSimulator, parse_time, start_seeded_simulator
from crm_devstack.greenhouse import GreenhouseWebhooks
from crm_devstack.infra import free_port
from helpers import serving

pytestmark = pytest.mark.integration

CLIENT_ID = "harvest-client"
CLIENT_SECRET = "harvest-secret"
API_KEY = f"{CLIENT_ID}:{CLIENT_SECRET}"
SEEDED = 3000
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# The shared simulator's time: a test that changes it puts it back.
CLOCK = [NOW]


async def _all_applications(
    api: GreenhouseApi, updated_after: datetime | None = None
) -> tuple[list[ApplicationSnapshot], int]:
    items: list[ApplicationSnapshot] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await api.applications_page(updated_after=updated_after, cursor=cursor)
        items += page.items
        pages += 1
        if page.next_cursor is None:
            return items, pages
        cursor = page.next_cursor


async def _all_jobs(api: GreenhouseApi, updated_after: datetime | None) -> list[AtsJob]:
    jobs: list[AtsJob] = []
    cursor: str | None = None
    while True:
        page = await api.jobs_page(updated_after=updated_after, cursor=cursor)
        jobs += page.items
        if page.next_cursor is None:
            return jobs
        cursor = page.next_cursor


@pytest.fixture(scope="module")
def simulator() -> GreenhouseSimulator:
    # A 1 s window keeps the reads of a few thousand applications (about 70 requests) under
    # Harvest's 50-per-window limit slow enough to be throttled, and the test fast.
    built = GreenhouseSimulator(
        CLIENT_ID, CLIENT_SECRET, rate_limit=50, rate_window=1.0, clock=lambda: CLOCK[-1]
    )
    built.seed(SEEDED, years=4, now=NOW)
    return built


@pytest.fixture
async def base_url(simulator: GreenhouseSimulator) -> AsyncIterator[str]:
    async with serving(simulator.app, free_port()) as url:
        yield f"{url}/v3"


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[GreenhouseApi]:
    opened = open_api(base_url=base_url, api_key=API_KEY)
    try:
        yield opened
    finally:
        await opened.aclose()


async def test_the_factory_registered_for_greenhouse_opens_this_adapter(base_url: str) -> None:
    opened = API_FACTORIES[Provider.GREENHOUSE](base_url=base_url, api_key=API_KEY)
    try:
        assert isinstance(opened, GreenhouseApi)
    finally:
        await opened.aclose()


async def test_the_whole_history_read_page_by_page_equals_the_accounts(
    simulator: GreenhouseSimulator, api: GreenhouseApi
) -> None:
    snapshots, pages = await _all_applications(api)

    assert pages == SEEDED // 500
    by_id = {s.ats_application_id: s for s in snapshots}
    assert len(by_id) == len(snapshots) == len(simulator.applications) == SEEDED
    for application_id, record in simulator.applications.items():
        snapshot = by_id[str(application_id)]
        person = simulator.candidates[record["candidate_id"]]
        assert snapshot.ats_candidate_id == str(record["candidate_id"])
        assert snapshot.emails == [e["value"] for e in person["email_addresses"]]
        assert (snapshot.first_name, snapshot.last_name) == (
            person["first_name"],
            person["last_name"],
        )
        assert snapshot.status.value == record["status"]
        assert snapshot.prospect is record["prospect"]
        assert snapshot.changed_at == parse_time(record["last_activity_at"])
        if record["status"] == "rejected":
            assert snapshot.rejection_reason == record["rejection_reason"]["name"]
        if not record["prospect"]:
            assert snapshot.stage == record["current_stage"]["name"]
            assert snapshot.job_name == record["jobs"][0]["name"]
    statuses = {s.status for s in snapshots}
    assert statuses == {
        ApplicationStatus.ACTIVE,
        ApplicationStatus.REJECTED,
        ApplicationStatus.HIRED,
    }
    # Accented names survive the round trip.
    assert any(any(ord(c) > 127 for c in s.last_name or "") for s in snapshots)


async def test_updated_after_reads_only_what_changed_since(
    simulator: GreenhouseSimulator, api: GreenhouseApi
) -> None:
    cutoff = NOW - timedelta(days=180)
    expected = {
        str(i)
        for i, a in simulator.applications.items()
        if parse_time(a["last_activity_at"]) >= cutoff
    }
    recent, _ = await _all_applications(api, updated_after=cutoff)
    assert {s.ats_application_id for s in recent} == expected
    assert 0 < len(expected) < SEEDED

    # An old application that changes is read again by the next incremental pull.
    old = min(simulator.applications)
    later = NOW + timedelta(days=1)
    CLOCK.append(later)
    try:
        await simulator.advance(old, "Final Interview")
    finally:
        CLOCK.pop()
    changed, _ = await _all_applications(api, updated_after=later)
    assert [s.ats_application_id for s in changed] == [str(old)]
    assert changed[0].stage == "Final Interview"


async def test_one_application_and_a_missing_one(
    simulator: GreenhouseSimulator, api: GreenhouseApi
) -> None:
    application_id = max(simulator.applications)
    record = simulator.applications[application_id]
    snapshot = await api.application(str(application_id))
    assert snapshot is not None
    assert snapshot.ats_candidate_id == str(record["candidate_id"])
    assert snapshot.emails
    assert await api.application("999") is None


async def test_jobs_and_their_updated_after(
    simulator: GreenhouseSimulator, api: GreenhouseApi
) -> None:
    jobs = await _all_jobs(api, updated_after=None)
    assert {j.ats_job_id for j in jobs} == {str(i) for i in simulator.jobs}
    assert {j.status for j in jobs} == {JobStatus.OPEN, JobStatus.CLOSED, JobStatus.DRAFT}
    assert all(j.departments and j.locations for j in jobs)
    cutoff = sorted(parse_time(j["updated_at"]) for j in simulator.jobs.values())[6]
    later = await _all_jobs(api, updated_after=cutoff)
    assert {j.ats_job_id for j in later} == {
        str(i) for i, j in simulator.jobs.items() if parse_time(j["updated_at"]) >= cutoff
    }


async def test_a_rate_limit_is_waited_out() -> None:
    tight = GreenhouseSimulator(
        CLIENT_ID, CLIENT_SECRET, rate_limit=2, rate_window=1.0, clock=lambda: NOW
    )
    tight.seed(300, now=NOW)
    async with serving(tight.app, free_port()) as url:
        opened = open_api(base_url=f"{url}/v3", api_key=API_KEY)
        try:
            snapshots, _ = await _all_applications(opened)
        finally:
            await opened.aclose()
    assert len(snapshots) == 300
    assert tight.throttled > 0


async def test_one_token_serves_many_calls_and_an_expired_one_is_replaced(
    simulator: GreenhouseSimulator, base_url: str
) -> None:
    opened = open_api(base_url=base_url, api_key=API_KEY)
    try:
        before = simulator.requests.count("POST /token")
        await opened.jobs_page(updated_after=None, cursor=None)
        await opened.jobs_page(updated_after=None, cursor=None)
        assert simulator.requests.count("POST /token") == before + 1

        # Greenhouse ends the token early: the 401 is answered by one new token and one retry.
        simulator.expire_tokens()
        page = await opened.jobs_page(updated_after=None, cursor=None)
        assert page.items
        assert simulator.requests.count("POST /token") == before + 2
    finally:
        await opened.aclose()


async def test_a_token_is_renewed_before_it_expires() -> None:
    # Greenhouse's tokens last an hour; one lasting just over the adapter's minute of margin
    # is renewed a second after it was issued, without a 401.
    short = GreenhouseSimulator(CLIENT_ID, CLIENT_SECRET, token_lifetime=61, clock=lambda: NOW)
    short.seed(20, now=NOW)
    async with serving(short.app, free_port()) as url:
        opened = open_api(base_url=f"{url}/v3", api_key=API_KEY)
        try:
            await opened.jobs_page(updated_after=None, cursor=None)
            await asyncio.sleep(1.2)
            await opened.jobs_page(updated_after=None, cursor=None)
        finally:
            await opened.aclose()
    assert short.requests.count("POST /token") == 2
    assert all(not r.startswith("GET") or r == "GET /v3/jobs" for r in short.requests)


async def test_wrong_client_credentials_are_reported_as_unavailable(base_url: str) -> None:
    opened = open_api(base_url=base_url, api_key=f"{CLIENT_ID}:not-the-secret")
    try:
        with pytest.raises(AtsUnavailableError, match="client credentials"):
            await opened.jobs_page(updated_after=None, cursor=None)
    finally:
        await opened.aclose()


async def test_a_cursor_is_the_only_parameter_of_a_next_page(
    simulator: GreenhouseSimulator, api: GreenhouseApi, base_url: str
) -> None:
    page = await api.applications_page(updated_after=None, cursor=None)
    assert page.next_cursor is not None
    assert page.next_cursor.startswith(f"{base_url}/applications?cursor=")
    # The simulator holds clients to it, as Greenhouse does.
    async with httpx.AsyncClient() as client:
        token = (
            await client.post(
                f"{base_url.removesuffix('/v3')}/token",
                auth=(CLIENT_ID, CLIENT_SECRET),
                data={"grant_type": "client_credentials"},
            )
        ).json()["access_token"]
        mixed = await client.get(
            f"{page.next_cursor}&per_page=10", headers={"Authorization": f"Bearer {token}"}
        )
    assert mixed.status_code == 422


async def test_a_prospect_is_pushed_and_a_repeat_creates_a_second_person(
    simulator: GreenhouseSimulator, api: GreenhouseApi
) -> None:
    prospect = Prospect(
        candidate_id="crm-1",
        email="renee.lefevre@example.com",
        first_name="Renée",
        last_name="Lefèvre",
    )
    first = await api.push_prospect(prospect)
    again = await api.push_prospect(prospect)

    assert first.ats_application_id is not None
    application = simulator.applications[int(first.ats_application_id)]
    assert application["prospect"] is True
    assert application["candidate_id"] == int(first.ats_candidate_id)
    person = simulator.candidates[int(first.ats_candidate_id)]
    assert (person["first_name"], person["email_addresses"][0]["value"]) == (
        "Renée",
        "renee.lefevre@example.com",
    )
    # Harvest does not deduplicate: the caller must push a CRM candidate once.
    assert again.ats_candidate_id != first.ats_candidate_id


async def test_a_candidate_is_pushed_as_an_application_for_a_job(
    simulator: GreenhouseSimulator, api: GreenhouseApi
) -> None:
    job_id = next(i for i, j in simulator.jobs.items() if j["status"] == "open")
    pushed = await api.push_prospect(
        Prospect(
            candidate_id="crm-2",
            email="inigo@example.com",
            first_name="Iñigo",
            last_name="Sánchez",
            ats_job_id=str(job_id),
        )
    )
    assert pushed.ats_application_id is not None
    application = simulator.applications[int(pushed.ats_application_id)]
    assert application["prospect"] is False
    assert application["jobs"][0]["id"] == job_id
    assert application["current_stage"]["name"] == "Application Review"


async def test_a_push_for_an_unknown_job_is_refused(api: GreenhouseApi) -> None:
    person = Prospect(
        candidate_id="crm-3",
        email="a@example.com",
        first_name="A",
        last_name="B",
        ats_job_id="999",
    )
    with pytest.raises(AtsRequestRefused, match=r"422.*unknown job"):
        await api.push_prospect(person)


async def test_changes_arrive_as_signed_webhooks_the_crm_accepts() -> None:
    received: list[tuple[dict[str, str], bytes]] = []
    receiver = FastAPI()

    @receiver.post("/hook")
    async def hook(request: Request) -> dict[str, Any]:
        received.append((dict(request.headers), await request.body()))
        return {}

    secret = "whsec-greenhouse"
    async with serving(receiver, free_port()) as url:
        changing = GreenhouseSimulator(
            CLIENT_ID,
            CLIENT_SECRET,
            webhooks=GreenhouseWebhooks(url=f"{url}/hook", secret=secret),
            clock=lambda: NOW,
        )
        changing.seed(50, now=NOW)
        job_id = next(i for i, j in changing.jobs.items() if j["status"] == "open")
        applied = await changing.apply(
            first_name="Søren", last_name="Østergaard", email="soren@example.com", job_id=job_id
        )
        await changing.advance(applied["id"])
        await changing.reject(applied["id"], "Took another offer")

    webhooks = WEBHOOK_FORMATS[Provider.GREENHOUSE]
    reports = []
    for headers, body in received:
        webhooks.verify([secret], headers, body)
        assert webhooks.delivery_id(headers, body)
        reports.append(webhooks.parse(body))
    assert [action for action, _ in reports] == [
        "new_candidate_application",
        "candidate_stage_change",
        "reject_candidate",
    ]
    rejection = reports[-1][1]
    assert isinstance(rejection, ApplicationChange)
    assert rejection.kind is ChangeKind.REJECTED
    assert rejection.stage == "Recruiter Phone Screen"
    assert rejection.rejection_reason == "Took another offer"
    assert rejection.emails == ["soren@example.com"]


async def test_the_demo_simulator_serves_a_seeded_account_from_a_thread() -> None:
    server = start_seeded_simulator(free_port(), n_applications=200)
    try:
        opened = open_api(base_url=server.base_url, api_key=server.simulator.api_key)
        try:
            snapshots, _ = await _all_applications(opened)
        finally:
            await opened.aclose()
    finally:
        server.stop()
    assert len(snapshots) == 200

"""The Lever adapter against the simulated Lever account, over real HTTP: every page of a few
thousand opportunities read once and mapped as the account holds them, the updated-since filter,
rate limiting waited out (and given up on), a wrong API key, and idempotent pushes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from crm_ats_sync.adapters.http import AtsHttp
from crm_ats_sync.adapters.lever import LeverApi, open_api
from crm_ats_sync.application.ports import AtsUnavailableError
from crm_ats_sync.domain.changes import (
    ApplicationSnapshot,
    ApplicationStatus,
    JobStatus,
    Prospect,
)
from crm_devstack.ats.lever import ARCHIVE_REASONS, STAGE_NAMES, LeverSimulator
from crm_devstack.infra import free_port
from helpers import serving, unique

pytestmark = pytest.mark.integration

API_KEY = "lever-test-key"
N_OPPORTUNITIES = 3000
HIRED_REASONS = {r for r, _, kind in ARCHIVE_REASONS if kind == "hired"}
REASON_TEXTS = {r: text for r, text, _ in ARCHIVE_REASONS}


@dataclass
class Account:
    simulator: LeverSimulator
    api_url: str


@pytest.fixture(scope="module")
async def account() -> AsyncIterator[Account]:
    # Generous limits: this module measures pagination and mapping, not throttling.
    simulator = LeverSimulator(API_KEY, rate_per_second=10_000, burst=10_000)
    simulator.seed(N_OPPORTUNITIES, years=5)
    async with serving(simulator.app, free_port()) as url:
        yield Account(simulator, f"{url}/v1")


@pytest.fixture
async def api(account: Account) -> AsyncIterator[LeverApi]:
    opened = open_api(base_url=account.api_url, api_key=API_KEY)
    yield opened
    await opened.aclose()


async def read_all(
    api: LeverApi, updated_after: datetime | None = None
) -> list[ApplicationSnapshot]:
    snapshots: list[ApplicationSnapshot] = []
    cursor: str | None = None
    while True:
        page = await api.applications_page(updated_after=updated_after, cursor=cursor)
        snapshots.extend(page.items)
        if page.next_cursor is None:
            return snapshots
        cursor = page.next_cursor


def expected_status(opportunity: dict[str, object]) -> ApplicationStatus:
    archived = opportunity["archived"]
    if not isinstance(archived, dict):
        return ApplicationStatus.ACTIVE
    if archived["reason"] in HIRED_REASONS:
        return ApplicationStatus.HIRED
    return ApplicationStatus.REJECTED


async def test_every_page_read_once_equals_the_account(account: Account, api: LeverApi) -> None:
    snapshots = await read_all(api)

    ids = [s.ats_application_id for s in snapshots]
    assert len(ids) == len(set(ids)) == N_OPPORTUNITIES
    assert set(ids) == set(account.simulator.opportunities)
    postings = {p["id"]: p["text"] for p in account.simulator.postings}
    for snapshot in snapshots:
        opportunity = account.simulator.opportunities[snapshot.ats_application_id]
        assert snapshot.ats_candidate_id == opportunity["contact"]
        assert snapshot.emails == opportunity["emails"]
        assert snapshot.stage == STAGE_NAMES[opportunity["stage"]]
        assert snapshot.status is expected_status(opportunity)
        assert snapshot.changed_at == datetime.fromtimestamp(opportunity["updatedAt"] / 1000, UTC)
        if snapshot.status is ApplicationStatus.REJECTED:
            assert snapshot.rejection_reason == REASON_TEXTS[opportunity["archived"]["reason"]]
        applications = opportunity["applications"]
        assert snapshot.prospect is (not applications)
        if applications:
            assert snapshot.job_name == postings[applications[0]["posting"]]
    # The seeded history has what the CRM's segments look for.
    statuses = {s.status for s in snapshots}
    assert statuses == set(ApplicationStatus)
    assert any(s.prospect for s in snapshots)
    assert any(s.first_name and not s.first_name.isascii() for s in snapshots)
    assert len({s.ats_candidate_id for s in snapshots}) < N_OPPORTUNITIES  # people who re-applied
    years = {s.applied_at.year for s in snapshots if s.applied_at}
    assert len(years) >= 5


async def test_the_updated_filter_reads_only_what_changed_since(
    account: Account, api: LeverApi
) -> None:
    updated = sorted(o["updatedAt"] for o in account.simulator.opportunities.values())
    cutoff_ms = updated[int(len(updated) * 0.9)]
    cutoff = datetime.fromtimestamp(cutoff_ms / 1000, UTC)

    recent = await read_all(api, cutoff)

    expected = {
        i for i, o in account.simulator.opportunities.items() if o["updatedAt"] >= cutoff_ms
    }
    assert {s.ats_application_id for s in recent} == expected
    assert 0 < len(expected) < N_OPPORTUNITIES

    # An old opportunity moving on comes back in the next incremental read, with its new stage.
    oldest = min(account.simulator.opportunities.values(), key=lambda o: o["updatedAt"])
    await account.simulator.advance(oldest["id"], "final-interview")
    again = {s.ats_application_id: s for s in await read_all(api, cutoff)}
    assert again[oldest["id"]].stage == "Final interview"
    assert set(again) == expected | {oldest["id"]}


async def test_one_opportunity_is_read_back_and_a_missing_one_is_none(
    account: Account, api: LeverApi
) -> None:
    opportunity = next(iter(account.simulator.opportunities.values()))
    snapshot = await api.application(opportunity["id"])
    assert snapshot is not None
    assert snapshot.ats_application_id == opportunity["id"]
    assert snapshot.status is expected_status(opportunity)
    assert await api.application("no-such-opportunity") is None


async def test_a_posting_added_after_the_first_read_is_named(
    account: Account, api: LeverApi
) -> None:
    await api.applications_page(updated_after=None, cursor=None)  # names read once here
    posting = account.simulator.add_posting("Staff Data Engineer", team="Data", location="Porto")
    applied = await account.simulator.apply(
        name="Inês Gonçalves", email=f"{unique('ines')}@example.org", posting_id=posting["id"]
    )

    snapshot = await api.application(applied["id"])

    assert snapshot is not None
    assert (snapshot.job_name, snapshot.stage) == ("Staff Data Engineer", "New applicant")
    assert (snapshot.first_name, snapshot.last_name) == ("Inês", "Gonçalves")


async def test_postings_are_read_as_jobs(account: Account, api: LeverApi) -> None:
    page = await api.jobs_page(updated_after=None, cursor=None)
    assert page.next_cursor is None
    assert {j.ats_job_id for j in page.items} == {p["id"] for p in account.simulator.postings}
    assert {j.status for j in page.items} == set(JobStatus)
    latest = max(p["updatedAt"] for p in account.simulator.postings)
    since = await api.jobs_page(
        updated_after=datetime.fromtimestamp(latest / 1000, UTC), cursor=None
    )
    assert [j.ats_job_id for j in since.items] == [
        p["id"] for p in account.simulator.postings if p["updatedAt"] == latest
    ]


async def test_a_push_creates_the_opportunity_once(account: Account, api: LeverApi) -> None:
    posting = next(p for p in account.simulator.postings if p["state"] == "published")
    email = f"{unique('pushed')}@example.org"
    prospect = Prospect(
        candidate_id=unique("candidate"),
        email=email,
        first_name="Søren",
        last_name="Østergaard",
        ats_job_id=posting["id"],
    )

    pushed = await api.push_prospect(prospect)
    again = await api.push_prospect(prospect)

    assert again == pushed
    assert pushed.ats_application_id is not None
    created = account.simulator.opportunities[pushed.ats_application_id]
    assert created["emails"] == [email]
    assert created["owner"] == account.simulator.users[0]["id"]  # performed as the Super Admin
    snapshot = await api.application(pushed.ats_application_id)
    assert snapshot is not None
    assert (snapshot.job_name, snapshot.first_name, snapshot.prospect) == (
        posting["text"],
        "Søren",
        False,
    )
    # Without a job the same person becomes a lead of the same contact.
    lead = await api.push_prospect(
        Prospect(
            candidate_id=prospect.candidate_id, email=email, first_name="Søren", last_name=None
        )
    )
    assert lead.ats_application_id != pushed.ats_application_id
    assert lead.ats_candidate_id == pushed.ats_candidate_id
    lead_snapshot = await api.application(str(lead.ats_application_id))
    assert lead_snapshot is not None
    assert lead_snapshot.prospect


async def test_a_rate_limited_api_is_waited_out_after_its_retry_after() -> None:
    simulator = LeverSimulator(API_KEY, rate_per_second=5, burst=2)
    simulator.seed(30, years=1)
    async with serving(simulator.app, free_port()) as url:
        api = open_api(base_url=f"{url}/v1", api_key=API_KEY)
        try:
            read = [await api.application(o) for o in list(simulator.opportunities)[:4]]
        finally:
            await api.aclose()
    assert all(snapshot is not None for snapshot in read)
    assert simulator.throttled > 0


async def test_an_api_that_keeps_refusing_is_reported_unavailable() -> None:
    # No burst and a request a hundred seconds: every call is refused past the retry budget.
    simulator = LeverSimulator(API_KEY, rate_per_second=0.01, burst=0)
    simulator.seed(5, years=1)
    async with serving(simulator.app, free_port()) as url:
        client = httpx.AsyncClient(base_url=f"{url}/v1", auth=httpx.BasicAuth(API_KEY, ""))
        api = LeverApi(AtsHttp(client, attempts=3, max_delay=0.05))
        try:
            with pytest.raises(AtsUnavailableError, match="429"):
                await api.application(next(iter(simulator.opportunities)))
        finally:
            await api.aclose()
    assert simulator.throttled == 3


async def test_a_wrong_api_key_is_reported(account: Account) -> None:
    api = open_api(base_url=account.api_url, api_key="not-the-key")
    try:
        with pytest.raises(AtsUnavailableError, match="401"):
            await api.applications_page(updated_after=None, cursor=None)
    finally:
        await api.aclose()

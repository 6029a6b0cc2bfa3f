"""The Workable adapter against the simulated Workable account over real HTTP: paging through
a few thousand candidates, the updated filter, jobs, pushing prospects, the rate limit waited
out, and a wrong token refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from crm_ats_sync.adapters.workable import WorkableApi, open_api
from crm_ats_sync.application.ports import AtsRequestRefused, AtsUnavailableError
from crm_ats_sync.domain.changes import ApplicationSnapshot, ApplicationStatus, Prospect
from crm_devstack.ats.workable import WorkableSimulator
from crm_devstack.infra import free_ports
from helpers import serving

pytestmark = pytest.mark.integration

SEEDED_UNTIL = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
async def simulated() -> AsyncIterator[tuple[WorkableSimulator, str]]:
    simulator = WorkableSimulator(rate_limit=10_000, rate_window_seconds=10.0)
    simulator.seed(3_000, years=5, until=SEEDED_UNTIL)
    [port] = free_ports(1)
    async with serving(simulator.app(), port) as url:
        yield simulator, f"{url}/spi/v3"


@pytest.fixture
async def api(simulated: tuple[WorkableSimulator, str]) -> AsyncIterator[WorkableApi]:
    simulator, base_url = simulated
    opened = open_api(base_url=base_url, api_key=simulator.token)
    yield opened
    await opened.aclose()


async def _all(api: WorkableApi, updated_after: datetime | None) -> list[ApplicationSnapshot]:
    found: list[ApplicationSnapshot] = []
    cursor: str | None = None
    while True:
        page = await api.applications_page(updated_after=updated_after, cursor=cursor)
        found.extend(page.items)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def test_paging_through_the_account_finds_every_candidate_once_in_order(
    simulated: tuple[WorkableSimulator, str], api: WorkableApi
) -> None:
    simulator, _ = simulated
    requests_before = simulator.requests
    found = await _all(api, None)
    assert [a.ats_application_id for a in found] == list(simulator.candidates)
    assert simulator.requests - requests_before == 30  # 100 a page
    by_id = {a.ats_application_id: a for a in found}
    for candidate in list(simulator.candidates.values())[::97]:
        snapshot = by_id[candidate.id]
        assert snapshot.emails == [candidate.email]
        assert (snapshot.first_name, snapshot.last_name) == (
            candidate.firstname,
            candidate.lastname,
        )
        assert snapshot.changed_at == candidate.updated_at
        assert snapshot.prospect is (candidate.job is None)
        expected = (
            ApplicationStatus.REJECTED
            if candidate.disqualified
            else ApplicationStatus.HIRED
            if candidate.hired_at
            else ApplicationStatus.ACTIVE
        )
        assert snapshot.status is expected
        assert snapshot.rejection_reason == candidate.disqualification_reason
    statuses = {a.status for a in found}
    assert statuses == set(ApplicationStatus)
    assert any(a.prospect for a in found)
    assert min(a.applied_at for a in found if a.applied_at) < SEEDED_UNTIL - timedelta(days=4 * 365)


async def test_a_stored_cursor_resumes_and_a_foreign_one_is_refused(
    simulated: tuple[WorkableSimulator, str], api: WorkableApi
) -> None:
    simulator, _ = simulated
    first = await api.applications_page(updated_after=None, cursor=None)
    assert first.next_cursor is not None
    resumed = await api.applications_page(updated_after=None, cursor=first.next_cursor)
    assert resumed.items[0].ats_application_id == list(simulator.candidates)[100]
    with pytest.raises(AtsUnavailableError, match="cursor"):
        await api.applications_page(
            updated_after=None, cursor="https://elsewhere.example/spi/v3/candidates?since_id=1"
        )


async def test_the_updated_filter_finds_exactly_the_candidates_changed_since(
    simulated: tuple[WorkableSimulator, str], api: WorkableApi
) -> None:
    simulator, _ = simulated
    since = datetime.now(UTC)
    ids = list(simulator.candidates)
    moved = await simulator.move(ids[10], "interview")
    rejected = await simulator.disqualify(ids[2500], "Position filled")
    hired = await simulator.hire(ids[1234])
    found = await _all(api, since)
    assert [a.ats_application_id for a in found] == sorted(
        [moved.id, rejected.id, hired.id], key=ids.index
    )
    by_id = {a.ats_application_id: a for a in found}
    assert by_id[moved.id].stage == "Interview"
    assert by_id[rejected.id].status is ApplicationStatus.REJECTED
    assert by_id[rejected.id].rejection_reason == "Position filled"
    assert by_id[hired.id].status is ApplicationStatus.HIRED
    one = await api.application(hired.id)
    assert one is not None
    assert one.changed_at == hired.updated_at
    assert await api.application("0") is None


async def test_jobs_are_listed_with_their_state(
    simulated: tuple[WorkableSimulator, str], api: WorkableApi
) -> None:
    simulator, _ = simulated
    page = await api.jobs_page(updated_after=None, cursor=None)
    assert page.next_cursor is None
    assert [j.ats_job_id for j in page.items] == list(simulator.jobs)
    assert {j.status.value for j in page.items} == {"open", "closed"}


async def test_a_prospect_goes_to_the_talent_pool_or_to_a_job_as_sourced(
    simulated: tuple[WorkableSimulator, str], api: WorkableApi
) -> None:
    simulator, _ = simulated
    shortcode = next(iter(simulator.jobs))
    pooled = await api.push_prospect(
        Prospect(candidate_id="c1", email="ines@example.org", first_name="Inès", last_name="Çelik")
    )
    assert pooled.ats_application_id is None
    in_pool = simulator.candidates[pooled.ats_candidate_id]
    assert in_pool.job is None
    assert in_pool.sourced
    assert (in_pool.firstname, in_pool.lastname) == ("Inès", "Çelik")
    for_job = await api.push_prospect(
        Prospect(
            candidate_id="c2",
            email="soren@example.org",
            first_name="Søren",
            last_name=None,
            ats_job_id=shortcode,
        )
    )
    assert for_job.ats_application_id == for_job.ats_candidate_id
    created = simulator.candidates[for_job.ats_candidate_id]
    assert created.job is not None
    assert created.job.shortcode == shortcode
    assert created.stage == "sourced"
    with pytest.raises(AtsRequestRefused, match="404"):
        await api.push_prospect(
            Prospect(
                candidate_id="c3",
                email="a@example.org",
                first_name="A",
                last_name="B",
                ats_job_id="NOSUCHJOB",
            )
        )


async def test_the_rate_limit_is_waited_out_until_workables_reset() -> None:
    simulator = WorkableSimulator(rate_limit=3, rate_window_seconds=1.0)
    simulator.seed(250, until=SEEDED_UNTIL)
    [port] = free_ports(1)
    async with serving(simulator.app(), port) as url:
        api = open_api(base_url=f"{url}/spi/v3", api_key=simulator.token)
        try:
            found = await _all(api, None)
            for _ in range(3):
                await api.jobs_page(updated_after=None, cursor=None)
        finally:
            await api.aclose()
    assert [a.ats_application_id for a in found] == list(simulator.candidates)
    assert simulator.rate_limited >= 1


async def test_a_wrong_token_is_refused_with_a_clear_error(
    simulated: tuple[WorkableSimulator, str],
) -> None:
    _, base_url = simulated
    api = open_api(base_url=base_url, api_key="not-the-token")
    try:
        with pytest.raises(AtsUnavailableError, match="401"):
            await api.applications_page(updated_after=None, cursor=None)
    finally:
        await api.aclose()

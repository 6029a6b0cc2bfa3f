"""The simulated Lever account answers as Lever documents: a reproducible history, Basic
authentication, bounded pages with an opaque `next`, and 429 with `Retry-After` past its rate."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from crm_devstack.ats.lever import LeverSimulator

pytestmark = pytest.mark.unit


def client_of(simulator: LeverSimulator, key: str = "key") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=simulator.app),
        base_url="http://lever.test/v1",
        auth=httpx.BasicAuth(key, ""),
    )


@pytest.fixture
async def lever() -> AsyncIterator[httpx.AsyncClient]:
    simulator = LeverSimulator("key", rate_per_second=1000, burst=1000)
    simulator.seed(250, years=2)
    async with client_of(simulator) as client:
        yield client


def test_the_same_seed_gives_the_same_account() -> None:
    first, second = LeverSimulator("a"), LeverSimulator("b")
    first.seed(200, years=3, seed=7)
    second.seed(200, years=3, seed=7)
    assert first.opportunities == second.opportunities
    assert first.postings == second.postings
    other = LeverSimulator("c")
    other.seed(200, years=3, seed=8)
    assert other.opportunities != first.opportunities


async def test_pages_follow_next_until_has_next_is_false(lever: httpx.AsyncClient) -> None:
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 100}
    while True:
        page = (await lever.get("/opportunities", params=params)).json()
        seen.extend(o["id"] for o in page["data"])
        if not page["hasNext"]:
            assert "next" not in page
            break
        params = {"limit": 100, "offset": page["next"]}
    assert len(seen) == len(set(seen)) == 250


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": "not-a-token"}, {"updated_at_start": "yesterday"}],
)
async def test_bad_parameters_are_refused(
    lever: httpx.AsyncClient, params: dict[str, str | int]
) -> None:
    answer = await lever.get("/opportunities", params=params)
    assert answer.status_code == 400
    assert answer.json()["code"] == "BadRequestError"


async def test_expansions_give_the_stage_name_and_the_applications(
    lever: httpx.AsyncClient,
) -> None:
    plain = (await lever.get("/opportunities", params={"limit": 1})).json()["data"][0]
    expanded = (
        await lever.get(
            f"/opportunities/{plain['id']}",
            params=[("expand", "stage"), ("expand", "applications")],
        )
    ).json()["data"]
    assert isinstance(plain["stage"], str)
    assert expanded["stage"] == {"id": plain["stage"], "text": expanded["stage"]["text"]}
    assert [a["id"] for a in expanded["applications"]] == plain["applications"]


async def test_a_wrong_key_is_refused() -> None:
    simulator = LeverSimulator("key")
    async with client_of(simulator, "wrong") as client:
        answer = await client.get("/opportunities")
    assert answer.status_code == 401


async def test_past_the_burst_it_answers_429_with_retry_after() -> None:
    simulator = LeverSimulator("key", rate_per_second=0.5, burst=2)
    async with client_of(simulator) as client:
        answers = [await client.get("/postings") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].headers["Retry-After"] == "2"
    assert simulator.throttled == 1

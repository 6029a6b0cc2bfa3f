"""Pushing a CRM candidate to a simulated Greenhouse account through the gateway, on the real
broker and database: ats-sync learns the candidate and their consent from the candidates
service's events, the push creates the person in Greenhouse once (a repeat calls Greenhouse no
more), the candidate shows Greenhouse's ids, and a candidate without consent is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from crm_devstack.ats.greenhouse import GreenhouseSimulator
from crm_devstack.infra import free_port
from helpers import eventually, serving, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack
from integration.flow.consent_support import create_candidate, new_person

pytestmark = pytest.mark.integration

GREENHOUSE_USER = "4080"


@pytest.fixture
async def greenhouse() -> AsyncIterator[tuple[GreenhouseSimulator, str]]:
    simulator = GreenhouseSimulator(unique("harvest"), unique("secret"))
    simulator.seed(5, years=1)
    async with serving(simulator.app, free_port()) as url:
        yield simulator, f"{url}/v3"


async def connect_greenhouse(stack: Stack, simulator: GreenhouseSimulator, url: str) -> str:
    created = await stack.gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={
            "provider": "greenhouse",
            "name": unique("greenhouse"),
            "api_key": simulator.api_key,
            "api_base_url": url,
            "ats_user_id": GREENHOUSE_USER,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["ats_user_id"] == GREENHOUSE_USER
    connection_id: str = created.json()["id"]
    return connection_id


async def push_once_known(stack: Stack, url: str, body: dict[str, Any], expected: int) -> Any:
    """The push's answer once ats-sync has learned the candidate (and any consent) from Kafka."""
    answers: list[Any] = []

    async def answered() -> bool:
        response = await stack.gateway.post(url, headers=stack.as_(ACME_TOKEN), json=body)
        answers.append(response)
        return response.status_code == expected

    await eventually(answered, message=f"the push answered {expected}")
    return answers[-1]


def posts(simulator: GreenhouseSimulator) -> int:
    """The people the simulated account was asked to create (not its token requests)."""
    return sum(
        1
        for request in simulator.requests
        if request.startswith("POST") and not request.endswith("/token")
    )


async def test_a_pushed_candidate_is_in_greenhouse_once_and_shows_its_ids(
    stack: Stack, greenhouse: tuple[GreenhouseSimulator, str]
) -> None:
    simulator, url = greenhouse
    connection_id = await connect_greenhouse(stack, simulator, url)
    person = new_person("push")
    candidate_id = await create_candidate(stack, ACME_TOKEN, person)
    granted = await stack.gateway.post(
        f"/api/v1/candidates/{candidate_id}/consents",
        headers=stack.as_(ACME_TOKEN),
        json={"purpose": "data_processing", "action": "grant", "lawful_basis": "consent"},
    )
    assert granted.status_code == 201, granted.text
    pushes = f"/api/v1/ats/connections/{connection_id}/pushes"

    pushed = await push_once_known(stack, pushes, {"candidate_id": candidate_id}, 201)
    push = pushed.json()
    assert (push["state"], push["provider"], push["requested_by"]) == ("done", "greenhouse", "rita")
    ats_id = int(push["ats_candidate_id"])
    held = simulator.candidates[ats_id]
    assert (held["first_name"], held["last_name"]) == (person["first_name"], person["last_name"])
    assert [e["value"] for e in held["email_addresses"]] == person["emails"]
    assert posts(simulator) == 1

    again = await stack.gateway.post(
        pushes, headers=stack.as_(ACME_TOKEN), json={"candidate_id": candidate_id}
    )
    assert again.status_code == 200, again.text
    assert again.json()["id"] == push["id"]
    assert posts(simulator) == 1

    listed = await stack.gateway.get(
        pushes, params={"candidate_id": candidate_id}, headers=stack.as_(ACME_TOKEN)
    )
    assert [p["id"] for p in listed.json()] == [push["id"]]

    async def linked() -> bool:
        shown = await stack.gateway.get(
            f"/api/v1/candidates/{candidate_id}", headers=stack.as_(ACME_TOKEN)
        )
        return bool(shown.json()["ats_links"])

    await eventually(linked, message="the candidate shows the ATS link")
    shown = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}", headers=stack.as_(ACME_TOKEN)
    )
    [link] = shown.json()["ats_links"]
    assert link["connection_id"] == connection_id
    assert link["ats_candidate_id"] == push["ats_candidate_id"]
    assert link["ats_application_id"] == push["ats_application_id"]
    assert link["ats_job_id"] is None


async def test_a_candidate_without_consent_is_refused_and_nothing_is_sent(
    stack: Stack, greenhouse: tuple[GreenhouseSimulator, str]
) -> None:
    simulator, url = greenhouse
    connection_id = await connect_greenhouse(stack, simulator, url)
    candidate_id = await create_candidate(stack, ACME_TOKEN, new_person("silent"))
    pushes = f"/api/v1/ats/connections/{connection_id}/pushes"

    refused = await push_once_known(stack, pushes, {"candidate_id": candidate_id}, 409)
    problem = refused.json()
    assert problem["type"].endswith(":consent-required"), problem
    assert [e["field"] for e in problem["errors"]] == ["candidate_id"]
    assert posts(simulator) == 0

    unknown_job = await stack.gateway.post(
        pushes,
        headers=stack.as_(ACME_TOKEN),
        json={"candidate_id": candidate_id, "ats_job_id": "404"},
    )
    assert unknown_job.status_code == 422, unknown_job.text
    assert [e["field"] for e in unknown_job.json()["errors"]] == ["ats_job_id"]


async def granted_candidate(stack: Stack, tag: str) -> str:
    candidate_id = await create_candidate(stack, ACME_TOKEN, new_person(tag))
    granted = await stack.gateway.post(
        f"/api/v1/candidates/{candidate_id}/consents",
        headers=stack.as_(ACME_TOKEN),
        json={"purpose": "data_processing", "action": "grant", "lawful_basis": "consent"},
    )
    assert granted.status_code == 201, granted.text
    return candidate_id


async def links_of(stack: Stack, candidate_id: str) -> list[str]:
    shown = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}", headers=stack.as_(ACME_TOKEN)
    )
    return sorted(link["ats_candidate_id"] for link in shown.json()["ats_links"])


async def test_ats_links_follow_a_merge_and_its_undo(
    stack: Stack, greenhouse: tuple[GreenhouseSimulator, str]
) -> None:
    simulator, url = greenhouse
    pushes = f"/api/v1/ats/connections/{await connect_greenhouse(stack, simulator, url)}/pushes"
    folded = await granted_candidate(stack, "folded")
    kept = await granted_candidate(stack, "kept")
    first = (await push_once_known(stack, pushes, {"candidate_id": folded}, 201)).json()
    await eventually(
        lambda: _links_are(stack, folded, [first["ats_candidate_id"]]), message="folded linked"
    )

    merged = await stack.gateway.post(
        "/api/v1/candidates/merges",
        headers=stack.as_(ACME_TOKEN),
        json={"survivor_id": kept, "merged_id": folded},
    )
    assert merged.status_code == 201, merged.text
    assert await links_of(stack, kept) == [first["ats_candidate_id"]]

    # Pushed while merged: the survivor's own link, which stays with it after the undo.
    second = (await push_once_known(stack, pushes, {"candidate_id": kept}, 201)).json()
    both = sorted([first["ats_candidate_id"], second["ats_candidate_id"]])
    await eventually(lambda: _links_are(stack, kept, both), message="survivor linked twice")

    undone = await stack.gateway.post(
        f"/api/v1/candidates/merges/{merged.json()['id']}/undo", headers=stack.as_(ACME_TOKEN)
    )
    assert undone.status_code == 200, undone.text
    assert await links_of(stack, folded) == [first["ats_candidate_id"]]
    assert await links_of(stack, kept) == [second["ats_candidate_id"]]


async def _links_are(stack: Stack, candidate_id: str, expected: list[str]) -> bool:
    return await links_of(stack, candidate_id) == expected

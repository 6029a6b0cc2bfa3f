"""Pushing a CRM candidate to simulated Greenhouse, Lever and Workable accounts through the
gateway, on the real broker and database: ats-sync learns the candidate and their consent from
the candidates service's events, the push creates the person in the ATS once (a repeat calls the
ATS no more), the candidate shows the ATS's ids, and a candidate without consent is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from crm_ats_sync.domain.models import Provider
from crm_devstack.ats.greenhouse import GreenhouseSimulator
from crm_devstack.ats.lever import LeverSimulator
from crm_devstack.ats.workable import WorkableSimulator
from crm_devstack.infra import free_port
from helpers import eventually, serving, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack
from integration.flow.consent_support import create_candidate, new_person

pytestmark = pytest.mark.integration

GREENHOUSE_USER = "4080"

# A person as the ATS holds them: (first name, last name, email addresses).
Held = tuple[str, str, list[str]]


@dataclass(frozen=True)
class PushAccount:
    """A simulated ATS account served over HTTP, and what a test reads of it."""

    provider: Provider
    simulator: Any
    # How the CRM connects to it (`POST /ats/connections` fields beside provider and name).
    settings: dict[str, str]
    # The requests the account has answered so far.
    calls: Callable[[], int]
    # The people (Lever: opportunities) the account holds.
    people: Callable[[], int]
    # A person by the id the push answered as `ats_candidate_id`.
    held: Callable[[str], Held]


def greenhouse_account(simulator: GreenhouseSimulator, url: str) -> PushAccount:
    def held(ats_candidate_id: str) -> Held:
        person = simulator.candidates[int(ats_candidate_id)]
        emails = [e["value"] for e in person["email_addresses"]]
        return person["first_name"], person["last_name"], emails

    return PushAccount(
        Provider.GREENHOUSE,
        simulator,
        {"api_key": simulator.api_key, "api_base_url": f"{url}/v3", "ats_user_id": GREENHOUSE_USER},
        calls=lambda: len(simulator.requests),
        people=lambda: len(simulator.candidates),
        held=held,
    )


def lever_account(simulator: LeverSimulator, url: str) -> PushAccount:
    def held(ats_candidate_id: str) -> Held:
        [opportunity] = [
            o for o in simulator.opportunities.values() if o["contact"] == ats_candidate_id
        ]
        first, _, last = opportunity["name"].partition(" ")
        return first, last, opportunity["emails"]

    return PushAccount(
        Provider.LEVER,
        simulator,
        {"api_key": simulator.api_key, "api_base_url": f"{url}/v1"},
        calls=lambda: simulator.requests,
        people=lambda: len(simulator.opportunities),
        held=held,
    )


def workable_account(simulator: WorkableSimulator, url: str) -> PushAccount:
    def held(ats_candidate_id: str) -> Held:
        person = simulator.candidates[ats_candidate_id]
        return person.firstname, person.lastname, [person.email]

    return PushAccount(
        Provider.WORKABLE,
        simulator,
        {"api_key": simulator.token, "api_base_url": f"{url}/spi/v3"},
        calls=lambda: simulator.requests,
        people=lambda: len(simulator.candidates),
        held=held,
    )


@asynccontextmanager
async def served(provider: Provider) -> AsyncIterator[PushAccount]:
    """A small seeded account of `provider`, served on a free port."""
    if provider is Provider.GREENHOUSE:
        greenhouse = GreenhouseSimulator(unique("harvest"), unique("secret"))
        greenhouse.seed(5, years=1)
        async with serving(greenhouse.app, free_port()) as url:
            yield greenhouse_account(greenhouse, url)
    elif provider is Provider.LEVER:
        lever = LeverSimulator(unique("lever-key"))
        lever.seed(5, years=1)
        async with serving(lever.app, free_port()) as url:
            yield lever_account(lever, url)
    else:
        workable = WorkableSimulator(rate_limit=1_000)
        workable.seed(5)
        async with serving(workable.app(), free_port()) as url:
            yield workable_account(workable, url)


@pytest.fixture
async def greenhouse() -> AsyncIterator[PushAccount]:
    async with served(Provider.GREENHOUSE) as account:
        yield account


async def connect_account(stack: Stack, account: PushAccount) -> str:
    created = await stack.gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={
            "provider": account.provider.value,
            "name": unique(account.provider.value),
            **account.settings,
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["ats_user_id"] == account.settings.get("ats_user_id")
    connection_id: str = created.json()["id"]
    return connection_id


async def pulled_once(stack: Stack, connection_id: str) -> None:
    """Waits until the connection's first backfill has run (started here, or by the schedule,
    which pulls a connection never pulled): from then on the account answers no reads but the
    pushes' until the next scheduled reconciliation, 15 minutes later."""
    admin = stack.as_(ACME_ADMIN_TOKEN)
    started = await stack.gateway.post(
        f"/api/v1/ats/connections/{connection_id}/backfill", headers=admin
    )
    assert started.status_code in (202, 409), started.text  # 409: the schedule started it

    async def succeeded() -> bool:
        status = await stack.gateway.get(
            f"/api/v1/ats/connections/{connection_id}/sync", headers=admin
        )
        backfill = status.json()["backfill"]
        return backfill is not None and backfill["state"] == "succeeded"

    await eventually(succeeded, message="the first backfill did not finish", timeout=120)


async def push_once_known(stack: Stack, url: str, body: dict[str, Any], expected: int) -> Any:
    """The push's answer once ats-sync has learned the candidate (and any consent) from Kafka."""
    answers: list[Any] = []

    async def answered() -> bool:
        response = await stack.gateway.post(url, headers=stack.as_(ACME_TOKEN), json=body)
        answers.append(response)
        return response.status_code == expected

    await eventually(answered, message=f"the push answered {expected}")
    return answers[-1]


@pytest.mark.parametrize("provider", list(Provider), ids=lambda p: p.value)
async def test_a_pushed_candidate_is_in_the_ats_once_and_shows_its_ids(
    stack: Stack, provider: Provider
) -> None:
    async with served(provider) as account:
        connection_id = await connect_account(stack, account)
        person = new_person("push")
        candidate_id = await create_candidate(stack, ACME_TOKEN, person)
        granted = await stack.gateway.post(
            f"/api/v1/candidates/{candidate_id}/consents",
            headers=stack.as_(ACME_TOKEN),
            json={"purpose": "data_processing", "action": "grant", "lawful_basis": "consent"},
        )
        assert granted.status_code == 201, granted.text
        pushes = f"/api/v1/ats/connections/{connection_id}/pushes"
        # The first backfill reads the account: the calls counted below are the pushes' only.
        await pulled_once(stack, connection_id)
        people = account.people()

        pushed = await push_once_known(stack, pushes, {"candidate_id": candidate_id}, 201)
        push = pushed.json()
        assert (push["state"], push["provider"], push["requested_by"]) == (
            "done",
            provider.value,
            "rita",
        )
        assert account.held(push["ats_candidate_id"]) == (
            person["first_name"],
            person["last_name"],
            person["emails"],
        )
        assert account.people() == people + 1
        calls = account.calls()

        again = await stack.gateway.post(
            pushes, headers=stack.as_(ACME_TOKEN), json={"candidate_id": candidate_id}
        )
        assert again.status_code == 200, again.text
        assert again.json()["id"] == push["id"]
        assert (account.people(), account.calls()) == (people + 1, calls)

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
        assert link["provider"] == provider.value
        assert link["ats_candidate_id"] == push["ats_candidate_id"]
        assert link["ats_application_id"] == push["ats_application_id"]
        assert link["ats_job_id"] is None


async def test_a_candidate_without_consent_is_refused_and_nothing_is_sent(
    stack: Stack, greenhouse: PushAccount
) -> None:
    connection_id = await connect_account(stack, greenhouse)
    # Connecting with a key starts the first backfill at once: its reads are done first.
    await pulled_once(stack, connection_id)
    calls = greenhouse.calls()
    candidate_id = await create_candidate(stack, ACME_TOKEN, new_person("silent"))
    pushes = f"/api/v1/ats/connections/{connection_id}/pushes"

    refused = await push_once_known(stack, pushes, {"candidate_id": candidate_id}, 409)
    problem = refused.json()
    assert problem["type"].endswith(":consent-required"), problem
    assert [e["field"] for e in problem["errors"]] == ["candidate_id"]
    assert greenhouse.calls() == calls

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


async def test_ats_links_follow_a_merge_and_its_undo(stack: Stack, greenhouse: PushAccount) -> None:
    pushes = f"/api/v1/ats/connections/{await connect_account(stack, greenhouse)}/pushes"
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

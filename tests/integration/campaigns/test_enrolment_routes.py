"""The enrolment routes of the campaigns API in-process against SecantusDB: the list names its
candidates; one enrolment is paused and resumed, with `sequences:write`, and the API's word
(404, 409) for what cannot be, a merged-away candidate's enrolment among it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from crm_campaigns.application.recipients import (
    fold_merged_candidate,
    project_profiles,
    restore_unmerged_candidates,
)
from crm_campaigns.domain.models import ManualTrigger, Recipient, Sequence, WaitStep
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_shared import (
    CandidateMerged,
    CandidateProfile,
    CandidateUnmerged,
    Database,
    Principal,
    Session,
    in_transaction,
    utc_now,
)
from crm_shared.directory import ProfileChange
from helpers import unique
from internal_keys import internal_bearer

pytestmark = pytest.mark.integration

RITA = Principal(tenant_id="acme", user_id="rita", roles=frozenset({"recruiter"}))
VIC = Principal(tenant_id="acme", user_id="vic", roles=frozenset({"viewer"}))


async def a_sequence_with(database: Database, client: httpx.AsyncClient) -> dict[str, Any]:
    """A sequence with Ada (known to campaigns by name) enrolled."""
    sequence = Sequence(
        tenant_id="acme",
        name=unique("nurture"),
        trigger=ManualTrigger(),
        steps=[WaitStep(days=3)],
        created_by="rita",
    )
    await SequenceRepository(database, "acme").add(sequence)
    recipients = RecipientRepository(database, "acme")
    ada = Recipient(candidate_id="ada", tenant_id="acme", first_name="Ada", last_name="Lovelace")
    await in_transaction(database.client, lambda session: recipients.upsert(ada, session=session))
    enrolled = await client.post(
        f"/sequences/{sequence.id}/enrolments",
        json={"candidate_ids": ["ada"]},
        headers=internal_bearer(RITA, "campaigns"),
    )
    assert enrolled.status_code == 200, enrolled.text
    return {"id": sequence.id}


async def test_one_enrolment_is_paused_and_resumed_through_the_api(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    client, database = api
    sequence = await a_sequence_with(database, client)
    url = f"/sequences/{sequence['id']}/enrolments"
    rita, vic = internal_bearer(RITA, "campaigns"), internal_bearer(VIC, "campaigns")

    listed = await client.get(url, headers=vic)
    assert listed.status_code == 200, listed.text
    [ada] = listed.json()["items"]
    assert (ada["first_name"], ada["last_name"], ada["paused_by"]) == ("Ada", "Lovelace", None)

    assert (await client.post(f"{url}/ada/pause", headers=vic)).status_code == 403
    paused = await client.post(f"{url}/ada/pause", headers=rita)
    assert paused.status_code == 200, paused.text
    assert (paused.json()["state"], paused.json()["paused_by"]) == ("paused", "rita")
    again = await client.post(f"{url}/ada/pause", headers=rita)
    assert again.status_code == 409
    assert "paused already" in again.json()["detail"]
    assert (await client.get(url, headers=vic)).json()["items"][0]["paused_by"] == "rita"

    resumed = await client.post(f"{url}/ada/resume", headers=rita)
    assert resumed.status_code == 200, resumed.text
    # The engine does not run in-process (no lifespan): the first step is due still.
    assert (resumed.json()["state"], resumed.json()["paused_by"]) == ("active", None)
    assert resumed.json()["step_index"] == 0
    assert (await client.post(f"{url}/ada/resume", headers=rita)).status_code == 409
    missing = await client.post(f"{url}/nobody/pause", headers=rita)
    assert missing.status_code == 404
    assert (
        await client.post("/sequences/nope/enrolments/ada/pause", headers=rita)
    ).status_code == 404


async def test_a_sequences_enrolments_are_listed_a_page_at_a_time(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    client, database = api
    sequence = await a_sequence_with(database, client)
    url = f"/sequences/{sequence['id']}/enrolments"
    rita = internal_bearer(RITA, "campaigns")
    more = ["bo", "cy", "di", "ed"]
    recipients = RecipientRepository(database, "acme")

    async def learn_all(session: Session) -> None:
        for candidate_id in more:
            known = Recipient(candidate_id=candidate_id, tenant_id="acme", first_name=candidate_id)
            await recipients.upsert(known, session=session)

    await in_transaction(database.client, learn_all)
    enrolled = await client.post(url, json={"candidate_ids": more}, headers=rita)
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["refused"] == []

    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = await client.get(f"{url}?limit=2{cursor}", headers=rita)
        assert page.status_code == 200, page.text
        pages += 1
        seen += [item["candidate_id"] for item in page.json()["items"]]
        if page.json()["next_cursor"] is None:
            break
        cursor = f"&cursor={page.json()['next_cursor']}"
    assert pages == 3
    assert sorted(seen) == ["ada", *more]
    assert len(set(seen)) == 5
    assert (await client.get(f"{url}?limit=201", headers=rita)).status_code == 422


async def test_a_merged_away_candidate_is_not_enrolled_the_survivor_is_named(
    api: tuple[httpx.AsyncClient, Database],
) -> None:
    client, database = api
    sequence = await a_sequence_with(database, client)
    url = f"/sequences/{sequence['id']}/enrolments"
    rita = internal_bearer(RITA, "campaigns")

    def profile(candidate_id: str) -> CandidateProfile:
        return CandidateProfile(
            candidate_id=candidate_id,
            first_name=candidate_id,
            last_name="Núñez",
            emails=[f"{candidate_id}@example.org"],
            source="sourced",
        )

    merge = CandidateMerged(
        merge_id=unique("merge"),
        survivor_candidate_id="kept",
        merged_candidate_id="gone",
        survivor=profile("kept"),
    )

    async def learn_and_merge(session: Session) -> None:
        await project_profiles(
            database, "acme", [ProfileChange(profile("gone"), utc_now())], session
        )
        await fold_merged_candidate(database, "acme", merge, utc_now(), session)
        # A profile event of the merged record consumed after the merge (its topic is read
        # apart) projects it again: the merge, not the projection, decides.
        gone = profile("gone").model_copy(update={"status": "merged"})
        await project_profiles(database, "acme", [ProfileChange(gone, utc_now())], session)

    await in_transaction(database.client, learn_and_merge)

    refused = await client.post(url, json={"candidate_ids": ["kept", "gone"]}, headers=rita)
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("candidate-not-active")
    assert (problem["merged_into"], problem["survivors"]) == ("kept", {"gone": "kept"})
    assert "gone was merged into kept" in problem["detail"]
    listed = await client.get(url, headers=rita)
    assert [item["candidate_id"] for item in listed.json()["items"]] == ["ada"]

    async def undo(session: Session) -> None:
        unmerged = CandidateUnmerged(
            merge_id=merge.merge_id,
            survivor_candidate_id="kept",
            restored_candidate_id="gone",
            survivor=profile("kept"),
            restored=profile("gone"),
        )
        await restore_unmerged_candidates(database, "acme", unmerged, utc_now(), session)

    await in_transaction(database.client, undo)
    enrolled = await client.post(url, json={"candidate_ids": ["gone"]}, headers=rita)
    assert enrolled.status_code == 200, enrolled.text
    assert [e["candidate_id"] for e in enrolled.json()["enrolled"]] == ["gone"]

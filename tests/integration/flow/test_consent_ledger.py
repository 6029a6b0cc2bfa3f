"""The consent ledger through the gateway: grants and withdrawals reach campaigns, which sends
marketing only to candidates whose consent it has seen."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from crm_shared import utc_now
from helpers import eventually, read_events
from integration.flow.conftest import ACME_TOKEN, GLOBEX_TOKEN, Stack
from integration.flow.consent_support import (
    Mongo,
    assert_problem,
    create_candidate,
    database,
    error_fields,
    new_person,
    wait_for_recipient_consent,
)

pytestmark = pytest.mark.integration


async def test_a_grant_and_a_withdrawal_are_recorded_published_and_projected(
    stack: Stack, kafka_bootstrap_servers: str, mongo: Mongo
) -> None:
    acme = stack.as_(ACME_TOKEN)
    candidate_id = await create_candidate(stack, ACME_TOKEN, new_person("ledger"))
    granted = await stack.gateway.post(
        f"/api/v1/candidates/{candidate_id}/consents",
        json={"purpose": "marketing", "action": "grant", "evidence": "asked at the fair"},
        headers=acme,
    )
    assert granted.status_code == 201, granted.text
    entry = granted.json()
    assert entry["status"] == "granted"
    assert entry["recorded_by"] == "rita"
    # A consent given without an end lasts the tenant's default validity (730 days).
    assert entry["expires_at"] is not None
    candidate = await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)
    assert candidate.json()["marketing_consent"] is True
    await wait_for_recipient_consent(stack, mongo, stack.acme, candidate_id, True)

    withdrawn = await stack.gateway.post(
        f"/api/v1/candidates/{candidate_id}/consents",
        json={"purpose": "marketing", "action": "withdraw"},
        headers=acme,
    )
    assert withdrawn.status_code == 201, withdrawn.text
    await wait_for_recipient_consent(stack, mongo, stack.acme, candidate_id, False)

    ledger = (
        await stack.gateway.get(f"/api/v1/candidates/{candidate_id}/consents", headers=acme)
    ).json()
    assert [e["status"] for e in ledger["history"]] == ["granted", "withdrawn"]
    assert ledger["history"][0]["evidence"] == {"note": "asked at the fair"}
    assert ledger["marketing_consent"] is False
    [current] = ledger["current"]
    assert current["status"] == "withdrawn"
    assert current["granted_at"] is not None

    changes = await read_events(
        kafka_bootstrap_servers,
        "consent.changed",
        where=lambda e: e["subject"] == candidate_id,
        count=2,
    )
    assert [c["data"]["status"] for c in changes] == ["granted", "withdrawn"]
    assert [c["data"]["marketing_consent"] for c in changes] == [True, False]
    assert all(c["tenant_id"] == stack.acme for c in changes)
    updates = await read_events(
        kafka_bootstrap_servers,
        "candidate.updated",
        where=lambda e: e["subject"] == candidate_id,
        count=2,
    )
    assert [u["data"]["marketing_consent"] for u in updates] == [True, False]
    # The ledger is append-only: two entries for two changes.
    ledger_documents = database(stack, mongo, "candidates")["consents"]
    assert await ledger_documents.count_documents({"candidate_id": candidate_id}) == 2


async def test_a_grant_for_another_purpose_leaves_marketing_consent_alone(stack: Stack) -> None:
    """Marketing consent set on the profile (an import, a PATCH) stays as it is when a
    data-processing consent is recorded: one purpose's entry says nothing of the others."""
    acme = stack.as_(ACME_TOKEN)
    candidate_id = await create_candidate(stack, ACME_TOKEN, new_person("other-purpose"))
    patched = await stack.gateway.patch(
        f"/api/v1/candidates/{candidate_id}", json={"marketing_consent": True}, headers=acme
    )
    assert patched.status_code == 200, patched.text
    recorded = await stack.gateway.post(
        f"/api/v1/candidates/{candidate_id}/consents",
        json={
            "purpose": "data_processing",
            "action": "grant",
            "lawful_basis": "legitimate_interest",
            "source": "recruiter",
        },
        headers=acme,
    )
    assert recorded.status_code == 201, recorded.text
    candidate = await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)
    assert candidate.json()["marketing_consent"] is True
    ledger = (
        await stack.gateway.get(f"/api/v1/candidates/{candidate_id}/consents", headers=acme)
    ).json()
    assert ledger["marketing_consent"] is True
    # The PATCH is a grant in the ledger, by who made it, lapsing like any other.
    patch_grant = ledger["history"][0]
    assert (patch_grant["source"], patch_grant["recorded_by"]) == ("profile", "rita")
    assert patch_grant["expires_at"] is not None
    # A marketing entry still decides the flag.
    withdrawn = await stack.gateway.post(
        f"/api/v1/candidates/{candidate_id}/consents",
        json={"purpose": "marketing", "action": "withdraw"},
        headers=acme,
    )
    assert withdrawn.status_code == 201, withdrawn.text
    candidate = await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)
    assert candidate.json()["marketing_consent"] is False


async def test_bad_consent_input_is_a_422_naming_the_field(stack: Stack) -> None:
    acme = stack.as_(ACME_TOKEN)
    candidate_id = await create_candidate(stack, ACME_TOKEN, new_person("ledgerbad"))
    path = f"/api/v1/candidates/{candidate_id}/consents"
    unknown = await stack.gateway.post(
        path, json={"purpose": "spam", "action": "grant"}, headers=acme
    )
    assert error_fields(assert_problem(unknown, 422)) == {"purpose"}
    no_action = await stack.gateway.post(
        path, json={"purpose": "marketing", "lawful_basis": "whim"}, headers=acme
    )
    assert error_fields(assert_problem(no_action, 422)) == {"action", "lawful_basis"}
    past = await stack.gateway.post(
        path,
        json={
            "purpose": "marketing",
            "action": "grant",
            "expires_at": (utc_now() - timedelta(days=1)).isoformat(),
        },
        headers=acme,
    )
    assert error_fields(assert_problem(past, 422)) == {"expires_at"}
    ledger = await stack.gateway.get(path, headers=acme)
    assert ledger.json()["history"] == []


async def test_another_tenant_cannot_read_or_record_consent(stack: Stack) -> None:
    candidate_id = await create_candidate(stack, ACME_TOKEN, new_person("ledgeriso"))
    path = f"/api/v1/candidates/{candidate_id}/consents"
    globex = stack.as_(GLOBEX_TOKEN)
    assert_problem(await stack.gateway.get(path, headers=globex), 404)
    assert_problem(
        await stack.gateway.post(
            path, json={"purpose": "marketing", "action": "grant"}, headers=globex
        ),
        404,
    )
    own = await stack.gateway.get(path, headers=stack.as_(ACME_TOKEN))
    assert own.json()["history"] == []


async def test_campaigns_mails_only_candidates_whose_consent_it_has_seen(
    stack: Stack, mongo: Mongo
) -> None:
    """Ledger -> candidate.updated -> recipient projection -> consent checked at send time."""
    acme = stack.as_(ACME_TOKEN)
    tag = new_person("tag")["first_name"].lower()
    template = await stack.gateway.post(
        "/api/v1/templates",
        headers=acme,
        json={"name": "Hello", "subject": "Roles at Acme", "html": "<p>Hi</p>", "text": "Hi"},
    )
    segment = await stack.gateway.post(
        "/api/v1/segments",
        headers=acme,
        json={"name": tag, "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
    )
    sequence = await stack.gateway.post(
        "/api/v1/sequences",
        headers=acme,
        json={
            "name": tag,
            "trigger": {"type": "segment_entered", "segment_id": segment.json()["id"]},
            "steps": [{"type": "send", "template_id": template.json()["id"]}],
        },
    )
    assert sequence.status_code == 201, sequence.text
    consenting = new_person("consenting")
    silent = new_person("silent")
    consenting_id = await create_candidate(stack, ACME_TOKEN, consenting)
    silent_id = await create_candidate(stack, ACME_TOKEN, silent)
    granted = await stack.gateway.post(
        f"/api/v1/candidates/{consenting_id}/consents",
        json={"purpose": "marketing", "action": "grant"},
        headers=acme,
    )
    assert granted.status_code == 201
    await wait_for_recipient_consent(stack, mongo, stack.acme, consenting_id, True)
    await wait_for_recipient_consent(stack, mongo, stack.acme, silent_id, False)
    for candidate_id in (consenting_id, silent_id):
        tagged = await stack.gateway.patch(
            f"/api/v1/candidates/{candidate_id}", json={"tags": [tag]}, headers=acme
        )
        assert tagged.status_code == 200
    messages = database(stack, mongo, "campaigns")["messages"]

    async def both_decided() -> bool:
        found = await messages.find(
            # Not queued and not claimed: `sending` is the moment between claim and outcome.
            {
                "candidate_id": {"$in": [consenting_id, silent_id]},
                "status": {"$nin": ["queued", "sending"]},
            }
        ).to_list()
        return len(found) == 2

    await eventually(both_decided, message="the sequence did not decide both sends")
    sent = await messages.find_one({"candidate_id": consenting_id})
    suppressed = await messages.find_one({"candidate_id": silent_id})
    assert sent is not None
    assert sent["status"] == "sent"
    assert suppressed is not None
    assert suppressed["status"] == "suppressed"
    assert suppressed["suppression_reason"] == "no_marketing_consent"


async def test_a_merge_carries_the_later_withdrawal_and_its_undo_puts_the_grant_back(
    stack: Stack, kafka_bootstrap_servers: str, mongo: Mongo
) -> None:
    acme = stack.as_(ACME_TOKEN)
    survivor_id = await create_candidate(stack, ACME_TOKEN, new_person("merge-grant"))
    merged_id = await create_candidate(stack, ACME_TOKEN, new_person("merge-withdraw"))

    async def decide(candidate_id: str, action: str) -> None:
        decided = await stack.gateway.post(
            f"/api/v1/candidates/{candidate_id}/consents",
            json={"purpose": "marketing", "action": action},
            headers=acme,
        )
        assert decided.status_code == 201, decided.text

    async def ledger(candidate_id: str) -> dict[str, Any]:
        found = await stack.gateway.get(f"/api/v1/candidates/{candidate_id}/consents", headers=acme)
        assert found.status_code == 200, found.text
        return dict(found.json())

    await decide(survivor_id, "grant")
    await decide(merged_id, "grant")
    await decide(merged_id, "withdraw")  # the person's latest word, given on the other record
    done = await stack.gateway.post(
        "/api/v1/candidates/merges",
        json={"survivor_id": survivor_id, "merged_id": merged_id},
        headers=acme,
    )
    assert done.status_code == 201, done.text

    merged_ledger = await ledger(survivor_id)
    assert merged_ledger["marketing_consent"] is False
    assert [e["status"] for e in merged_ledger["history"]] == ["granted", "withdrawn"]
    carried = merged_ledger["history"][1]
    assert carried["evidence"]["carried_from"] == merged_id
    assert carried["evidence"]["merge_id"] == done.json()["id"]
    [current] = merged_ledger["current"]
    assert current["status"] == "withdrawn"
    await wait_for_recipient_consent(stack, mongo, stack.acme, survivor_id, False)

    undone = await stack.gateway.post(
        f"/api/v1/candidates/merges/{done.json()['id']}/undo", headers=acme
    )
    assert undone.status_code == 200, undone.text
    restored = await ledger(survivor_id)
    assert restored["marketing_consent"] is True
    [current] = restored["current"]
    assert current["status"] == "granted"
    # The ledger keeps every entry, the carried one included.
    assert [e["status"] for e in restored["history"]] == ["granted", "withdrawn"]
    assert (await ledger(merged_id))["marketing_consent"] is False
    await wait_for_recipient_consent(stack, mongo, stack.acme, survivor_id, True)


async def test_a_merge_keeps_the_survivors_later_decision(stack: Stack) -> None:
    acme = stack.as_(ACME_TOKEN)
    survivor_id = await create_candidate(stack, ACME_TOKEN, new_person("merge-later"))
    merged_id = await create_candidate(stack, ACME_TOKEN, new_person("merge-earlier"))
    for candidate_id, action in ((merged_id, "withdraw"), (survivor_id, "grant")):
        decided = await stack.gateway.post(
            f"/api/v1/candidates/{candidate_id}/consents",
            json={"purpose": "marketing", "action": action},
            headers=acme,
        )
        assert decided.status_code == 201, decided.text
    done = await stack.gateway.post(
        "/api/v1/candidates/merges",
        json={"survivor_id": survivor_id, "merged_id": merged_id},
        headers=acme,
    )
    assert done.status_code == 201, done.text
    found = await stack.gateway.get(f"/api/v1/candidates/{survivor_id}/consents", headers=acme)
    assert found.json()["marketing_consent"] is True
    assert [e["status"] for e in found.json()["history"]] == ["granted"]

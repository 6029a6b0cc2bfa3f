"""Sequences acting through the real services: a `move_stage` step moves the candidate in a
talent pool (the candidates service applies `candidate.change_requested` and publishes
`pool.stage_changed`), which enrols them in the sequence that pool stage triggers; a branch on
`registered` follows a public event registration."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import eventually, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack
from integration.flow.consent_support import Mongo, database
from integration.flow.sequencing import (
    create_candidate,
    create_sequence,
    create_template,
    enrol,
    enrolment_of,
)

pytestmark = pytest.mark.integration


async def candidate_and_pool(stack: Stack, pool_name: str, stages: list[str]) -> tuple[str, str]:
    """A candidate campaigns can mail, and a new talent pool: their ids."""
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    pool = await stack.gateway.post(
        "/api/v1/pools",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"name": pool_name, "stages": stages},
    )
    assert pool.status_code == 201, pool.text
    return candidate_id, str(pool.json()["id"])


async def test_a_move_stage_step_enrols_in_the_sequence_of_that_stage(stack: Stack) -> None:
    acme = stack.as_(ACME_TOKEN)
    candidate_id, pool_id = await candidate_and_pool(
        stack, "Data engineers", ["Sourced", "Engaged", "Ready"]
    )
    engaged = await create_sequence(
        stack,
        ACME_TOKEN,
        # The stage is matched as the pool names it, whatever the case.
        trigger={"type": "pool_stage_reached", "pool_id": pool_id, "stage": "engaged"},
        steps=[{"type": "notify_owner", "title": "{{ candidate.first_name }} is engaged"}],
    )
    mover = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[
            {"type": "add_tag", "tags": ["nurtured"]},
            {"type": "move_stage", "pool_id": pool_id, "stage": "Engaged"},
        ],
    )
    await enrol(stack, ACME_TOKEN, mover["id"], candidate_id)

    async def tagged_and_placed() -> bool:
        candidate = await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)
        member = await stack.gateway.get(
            f"/api/v1/pools/{pool_id}/members/{candidate_id}", headers=acme
        )
        return (
            "nurtured" in candidate.json().get("tags", [])
            and member.status_code == 200
            and member.json().get("stage") == "Engaged"
        )

    await eventually(tagged_and_placed, message="the candidates service did not apply the steps")
    done = await enrolment_of(
        stack,
        ACME_TOKEN,
        engaged["id"],
        candidate_id,
        lambda e: e["status"] == "completed",
        "reaching the stage did not enrol the candidate",
    )
    assert done["enrolled_by"] == f"pool:{pool_id}:Engaged"
    notifications = await stack.gateway.get("/api/v1/notifications", headers=acme)
    assert "Grace is engaged" in [
        n["title"] for n in notifications.json()["items"] if n["candidate_id"] == candidate_id
    ]


async def test_a_step_asking_for_a_stage_the_pool_lacks_says_so_on_its_enrolment(
    stack: Stack, mongo: Mongo
) -> None:
    """A move_stage step naming a stage its pool lacks (saved before campaigns checked stages,
    or racing the stage's deletion: both are refused at the API now): the candidates service
    refuses it, and the enrolment, gone on meanwhile, shows why."""
    acme = stack.as_(ACME_TOKEN)
    pool_name = unique("Ingeniería")
    candidate_id, pool_id = await candidate_and_pool(
        stack, pool_name, ["Sourced", "Contacted", "Offer"]
    )
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[
            {"type": "move_stage", "pool_id": pool_id, "stage": "Offer"},
            {"type": "add_tag", "tags": ["nurtured"]},
        ],
    )
    # As such a sequence is stored (until 2026-12-06 the API took it whenever campaigns had
    # not learnt the pool yet, which this test used to race on).
    stored = await database(stack, mongo, "campaigns")["sequences"].update_one(
        {"_id": sequence["id"]}, {"$set": {"steps.0.stage": "Ofer"}}
    )
    assert stored.modified_count == 1
    await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)

    told = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        # The step after it ran: the enrolment went on.
        lambda e: bool(e["step_problems"]) and e["status"] == "completed",
        "the refused step was not recorded on the enrolment",
    )
    [problem] = told["step_problems"]
    assert problem["step"] == 0
    assert problem["reason"] == (
        f"'Ofer' is not a stage of pool '{pool_name}': Sourced, Contacted, Offer"
    )

    async def tagged() -> bool:
        candidate = await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)
        return "nurtured" in candidate.json().get("tags", [])

    await eventually(tagged, message="the step after the refused one was not applied")
    member = await stack.gateway.get(
        f"/api/v1/pools/{pool_id}/members/{candidate_id}", headers=acme
    )
    assert member.status_code == 404
    # The candidate's own list of enrolments says the same.
    listed = await stack.gateway.get(
        f"/api/v1/sequences/enrolments?candidate_id={candidate_id}", headers=acme
    )
    [mine] = [e for e in listed.json()["items"] if e["sequence_id"] == sequence["id"]]
    assert [p["reason"] for p in mine["step_problems"]] == [problem["reason"]]


async def test_a_stage_its_pool_lacks_is_refused_at_its_field(stack: Stack, mongo: Mongo) -> None:
    """Campaigns learns each pool's stages (`pool.saved`): a trigger, step or broadcast
    audience naming one the pool lacks is a 422 at that field, as soon as the pool has reached
    campaigns."""
    acme, admin = stack.as_(ACME_TOKEN), stack.as_(ACME_ADMIN_TOKEN)
    pool_name = unique("Ventas")
    _, pool_id = await candidate_and_pool(stack, pool_name, ["Sourced", "Offer"])
    known = database(stack, mongo, "campaigns")["pools"]

    async def campaigns_knows(version: int) -> bool:
        found = await known.find_one({"_id": pool_id})
        return found is not None and found["version"] >= version

    await eventually(lambda: campaigns_knows(1), message="campaigns did not learn the pool")
    notify = {"type": "notify_owner", "title": "{{ candidate.first_name }}"}
    refused = await stack.gateway.post(
        "/api/v1/sequences",
        headers=acme,
        json={
            "name": unique("seq"),
            "trigger": {"type": "pool_stage_reached", "pool_id": pool_id, "stage": "Ofer"},
            "steps": [notify, {"type": "move_stage", "pool_id": pool_id, "stage": "Hired"}],
        },
    )
    assert refused.status_code == 422, refused.text
    assert {(e["field"], e["detail"]) for e in refused.json()["errors"]} == {
        (
            "trigger.stage",
            f"the pool '{pool_name}' has no stage 'Ofer' (its stages: Sourced, Offer)",
        ),
        (
            "steps.1.stage",
            f"the pool '{pool_name}' has no stage 'Hired' (its stages: Sourced, Offer)",
        ),
    }
    # A broadcast to the pool's misspelt stage would reach nobody: refused too.
    broadcast = await stack.gateway.post(
        "/api/v1/broadcasts",
        headers=acme,
        json={
            "name": unique("Ofertas"),
            "template_id": await create_template(stack, ACME_TOKEN),
            "audience": {"type": "pool", "pool_id": pool_id, "stage": "Ofer"},
        },
    )
    assert broadcast.status_code == 422, broadcast.text
    assert [(e["field"], e["detail"]) for e in broadcast.json()["errors"]] == [
        (
            "audience.stage",
            f"the pool '{pool_name}' has no stage 'Ofer' (its stages: Sourced, Offer)",
        )
    ]
    # Spelt as the candidates service matches stages (case and spacing aside), it is saved.
    created = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "pool_stage_reached", "pool_id": pool_id, "stage": " offer "},
        steps=[notify],
    )
    # A stage added to the pool later is one once campaigns has heard of it.
    extended = await stack.gateway.patch(
        f"/api/v1/pools/{pool_id}", headers=admin, json={"stages": ["Sourced", "Offer", "Hired"]}
    )
    assert extended.status_code == 200, extended.text
    await eventually(lambda: campaigns_knows(2), message="campaigns did not learn the new stage")
    current = await stack.gateway.get(f"/api/v1/sequences/{created['id']}", headers=acme)
    edited = await stack.gateway.patch(
        f"/api/v1/sequences/{created['id']}",
        headers={**acme, "If-Match": current.headers["ETag"]},
        json={"steps": [notify, {"type": "move_stage", "pool_id": pool_id, "stage": "hired"}]},
    )
    assert edited.status_code == 200, edited.text
    misspelt_edit = await stack.gateway.patch(
        f"/api/v1/sequences/{created['id']}",
        headers={**acme, "If-Match": edited.headers["ETag"]},
        json={"trigger": {"type": "pool_stage_reached", "pool_id": pool_id, "stage": "Hird"}},
    )
    assert misspelt_edit.status_code == 422, misspelt_edit.text
    assert [e["field"] for e in misspelt_edit.json()["errors"]] == ["trigger.stage"]


async def test_registering_for_the_event_takes_the_yes_path(stack: Stack) -> None:
    acme = stack.as_(ACME_TOKEN)
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, email = await create_candidate(stack, ACME_TOKEN, template_id)
    event = await stack.gateway.post(
        "/api/v1/events",
        headers=acme,
        json={
            "name": "Open house",
            "kind": "open_house",
            "starts_at": "2030-12-12T10:00:00+01:00",
            "capacity": 50,
        },
    )
    assert event.status_code == 201, event.text
    event_id = event.json()["id"]
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        exit_on=[],
        steps=[
            {"type": "send", "template_id": template_id},
            {
                "type": "branch",
                "condition": "registered",
                "event_id": event_id,
                "within_days": 7,
                "if_no": "end",
            },
            {"type": "notify_owner", "title": "{{ candidate.first_name }} is coming"},
        ],
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    sent: list[dict[str, Any]] = []

    async def message_sent() -> bool:
        response = await stack.gateway.get(
            f"/api/v1/messages?candidate_id={candidate_id}", headers=acme
        )
        sent[:] = [m for m in response.json()["items"] if m["status"] == "sent"]
        return bool(sent)

    await eventually(message_sent, message="the invitation was not sent")
    registration = await stack.gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={"first_name": "Grace", "last_name": "Hopper", "email": email},
    )
    assert registration.status_code == 201, registration.text
    done = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: e["status"] == "completed",
        "the registration did not take the yes path",
    )
    assert done["step_count"] == 3

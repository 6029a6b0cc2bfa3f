"""The kinds of the activity timeline the candidates service writes itself (tags added and
removed, notes, imports, merges and their undoing), through the gateway on the real broker and
database: each in the transaction of the change, so it is on the timeline when the change
answers. A person's sequence enrolments reach it from campaigns' `enrolment.*` events."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import eventually, unique
from integration.flow.conftest import ACME_TOKEN, GLOBEX_TOKEN, Stack
from integration.flow.sequencing import create_candidate, create_sequence, create_template, enrol
from integration.flow.test_imports import finished, start_import, upload

pytestmark = pytest.mark.integration


async def new_candidate(stack: Stack, tag: str, **fields: Any) -> dict[str, Any]:
    body = {"first_name": "Activity", "last_name": tag, "emails": [f"{unique(tag)}@example.org"]}
    response = await stack.gateway.post(
        "/api/v1/candidates", json=body | fields, headers=stack.as_(ACME_TOKEN)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def timeline(stack: Stack, candidate_id: str, token: str = ACME_TOKEN) -> list[Any]:
    response = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}/timeline",
        params={"limit": 100},
        headers=stack.as_(token),
    )
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


def of_type(entries: list[Any], kind: str) -> list[Any]:
    return [entry for entry in entries if entry["type"] == kind]


async def test_tags_added_and_removed_are_on_the_timeline(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    person = await new_candidate(stack, unique("tags"), tags=["keep", "old"])
    path = f"/api/v1/candidates/{person['id']}"
    changed = await stack.gateway.patch(path, json={"tags": ["keep", "new"]}, headers=auth)
    assert changed.status_code == 200, changed.text
    # A change that leaves the tags alone adds no tag entry.
    retitled = await stack.gateway.patch(path, json={"current_title": "Lead"}, headers=auth)
    assert retitled.status_code == 200, retitled.text
    bulk = await stack.gateway.post(
        "/api/v1/candidates/tags",
        json={"candidate_ids": [person["id"]], "tags": ["bulk"]},
        headers=auth,
    )
    assert bulk.status_code == 200, bulk.text

    entries = of_type(await timeline(stack, person["id"]), "candidate.tags_changed")
    assert [entry["data"] for entry in entries] == [
        {"added": ["bulk"], "removed": []},
        {"added": ["new"], "removed": ["old"]},
    ]
    assert {entry["source"] for entry in entries} == {"candidates"}


async def test_a_note_is_on_the_timeline_without_its_text(stack: Stack) -> None:
    person = await new_candidate(stack, unique("note"))
    added = await stack.gateway.post(
        f"/api/v1/candidates/{person['id']}/notes",
        json={"body": "Call back on Monday"},
        headers=stack.as_(ACME_TOKEN),
    )
    assert added.status_code == 201, added.text
    [entry] = of_type(await timeline(stack, person["id"]), "note.added")
    assert entry["data"] == {"note_id": added.json()["id"], "author_id": "rita"}
    assert "Call back" not in str(entry)
    # Another tenant sees neither the record nor its timeline.
    other = await stack.gateway.get(
        f"/api/v1/candidates/{person['id']}/timeline", headers=stack.as_(GLOBEX_TOKEN)
    )
    assert other.status_code == 404


async def test_an_import_names_itself_on_the_people_it_created_and_updated(
    stack: Stack,
) -> None:
    tag = unique("imported")
    known = await new_candidate(stack, tag)
    fresh = f"{tag}-fresh@example.org"
    job = await start_import(stack, ACME_TOKEN, tags=[tag])
    text = (
        "First,Last,E-mail,Work e-mail,Phone,Skills,Company\n"
        f"Known,Person,{known['emails'][0]},,,,\n"
        f"Fresh,Person,{fresh},,,,\n"
    )
    uploaded = await upload(stack, ACME_TOKEN, job["id"], text)
    assert uploaded.status_code in (200, 202), uploaded.text
    done = await finished(stack, ACME_TOKEN, job["id"])
    assert done["status"] == "completed", done

    [updated] = of_type(await timeline(stack, known["id"]), "candidate.imported")
    assert updated["data"] == {"import_id": job["id"], "outcome": "updated"}
    found = await stack.gateway.get(
        "/api/v1/candidates", params={"tag": tag, "limit": 10}, headers=stack.as_(ACME_TOKEN)
    )
    assert found.status_code == 200, found.text
    [created_id] = [c["id"] for c in found.json()["items"] if fresh in c["emails"]]
    [created] = of_type(await timeline(stack, created_id), "candidate.imported")
    assert created["data"] == {"import_id": job["id"], "outcome": "created"}


async def test_a_merge_and_its_undo_are_on_both_records(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    survivor = await new_candidate(stack, unique("survivor"))
    merged = await new_candidate(stack, unique("merged"))
    done = await stack.gateway.post(
        "/api/v1/candidates/merges",
        json={"survivor_id": survivor["id"], "merged_id": merged["id"], "choices": {}},
        headers=auth,
    )
    assert done.status_code == 201, done.text
    merge_id = done.json()["id"]
    # Merging unites the tags and more: the merge entry says it, not a tag entry.
    [kept] = of_type(await timeline(stack, survivor["id"]), "candidate.merged")
    assert kept["data"] == {
        "merge_id": merge_id,
        "survivor_candidate_id": survivor["id"],
        "other_candidate_id": merged["id"],
        "role": "survivor",
    }
    [folded] = of_type(await timeline(stack, merged["id"]), "candidate.merged")
    assert folded["data"]["role"] == "merged"
    assert folded["data"]["other_candidate_id"] == survivor["id"]

    undone = await stack.gateway.post(f"/api/v1/candidates/merges/{merge_id}/undo", headers=auth)
    assert undone.status_code == 200, undone.text
    [back] = of_type(await timeline(stack, survivor["id"]), "candidate.unmerged")
    assert back["data"]["other_candidate_id"] == merged["id"]
    [restored] = of_type(await timeline(stack, merged["id"]), "candidate.unmerged")
    assert restored["data"]["role"] == "restored"


async def test_a_persons_enrolments_in_every_sequence_are_listed_by_candidate(
    stack: Stack,
) -> None:
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    other_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    steps = [
        {"type": "wait", "days": 3, "label": "pause"},
        {"type": "send", "template_id": template_id},
    ]
    first = await create_sequence(stack, ACME_TOKEN, trigger={"type": "manual"}, steps=steps)
    second = await create_sequence(stack, ACME_TOKEN, trigger={"type": "manual"}, steps=steps)
    await enrol(stack, ACME_TOKEN, first["id"], candidate_id, other_id)
    await enrol(stack, ACME_TOKEN, second["id"], candidate_id)
    auth = stack.as_(ACME_TOKEN)
    removed = await stack.gateway.delete(
        f"/api/v1/sequences/{second['id']}/enrolments/{candidate_id}", headers=auth
    )
    assert removed.status_code == 200, removed.text

    listed = await stack.gateway.get(
        "/api/v1/sequences/enrolments", params={"candidate_id": candidate_id}, headers=auth
    )
    assert listed.status_code == 200, listed.text
    by_sequence = {e["sequence_id"]: e for e in listed.json()["items"]}
    assert set(by_sequence) == {first["id"], second["id"]}
    assert by_sequence[first["id"]]["sequence_name"] == first["name"]
    assert by_sequence[first["id"]]["sequence_status"] == "active"
    assert by_sequence[second["id"]]["state"] == "exited"
    assert by_sequence[second["id"]]["exit_reason"] == "removed"
    assert {e["candidate_id"] for e in listed.json()["items"]} == {candidate_id}

    # A page at a time; the candidate id is required; another tenant sees none of them.
    page = await stack.gateway.get(
        "/api/v1/sequences/enrolments",
        params={"candidate_id": candidate_id, "limit": 1},
        headers=auth,
    )
    assert len(page.json()["items"]) == 1
    assert page.json()["next_cursor"]
    missing = await stack.gateway.get("/api/v1/sequences/enrolments", headers=auth)
    assert missing.status_code == 422
    elsewhere = await stack.gateway.get(
        "/api/v1/sequences/enrolments",
        params={"candidate_id": candidate_id},
        headers=stack.as_(GLOBEX_TOKEN),
    )
    assert elsewhere.status_code == 200
    assert elsewhere.json()["items"] == []

    # Campaigns announced each start and the removal; the candidates service put them on the
    # person's timeline, naming the sequence and why it ended.
    async def on_the_timeline() -> bool:
        entries = await timeline(stack, candidate_id)
        return (
            len(of_type(entries, "enrolment.started")) == 2
            and len(of_type(entries, "enrolment.ended")) == 1
        )

    await eventually(on_the_timeline, message="the enrolments are not on the timeline")
    entries = await timeline(stack, candidate_id)
    started = {e["data"]["sequence_id"]: e for e in of_type(entries, "enrolment.started")}
    assert set(started) == {first["id"], second["id"]}
    assert started[first["id"]]["data"]["sequence_name"] == first["name"]
    assert started[first["id"]]["source"] == "campaigns"
    [ended] = of_type(entries, "enrolment.ended")
    assert ended["data"]["sequence_id"] == second["id"]
    assert ended["data"]["sequence_name"] == second["name"]
    assert (ended["data"]["outcome"], ended["data"]["exit_reason"]) == ("exited", "removed")
    # The other person's timeline has their own start only.
    others = await timeline(stack, other_id)
    assert [e["data"]["sequence_id"] for e in of_type(others, "enrolment.started")] == [first["id"]]

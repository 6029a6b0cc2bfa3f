"""The lifecycle of templates and sequences through the gateway, on the real broker, database
and SMTP sink: versioned edits with If-Match, archiving with its rule for dependants, and
pausing, resuming, editing and archiving a live sequence with its enrolments kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from conftest import SmtpSink
from pymongo import AsyncMongoClient

from crm_campaigns.application.lifecycle import announce_sequences
from crm_campaigns.domain.models import ManualTrigger, Sequence, WaitStep
from crm_shared import (
    ATS_APPLICATION_CREATED,
    SEQUENCE_SAVED,
    AtsApplicationCreated,
    Outbox,
    backfill_versions,
    to_document,
    utc_now,
)
from crm_shared.outbox import OUTBOX_COLLECTION
from helpers import publish_event, read_events, unique
from integration.flow.conftest import ACME_TOKEN, Stack
from integration.flow.sequencing import (
    create_candidate,
    create_sequence,
    enrol,
    enrolment_of,
    mails_to,
)

pytestmark = pytest.mark.integration

Database = Any


@pytest.fixture
async def campaigns_db(stack: Stack, mongodb_uri: str) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    yield client[stack.settings["campaigns"].database_name]
    await client.close()


def headers(stack: Stack, **extra: str) -> dict[str, str]:
    return stack.as_(ACME_TOKEN) | extra


async def new_template(stack: Stack, subject: str) -> str:
    response = await stack.gateway.post(
        "/api/v1/templates",
        headers=headers(stack),
        json={"name": unique("template"), "subject": subject, "html": "<p>Hi</p>", "text": "Hi"},
    )
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    return str(response.json()["id"])


def parts(subject: str) -> dict[str, str]:
    return {"name": unique("template"), "subject": subject, "html": "<p>Hi</p>", "text": "Hi"}


async def fast_forward(campaigns_db: Database, sequence_id: str, candidate_id: str) -> None:
    """Makes the candidate's timer in the sequence due now, as if its wait had passed."""
    result = await campaigns_db["enrolments"].update_many(
        {"sequence_id": sequence_id, "candidate_id": candidate_id},
        {"$set": {"next_run_at": utc_now() - timedelta(seconds=1)}},
    )
    assert result.matched_count == 1


async def test_a_template_edit_needs_the_version_it_was_made_from_and_leaves_sent_mail(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    template_id = await new_template(stack, "Version one")
    candidate_id, email = await create_candidate(stack, ACME_TOKEN, template_id)
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[{"type": "send", "template_id": template_id}],
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    [first] = await mails_to(smtp_sink, email, 1)
    assert first.subject == "Version one"

    url = f"/api/v1/templates/{template_id}"
    missing = await stack.gateway.put(url, headers=headers(stack), json=parts("Version two"))
    assert missing.status_code == 428, missing.text
    assert missing.headers["content-type"] == "application/problem+json"
    edited = await stack.gateway.put(
        url, headers=headers(stack, **{"If-Match": '"1"'}), json=parts("Version two")
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["version"], edited.headers["etag"]) == (2, '"2"')
    # A second recruiter still holding version 1 does not overwrite the first one's edit.
    stale = await stack.gateway.put(
        url, headers=headers(stack, **{"If-Match": '"1"'}), json=parts("Version three")
    )
    assert stale.status_code == 412, stale.text
    assert stale.json()["current_version"] == 2
    latest = await stack.gateway.get(url, headers=headers(stack))
    assert (latest.json()["subject"], latest.headers["etag"]) == ("Version two", '"2"')

    messages = await stack.gateway.get(
        f"/api/v1/messages?candidate_id={candidate_id}", headers=headers(stack)
    )
    assert [m["subject"] for m in messages.json()["items"]] == ["Version one"]


async def test_a_template_in_use_cannot_be_archived_until_its_users_are(stack: Stack) -> None:
    template_id = await new_template(stack, "In use")
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[{"type": "send", "template_id": template_id}],
    )
    url = f"/api/v1/templates/{template_id}"
    refused = await stack.gateway.delete(url, headers=headers(stack))
    assert refused.status_code == 409, refused.text
    assert sequence["name"] in refused.json()["detail"]

    archived_sequence = await stack.gateway.delete(
        f"/api/v1/sequences/{sequence['id']}", headers=headers(stack)
    )
    assert archived_sequence.status_code == 204, archived_sequence.text
    archived = await stack.gateway.delete(url, headers=headers(stack))
    assert archived.status_code == 204, archived.text

    listed = await stack.gateway.get("/api/v1/templates", headers=headers(stack))
    assert template_id not in [t["id"] for t in listed.json()]
    everything = await stack.gateway.get(
        "/api/v1/templates?include_archived=true", headers=headers(stack)
    )
    assert template_id in [t["id"] for t in everything.json()]
    kept = await stack.gateway.get(url, headers=headers(stack))
    assert kept.status_code == 200
    assert kept.json()["archived_at"] is not None
    reused = await stack.gateway.post(
        "/api/v1/sequences",
        headers=headers(stack),
        json={
            "name": unique("sequence"),
            "trigger": {"type": "manual"},
            "steps": [{"type": "send", "template_id": template_id}],
        },
    )
    assert reused.status_code == 422, reused.text


async def test_archiving_a_template_while_a_sequence_is_created_on_it_never_does_both(
    stack: Stack,
) -> None:
    """Sent at the same moment, either the sequence is created and the archive refused, or the
    template is archived and the sequence refused; never a live sequence on an archived
    template."""
    for _ in range(8):
        template_id = await new_template(stack, "Raced")
        archived, created = await asyncio.gather(
            stack.gateway.delete(f"/api/v1/templates/{template_id}", headers=headers(stack)),
            stack.gateway.post(
                "/api/v1/sequences",
                headers=headers(stack),
                json={
                    "name": unique("sequence"),
                    "trigger": {"type": "manual"},
                    "steps": [{"type": "send", "template_id": template_id}],
                },
            ),
        )
        outcome = (archived.status_code, created.status_code)
        assert outcome in {(204, 422), (409, 201)}, (archived.text, created.text)
        template = await stack.gateway.get(
            f"/api/v1/templates/{template_id}", headers=headers(stack)
        )
        assert (template.json()["archived_at"] is not None) == (outcome == (204, 422))


async def test_a_live_sequence_is_edited_paused_resumed_and_archived_with_its_enrolments(
    stack: Stack, smtp_sink: SmtpSink, campaigns_db: Database
) -> None:
    first_template = await new_template(stack, "First touch")
    later_template = await new_template(stack, "Planned follow-up")
    edited_template = await new_template(stack, "Edited follow-up")
    early, early_email = await create_candidate(stack, ACME_TOKEN, first_template)
    late, late_email = await create_candidate(stack, ACME_TOKEN, first_template)
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[
            {"type": "send", "template_id": first_template},
            {"type": "wait", "days": 3},
            {"type": "send", "template_id": later_template},
            {"type": "wait", "days": 3},
        ],
    )
    sequence_id = sequence["id"]
    url = f"/api/v1/sequences/{sequence_id}"
    await enrol(stack, ACME_TOKEN, sequence_id, early)
    await mails_to(smtp_sink, early_email, 1)
    await enrolment_of(
        stack, ACME_TOKEN, sequence_id, early, lambda e: e["state"] == "waiting", "not waiting"
    )

    # An edit of the steps the enrolment has not reached yet applies to it.
    edit = {
        "steps": [
            {"type": "send", "template_id": first_template},
            {"type": "wait", "days": 3},
            {"type": "send", "template_id": edited_template},
            {"type": "wait", "days": 3},
        ]
    }
    assert (await stack.gateway.patch(url, headers=headers(stack), json=edit)).status_code == 428
    edited = await stack.gateway.patch(
        url, headers=headers(stack, **{"If-Match": '"1"'}), json=edit
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["version"], edited.headers["etag"]) == (2, '"2"')
    stale = await stack.gateway.patch(
        url, headers=headers(stack, **{"If-Match": '"1"'}), json={"name": "Someone else's"}
    )
    assert stale.status_code == 412, stale.text

    # Paused: nothing of it runs, a due timer included, and a new enrolment waits paused.
    paused = await stack.gateway.post(f"{url}/pause", headers=headers(stack))
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    again = await stack.gateway.post(f"{url}/pause", headers=headers(stack))
    assert again.status_code == 409, again.text
    await fast_forward(campaigns_db, sequence_id, early)
    outcome = await enrol(stack, ACME_TOKEN, sequence_id, late)
    assert [e["status"] for e in outcome["enrolled"]] == ["paused"]
    for candidate_id in (early, late):
        await enrolment_of(
            stack,
            ACME_TOKEN,
            sequence_id,
            candidate_id,
            lambda e: e["state"] == "paused",
            "an enrolment of the paused sequence is not paused",
        )
    states = await stack.gateway.get(f"{url}/enrolment-states", headers=headers(stack))
    assert states.json()["states"]["paused"] == 2
    assert smtp_sink.messages_to(late_email) == []
    assert len(smtp_sink.messages_to(early_email)) == 1

    # Resumed: each goes on where it stopped, with the edited steps.
    resumed = await stack.gateway.post(f"{url}/resume", headers=headers(stack))
    assert resumed.status_code == 200, resumed.text
    [_, follow_up] = await mails_to(smtp_sink, early_email, 2)
    assert follow_up.subject == "Edited follow-up"
    [welcome] = await mails_to(smtp_sink, late_email, 1)
    assert welcome.subject == "First touch"

    # Archived: it enrols nobody, its enrolments exit and stay readable, it leaves the list.
    archived = await stack.gateway.delete(url, headers=headers(stack))
    assert archived.status_code == 204, archived.text
    for candidate_id in (early, late):
        ended = await enrolment_of(
            stack,
            ACME_TOKEN,
            sequence_id,
            candidate_id,
            lambda e: e["status"] == "exited",
            "an enrolment of the archived sequence did not exit",
        )
        assert ended["exit_reason"] == "sequence_archived"
    refused = await stack.gateway.post(
        f"{url}/enrolments", headers=headers(stack), json={"candidate_ids": [early]}
    )
    assert refused.status_code == 409, refused.text
    listed = await stack.gateway.get("/api/v1/sequences", headers=headers(stack))
    assert sequence_id not in [s["id"] for s in listed.json()]
    shown = await stack.gateway.get(url, headers=headers(stack))
    assert shown.json()["status"] == "archived"
    no_edit = await stack.gateway.patch(
        url, headers=headers(stack, **{"If-Match": shown.headers["etag"]}), json={"name": "x"}
    )
    assert no_edit.status_code == 409, no_edit.text


async def test_an_edit_moves_enrolments_with_their_steps_never_repeating_one(
    stack: Stack, smtp_sink: SmtpSink, campaigns_db: Database
) -> None:
    """A step inserted before where an enrolment waits, and one removed after it: the
    enrolment goes on with the step it was about to run (its position shifts with it), not the
    one now at its old number (until 2026-12-07 it waited out the same wait again, and a send
    inserted before a send it had run made it get that mail twice)."""
    first = await new_template(stack, "First touch")
    follow_up = await new_template(stack, "Follow-up")
    intro = await new_template(stack, "Intro")
    candidate, email = await create_candidate(stack, ACME_TOKEN, first)
    steps = [
        {"type": "send", "template_id": first},
        {"type": "wait", "days": 3},
        {"type": "send", "template_id": follow_up},
        {"type": "wait", "days": 3},
    ]
    sequence = await create_sequence(stack, ACME_TOKEN, trigger={"type": "manual"}, steps=steps)
    url = f"/api/v1/sequences/{sequence['id']}"
    await enrol(stack, ACME_TOKEN, sequence["id"], candidate)
    await mails_to(smtp_sink, email, 1)
    waiting = await enrolment_of(
        stack, ACME_TOKEN, sequence["id"], candidate, lambda e: e["state"] == "waiting", "waits"
    )
    assert waiting["step_index"] == 2  # about to send the follow-up once the wait is over

    edited = await stack.gateway.patch(
        url,
        headers=headers(stack, **{"If-Match": '"1"'}),
        json={"steps": [{"type": "send", "template_id": intro}, *steps[:3]]},
    )
    assert edited.status_code == 200, edited.text
    moved = await enrolment_of(
        stack, ACME_TOKEN, sequence["id"], candidate, lambda e: e["step_index"] != 2, "not moved"
    )
    assert (moved["step_index"], moved["state"]) == (3, "waiting")  # the follow-up, still
    await fast_forward(campaigns_db, sequence["id"], candidate)
    [_, sent] = await mails_to(smtp_sink, email, 2)
    assert sent.subject == "Follow-up"
    await enrolment_of(
        stack, ACME_TOKEN, sequence["id"], candidate, lambda e: e["status"] == "completed", "done"
    )
    # Neither the inserted intro (before what it had run) nor the first mail again.
    assert [m.subject for m in smtp_sink.messages_to(email)] == ["First touch", "Follow-up"]


async def test_a_sequence_edit_is_validated_like_a_new_one(stack: Stack) -> None:
    template_id = await new_template(stack, "Valid")
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[{"type": "send", "template_id": template_id}],
    )
    response: httpx.Response = await stack.gateway.patch(
        f"/api/v1/sequences/{sequence['id']}",
        headers=headers(stack, **{"If-Match": '"1"'}),
        json={"steps": [{"type": "send", "template_id": "no-such-template"}]},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "steps.0.template_id"


async def test_a_draft_broadcast_is_edited_or_deleted_and_a_sent_one_is_kept(
    stack: Stack,
) -> None:
    template_id = await new_template(stack, "Spring fair")
    draft = {
        "name": unique("broadcast"),
        "template_id": template_id,
        "audience": {"type": "list", "candidate_ids": ["nobody-yet"]},
    }
    created = await stack.gateway.post("/api/v1/broadcasts", headers=headers(stack), json=draft)
    assert created.status_code == 201, created.text
    url = f"/api/v1/broadcasts/{created.json()['id']}"
    scheduled = draft | {
        "name": "Spring fair, final",
        "schedule": {"type": "at", "send_at": "2027-03-01T09:00:00+01:00"},
    }
    assert (await stack.gateway.put(url, headers=headers(stack), json=scheduled)).status_code == 428
    edited = await stack.gateway.put(
        url, headers=headers(stack, **{"If-Match": '"1"'}), json=scheduled
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["name"], edited.json()["version"]) == ("Spring fair, final", 2)
    assert edited.json()["schedule"]["type"] == "at"
    stale = await stack.gateway.put(url, headers=headers(stack, **{"If-Match": '"1"'}), json=draft)
    assert stale.status_code == 412, stale.text
    deleted = await stack.gateway.delete(url, headers=headers(stack))
    assert deleted.status_code == 204, deleted.text
    assert (await stack.gateway.get(url, headers=headers(stack))).status_code == 404

    sent = await stack.gateway.post("/api/v1/broadcasts", headers=headers(stack), json=draft)
    sent_url = f"/api/v1/broadcasts/{sent.json()['id']}"
    assert (await stack.gateway.post(f"{sent_url}/send", headers=headers(stack))).status_code == 202
    kept = await stack.gateway.delete(sent_url, headers=headers(stack))
    assert kept.status_code == 409, kept.text
    unchanged = await stack.gateway.put(
        sent_url, headers=headers(stack, **{"If-Match": '"1"'}), json=draft
    )
    assert unchanged.status_code == 409, unchanged.text


async def test_every_change_of_a_sequence_is_announced_as_sequence_saved(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    template_id = await new_template(stack, "Announced")
    segment = await stack.gateway.post(
        "/api/v1/segments",
        headers=headers(stack),
        json={
            "name": unique("segment"),
            "rule": {"all": [{"field": "tags", "op": "equals", "value": unique("t")}]},
        },
    )
    assert segment.status_code == 201, segment.text
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "segment_entered", "segment_id": segment.json()["id"]},
        steps=[{"type": "send", "template_id": template_id}],
    )
    url = f"/api/v1/sequences/{sequence['id']}"
    renamed = await stack.gateway.patch(
        url, headers=headers(stack, **{"If-Match": '"1"'}), json={"name": "Renamed"}
    )
    assert renamed.status_code == 200, renamed.text
    assert (await stack.gateway.post(f"{url}/pause", headers=headers(stack))).status_code == 200
    assert (await stack.gateway.delete(url, headers=headers(stack))).status_code == 204

    saved = await read_events(
        kafka_bootstrap_servers,
        SEQUENCE_SAVED.name,
        where=lambda e: e["subject"] == sequence["id"],
        count=4,
    )
    assert [(e["data"]["status"], e["data"]["version"]) for e in saved] == [
        ("active", 1),
        ("active", 2),
        ("paused", 3),
        ("archived", 4),
    ]
    assert {e["data"]["name"] for e in saved[1:]} == {"Renamed"}
    assert all(e["data"]["trigger_segment_ids"] == [segment.json()["id"]] for e in saved)


async def test_sequences_saved_before_the_topic_existed_are_announced_once(
    stack: Stack, campaigns_db: Database, kafka_bootstrap_servers: str
) -> None:
    tenant = stack.acme
    sequence = Sequence(
        tenant_id=tenant,
        name="From last year",
        trigger=ManualTrigger(),
        steps=[WaitStep(days=1)],
        created_by="rita",
    )
    await campaigns_db["sequences"].insert_one(to_document(sequence))  # as stored before
    outbox = Outbox(campaigns_db, "campaigns")
    await announce_sequences(campaigns_db.client, campaigns_db, outbox)
    await announce_sequences(campaigns_db.client, campaigns_db, outbox)  # a restart: nothing again
    staged = await campaigns_db[OUTBOX_COLLECTION].count_documents(
        {"topic": SEQUENCE_SAVED.name, "key": sequence.id}
    )
    assert staged == 1
    [announced] = await read_events(
        kafka_bootstrap_servers,
        SEQUENCE_SAVED.name,
        where=lambda e: e["subject"] == sequence.id,
        count=1,
    )
    assert announced["data"]["status"] == "active"


async def test_a_block_in_use_cannot_be_deleted_until_its_templates_are_archived(
    stack: Stack,
) -> None:
    key = unique("footer").lower()
    block = await stack.gateway.post(
        "/api/v1/blocks",
        headers=headers(stack),
        json={"key": key, "name": "Footer", "html": "<p>Acme GmbH, München</p>", "text": "Acme"},
    )
    assert block.status_code == 201, block.text
    template = await stack.gateway.post(
        "/api/v1/templates",
        headers=headers(stack),
        json={
            "name": unique("template"),
            "subject": "Hi",
            "html": f"<p>Hi</p>{{{{ blocks.{key} }}}}",
            "text": "Hi",
        },
    )
    assert template.status_code == 201, template.text
    url = f"/api/v1/blocks/{key}"
    refused = await stack.gateway.delete(url, headers=headers(stack))
    assert refused.status_code == 409, refused.text
    assert template.json()["name"] in refused.json()["detail"]
    archived = await stack.gateway.delete(
        f"/api/v1/templates/{template.json()['id']}", headers=headers(stack)
    )
    assert archived.status_code == 204, archived.text
    deleted = await stack.gateway.delete(url, headers=headers(stack))
    assert deleted.status_code == 204, deleted.text
    assert (await stack.gateway.get(url, headers=headers(stack))).status_code == 404


async def test_an_exit_condition_ends_the_enrolment_of_a_paused_sequence(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    template_id = await new_template(stack, "Paused welcome")
    candidate_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[{"type": "wait", "days": 3}, {"type": "send", "template_id": template_id}],
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    paused = await stack.gateway.post(
        f"/api/v1/sequences/{sequence['id']}/pause", headers=headers(stack)
    )
    assert paused.status_code == 200, paused.text
    await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: e["status"] == "paused",
        "not paused",
    )
    # The candidate applies meanwhile: a resume must not carry them on through the steps.
    await publish_event(
        kafka_bootstrap_servers,
        ATS_APPLICATION_CREATED,
        tenant_id=stack.acme,
        subject=candidate_id,
        data=AtsApplicationCreated(
            provider="greenhouse",
            connection_id="c1",
            ats_application_id=unique("app"),
            ats_candidate_id="1",
            candidate_id=candidate_id,
        ),
    )
    ended = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: e["status"] == "exited",
        "the application did not end the paused enrolment",
    )
    assert ended["exit_reason"] == "applied"


async def test_a_template_stored_before_versions_existed_can_be_edited(
    stack: Stack, campaigns_db: Database
) -> None:
    template_id = unique("old")
    await campaigns_db["templates"].insert_one(
        {
            "_id": template_id,
            "tenant_id": stack.acme,
            "name": "From last year",
            "subject": "Hi",
            "html": "<p>Hi</p>",
            "text": "Hi",
            "created_by": "rita",
            "created_at": utc_now(),
        }
    )
    await backfill_versions(campaigns_db, ["templates"])  # what campaigns does on start
    url = f"/api/v1/templates/{template_id}"
    shown = await stack.gateway.get(url, headers=headers(stack))
    assert shown.headers["etag"] == '"1"'
    edited = await stack.gateway.put(
        url, headers=headers(stack, **{"If-Match": '"1"'}), json=parts("This year")
    )
    assert (edited.status_code, edited.json()["version"]) == (200, 2), edited.text

"""A merge and the sequences of the two records, end to end: one record got a sequence's first
mail, the other (the same person) was hired through the ATS, and the merge folds the first into
the second. Nobody is mailed again: the enrolment carries over and ends because the person was
hired, and the survivor's segment entry caused by the merge enrols nobody. A notification about
the merged record names the survivor after the merge, and its own record again after the undo."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from conftest import SmtpSink

from crm_devstack.greenhouse import GreenhouseWebhooks, hire_candidate
from crm_shared import ATS_APPLICATION_HIRED, SEGMENT_ENTERED
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack
from integration.flow.consent_support import Mongo, database
from integration.flow.sequencing import (
    create_candidate,
    create_sequence,
    create_template,
    enrol,
    enrolment_of,
    mails_to,
)

pytestmark = pytest.mark.integration


async def test_a_merge_into_a_hired_record_mails_nobody_again_and_ends_the_enrolment(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, mongo: Mongo
) -> None:
    acme = stack.as_(ACME_TOKEN)
    tag = unique("nurture")
    template_id = await create_template(stack, ACME_TOKEN, subject="Berlin Python")
    # The merged record is in the segment; the survivor enters it only through the merge.
    merged_id, merged_email = await create_candidate(
        stack, ACME_TOKEN, template_id, first_name="Zoe", last_name="Mueller", tags=[tag]
    )
    survivor_id, survivor_email = await create_candidate(
        stack, ACME_TOKEN, template_id, first_name="Zoë", last_name="Müller"
    )
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={"name": tag, "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
        headers=acme,
    )
    assert segment.status_code == 201, segment.text
    segment_id = segment.json()["id"]

    async def segment_ready() -> bool:
        found = await stack.gateway.get(f"/api/v1/segments/{segment_id}", headers=acme)
        return bool(found.json()["status"] == "ready" and found.json()["member_count"] == 1)

    await eventually(segment_ready, message="segment not evaluated", timeout=90)
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "segment_entered", "segment_id": segment_id},
        steps=[
            {"type": "send", "template_id": template_id},
            {"type": "wait", "days": 7},
            {"type": "send", "template_id": template_id},
        ],
        exit_on=["applied", "hired", "replied", "unsubscribed"],
    )
    await mails_to(smtp_sink, merged_email, 1)

    # The survivor is hired through the signed Greenhouse webhook.
    connection = await stack.gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"provider": "greenhouse", "name": unique("greenhouse")},
    )
    assert connection.status_code == 201, connection.text
    greenhouse = GreenhouseWebhooks(
        url=connection.json()["webhook_url"].removeprefix(stack.gateway_url),
        secret=connection.json()["webhook_secret"],
    )
    hired = await greenhouse.deliver(
        stack.gateway,
        hire_candidate(
            application_id=int(unique("1").split("_")[1], 16) % 10**9,
            candidate_id=8101,
            email=survivor_email,
            resolved_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
    )
    assert hired.status_code == 202, hired.text
    await read_events(
        kafka_bootstrap_servers,
        ATS_APPLICATION_HIRED.name,
        where=lambda e: e["data"]["candidate_id"] == survivor_id,
        count=1,
    )
    # The event on the topic is not campaigns having applied it (CI once enrolled the person in
    # between): wait for campaigns' own record of the hire before probing.
    applications = database(stack, mongo, "campaigns")["ats_applications"]

    async def hire_stored() -> bool:
        found = await applications.find_one({"candidate_id": survivor_id, "status": "hired"})
        return found is not None

    await eventually(hire_stored, message="campaigns did not learn of the hire")
    # Once campaigns knows of the hire, a hired person is not enrolled, by hand either.
    manual = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[{"type": "send", "template_id": template_id}],
    )
    response = await stack.gateway.post(
        f"/api/v1/sequences/{manual['id']}/enrolments",
        headers=acme,
        json={"candidate_ids": [survivor_id]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["enrolled"] == [], "a hired person was enrolled"
    assert response.json()["refused"] == [{"candidate_id": survivor_id, "reason": "hired"}]

    merge = await stack.gateway.post(
        "/api/v1/candidates/merges",
        json={"survivor_id": survivor_id, "merged_id": merged_id},
        headers=acme,
    )
    assert merge.status_code == 201, merge.text

    # The enrolment that mailed step 1 is the survivor's now, and ends: the person was hired.
    ended = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        survivor_id,
        lambda e: e["status"] == "exited",
        "the carried-over enrolment did not end",
    )
    assert ended["exit_reason"] == "hired"
    assert ended["step_index"] == 2  # it had sent step 1 and was in the wait after it

    await read_events(
        kafka_bootstrap_servers,
        SEGMENT_ENTERED.name,
        where=lambda e: e["data"]["candidate_id"] == survivor_id,
        count=1,
    )
    # Time for the survivor's segment entry to reach campaigns and for an engine round.
    await asyncio.sleep(5)
    listed = await stack.gateway.get(f"/api/v1/sequences/{sequence['id']}/enrolments", headers=acme)
    enrolments = [
        (e["candidate_id"], e["status"], e["exit_reason"]) for e in listed.json()["items"]
    ]
    assert enrolments == [(survivor_id, "exited", "hired")]
    messages = await stack.gateway.get(
        f"/api/v1/messages?sequence_id={sequence['id']}", headers=acme
    )
    assert [m["candidate_id"] for m in messages.json()["items"]] == [survivor_id]
    assert len(smtp_sink.messages_to(merged_email)) == 1
    assert smtp_sink.messages_to(survivor_email) == []


async def test_a_notification_about_the_merged_record_follows_the_merge_and_its_undo(
    stack: Stack,
) -> None:
    acme = stack.as_(ACME_TOKEN)
    template_id = await create_template(stack, ACME_TOKEN)
    merged_id, _ = await create_candidate(
        stack, ACME_TOKEN, template_id, first_name="Zoe", last_name="Mueller"
    )
    survivor_id, _ = await create_candidate(
        stack, ACME_TOKEN, template_id, first_name="Zoë", last_name="Müller"
    )
    title = unique("ready")
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[{"type": "notify_owner", "title": title}],
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], merged_id)

    async def notified_about() -> set[str]:
        """The candidates the notifications titled `title` are about."""
        found = await stack.gateway.get(
            "/api/v1/notifications", params={"limit": 200}, headers=acme
        )
        assert found.status_code == 200, found.text
        return {n["candidate_id"] for n in found.json()["items"] if n["title"] == title}

    async def about(candidate_id: str) -> bool:
        return await notified_about() == {candidate_id}

    await eventually(lambda: about(merged_id), message="the notify step left no notification")

    merge = await stack.gateway.post(
        "/api/v1/candidates/merges",
        json={"survivor_id": survivor_id, "merged_id": merged_id},
        headers=acme,
    )
    assert merge.status_code == 201, merge.text
    await eventually(
        lambda: about(survivor_id), message="the notification still names the merged record"
    )

    undone = await stack.gateway.post(
        f"/api/v1/candidates/merges/{merge.json()['id']}/undo", headers=acme
    )
    assert undone.status_code == 200, undone.text
    await eventually(
        lambda: about(merged_id), message="the undo did not give the notification back"
    )

"""What enrols candidates in sequences and what ends their enrolments, end to end: pool stages,
event check-ins (the events service's check-in and walk-in endpoints, a walk-in nobody knew
becoming a candidate first), Greenhouse rejections (silver medalists) and hires through the
signed webhook, replies, consent withdrawals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_devstack.greenhouse import (
    GreenhouseWebhooks,
    candidate_stage_change,
    hire_candidate,
    new_candidate_application,
    reject_candidate,
)
from crm_shared import (
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ATS_APPLICATION_STAGE_CHANGED,
    CONSENT_CHANGED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    MESSAGE_REPLIED,
    POOL_STAGE_CHANGED,
    ConsentChanged,
    MessageReplied,
    PoolStageChanged,
)
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack
from integration.flow.sequencing import (
    create_candidate,
    create_sequence,
    create_template,
    enrol,
    enrolment_of,
    pool_move,
    publish,
)

pytestmark = pytest.mark.integration

LONG_WAIT = [{"type": "wait", "days": 30}]


def moved(candidate_id: str, pool_id: str, to_stage: str) -> PoolStageChanged:
    return pool_move(candidate_id, pool_id, to_stage, pool_name="Data engineers")


async def test_reaching_a_pool_stage_enrols_only_in_that_tenant(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    pool_id = unique("pool")
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "pool_stage_reached", "pool_id": pool_id, "stage": "engaged"},
        steps=LONG_WAIT,
    )
    # Same key, so these arrive in order: another tenant's event, another stage, then the stage.
    for tenant, stage in [(stack.globex, "engaged"), (stack.acme, "contacted")]:
        await publish(
            kafka_bootstrap_servers,
            POOL_STAGE_CHANGED,
            tenant,
            candidate_id,
            moved(candidate_id, pool_id, stage),
        )
    await publish(
        kafka_bootstrap_servers,
        POOL_STAGE_CHANGED,
        stack.acme,
        candidate_id,
        moved(candidate_id, pool_id, "engaged"),
    )
    enrolment = await enrolment_of(
        stack, ACME_TOKEN, sequence["id"], candidate_id, lambda e: True, "not enrolled"
    )
    assert enrolment["enrolled_by"] == f"pool:{pool_id}:engaged"
    listed = await stack.gateway.get(
        f"/api/v1/sequences/{sequence['id']}/enrolments", headers=stack.as_(ACME_TOKEN)
    )
    assert [e["entry"] for e in listed.json()["items"]] == [1]


async def test_check_in_and_walk_ins_emit_event_checked_in_and_enrol(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    acme = stack.as_(ACME_TOKEN)
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, email = await create_candidate(stack, ACME_TOKEN, template_id)
    event = await stack.gateway.post(
        "/api/v1/events",
        headers=acme,
        json={
            "name": "Data meetup",
            "kind": "meetup",
            "starts_at": "2030-12-10T18:00:00+01:00",
            "capacity": 1,
        },
    )
    assert event.status_code == 201, event.text
    event_id = event.json()["id"]
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "event_checked_in", "event_id": event_id},
        steps=LONG_WAIT,
    )
    registration = await stack.gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={"first_name": "Grace", "last_name": "Hopper", "email": email},
    )
    assert registration.status_code == 201, registration.text
    registration_id = registration.json()["id"]
    path = f"/api/v1/events/{event_id}/registrations/{registration_id}/check-in"

    other_tenant = await stack.gateway.post(path, headers=stack.as_(GLOBEX_TOKEN))
    assert other_tenant.status_code == 404
    unknown = await stack.gateway.post(
        f"/api/v1/events/{event_id}/registrations/nobody/check-in", headers=acme
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"

    checked_in = await stack.gateway.post(path, headers=acme)
    assert checked_in.status_code == 200, checked_in.text
    assert checked_in.json()["checked_in_at"] is not None
    again = await stack.gateway.post(path, headers=acme)
    assert again.json()["checked_in_at"] == checked_in.json()["checked_in_at"]

    # The event is full (capacity 1): a walk-in still gets in, and is checked in at once.
    walk_in_email = f"{unique('walkin')}@example.org"
    bad = await stack.gateway.post(
        f"/api/v1/events/{event_id}/walk-ins",
        headers=acme,
        json={"first_name": "", "last_name": "Doe", "email": "not-an-email"},
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"first_name", "email"}
    walk_in = await stack.gateway.post(
        f"/api/v1/events/{event_id}/walk-ins",
        headers=acme,
        json={"first_name": "Alan", "last_name": "Turing", "email": walk_in_email},
    )
    assert walk_in.status_code == 201, walk_in.text
    assert walk_in.json()["walk_in"] is True
    assert walk_in.json()["status"] == "registered"
    # A walk-in who had registered is just checked in.
    known = await stack.gateway.post(
        f"/api/v1/events/{event_id}/walk-ins",
        headers=acme,
        json={"first_name": "Grace", "last_name": "Hopper", "email": email},
    )
    assert known.status_code == 200, known.text
    assert known.json()["id"] == registration_id

    attended = await read_events(
        kafka_bootstrap_servers,
        EVENT_CHECKED_IN.name,
        where=lambda e: e["data"]["event_id"] == event_id,
        count=2,
    )
    by_registration = {e["data"]["registration_id"]: e for e in attended}
    assert by_registration[registration_id]["data"]["candidate_id"] == candidate_id
    assert by_registration[registration_id]["data"]["walk_in"] is False
    assert by_registration[registration_id]["tenant_id"] == stack.acme
    walked = by_registration[walk_in.json()["id"]]
    assert walked["data"]["walk_in"] is True
    assert walked["data"]["email"] == walk_in_email
    # Nobody knew the walk-in: the candidates service created them from the registration, and
    # only then was the attendance announced, with the new candidate, who is enrolled too.
    walk_in_candidate = walked["data"]["candidate_id"]
    assert walk_in_candidate is not None
    assert walked["subject"] == walk_in_candidate
    await enrolment_of(
        stack, ACME_TOKEN, sequence["id"], walk_in_candidate, lambda e: True, "walk-in not enrolled"
    )
    [registered] = await read_events(
        kafka_bootstrap_servers,
        EVENT_REGISTERED.name,
        where=lambda e: e["data"]["registration_id"] == walk_in.json()["id"],
        count=1,
    )
    assert registered["data"]["email"] == walk_in_email

    enrolment = await enrolment_of(
        stack, ACME_TOKEN, sequence["id"], candidate_id, lambda e: True, "not enrolled"
    )
    assert enrolment["enrolled_by"] == f"event:{event_id}"
    listed = await stack.gateway.get(f"/api/v1/events/{event_id}/registrations", headers=acme)
    checked = {r["id"]: r["checked_in_at"] is not None for r in listed.json()["items"]}
    assert checked == {registration_id: True, walk_in.json()["id"]: True}


async def test_greenhouse_rejections_enrol_silver_medalists_and_a_hire_ends_it(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    template_id = await create_template(stack, ACME_TOKEN)
    silver_id, silver_email = await create_candidate(stack, ACME_TOKEN, template_id)
    early_id, early_email = await create_candidate(stack, ACME_TOKEN, template_id)
    silver_only = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "ats_rejected", "stages": ["Face to Face", "Offer"]},
        steps=LONG_WAIT,
        exit_on=["hired"],
    )
    any_rejection = await create_sequence(
        stack, ACME_TOKEN, trigger={"type": "ats_rejected"}, steps=LONG_WAIT
    )
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
    application_id = int(unique("1").split("_")[1], 16) % 10**9
    created = await greenhouse.deliver(
        stack.gateway,
        new_candidate_application(
            application_id=application_id,
            candidate_id=7001,
            email=silver_email,
            first_name="Grace",
            last_name="Hopper",
            job_name="Data Engineer",
        ),
    )
    assert created.status_code == 202, created.text
    stage_change = candidate_stage_change(
        application_id=application_id, candidate_id=7001, email=silver_email, stage="Offer"
    )
    moved = await greenhouse.deliver(stack.gateway, stage_change, delivery_id=unique("d"))
    assert moved.status_code == 202, moved.text
    rejected_at = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    rejection = reject_candidate(
        application_id=application_id,
        candidate_id=7001,
        email=silver_email,
        stage="Offer",
        reason="Hired another candidate",
        rejected_at=rejected_at,
    )
    rejected = await greenhouse.deliver(stack.gateway, rejection, delivery_id="reject-1")
    assert rejected.status_code == 202, rejected.text
    replayed = await greenhouse.deliver(stack.gateway, rejection, delivery_id="reject-1")
    assert replayed.json()["status"] == "duplicate"
    early = await greenhouse.deliver(
        stack.gateway,
        reject_candidate(
            application_id=application_id + 1,
            candidate_id=7002,
            email=early_email,
            stage="Application Review",
        ),
    )
    assert early.status_code == 202, early.text

    [stage_changed] = await read_events(
        kafka_bootstrap_servers,
        ATS_APPLICATION_STAGE_CHANGED.name,
        where=lambda e: e["data"]["ats_application_id"] == str(application_id),
        count=1,
    )
    assert stage_changed["data"]["from_stage"] == "Application Review"
    assert stage_changed["data"]["stage"] == "Offer"
    assert stage_changed["data"]["candidate_id"] == silver_id
    rejections = await read_events(
        kafka_bootstrap_servers,
        ATS_APPLICATION_REJECTED.name,
        where=lambda e: e["data"]["candidate_id"] in (silver_id, early_id),
        count=2,
    )
    by_candidate = {e["data"]["candidate_id"]: e["data"] for e in rejections}
    assert by_candidate[silver_id]["stage"] == "Offer"
    assert by_candidate[silver_id]["rejection_reason"] == "Hired another candidate"
    assert by_candidate[silver_id]["occurred_at"].startswith(rejected_at.removesuffix("Z"))
    assert by_candidate[early_id]["stage"] == "Application Review"

    # Both were rejected, so both joined the any-rejection sequence; only the one who reached
    # the offer joined the silver-medalist one (one handler transaction decides both).
    for candidate_id in (silver_id, early_id):
        await enrolment_of(
            stack, ACME_TOKEN, any_rejection["id"], candidate_id, lambda e: True, "not enrolled"
        )
    silver = await stack.gateway.get(
        f"/api/v1/sequences/{silver_only['id']}/enrolments", headers=stack.as_(ACME_TOKEN)
    )
    assert [e["candidate_id"] for e in silver.json()["items"]] == [silver_id]

    resolved_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    hired = await greenhouse.deliver(
        stack.gateway,
        hire_candidate(
            application_id=application_id + 2,
            candidate_id=7001,
            email=silver_email,
            resolved_at=resolved_at,
        ),
    )
    assert hired.status_code == 202, hired.text
    [hire] = await read_events(
        kafka_bootstrap_servers,
        ATS_APPLICATION_HIRED.name,
        where=lambda e: e["data"]["candidate_id"] == silver_id,
        count=1,
    )
    assert hire["data"]["occurred_at"].startswith(resolved_at.removesuffix("Z"))
    for sequence in (silver_only, any_rejection):
        ended = await enrolment_of(
            stack,
            ACME_TOKEN,
            sequence["id"],
            silver_id,
            lambda e: e["status"] == "exited",
            "the hire did not end the enrolment",
        )
        # The hire came as a new application hired at once: a sequence that also exits on
        # `applied` (the any-rejection one, by default) may meet the application first.
        allowed = {"hired"} if sequence is silver_only else {"hired", "applied"}
        assert ended["exit_reason"] in allowed, ended
    applications = await stack.gateway.get(
        f"/api/v1/ats/applications?candidate_id={silver_id}", headers=stack.as_(ACME_TOKEN)
    )
    statuses = {a["ats_application_id"]: (a["status"], a["stage"]) for a in applications.json()}
    assert statuses[str(application_id)] == ("rejected", "Offer")
    assert statuses[str(application_id + 2)] == ("hired", None)


async def test_a_malformed_greenhouse_change_is_refused(stack: Stack) -> None:
    connection = await stack.gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"provider": "greenhouse", "name": unique("greenhouse")},
    )
    greenhouse = GreenhouseWebhooks(
        url=connection.json()["webhook_url"].removeprefix(stack.gateway_url),
        secret=connection.json()["webhook_secret"],
    )
    malformed = await greenhouse.deliver(
        stack.gateway, b'{"action": "reject_candidate", "payload": {"application": {"id": 1}}}'
    )
    assert malformed.status_code == 422
    assert malformed.json()["type"] == "urn:recruitcrm:problem:malformed-webhook"
    ignored = await greenhouse.deliver(
        stack.gateway, b'{"action": "update_candidate", "payload": {"candidate": {"id": 1}}}'
    )
    assert ignored.status_code == 202


async def test_replies_and_withdrawn_consent_end_enrolments_that_exit_on_them(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    template_id = await create_template(stack, ACME_TOKEN)
    replier, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    withdrawer, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    unsubscriber, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    default_exits = await create_sequence(
        stack, ACME_TOKEN, trigger={"type": "manual"}, steps=LONG_WAIT
    )
    hires_only = await create_sequence(
        stack, ACME_TOKEN, trigger={"type": "manual"}, steps=LONG_WAIT, exit_on=["hired"]
    )
    for sequence in (default_exits, hires_only):
        await enrol(stack, ACME_TOKEN, sequence["id"], replier, withdrawer, unsubscriber)

    await publish(
        kafka_bootstrap_servers,
        MESSAGE_REPLIED,
        stack.acme,
        replier,
        MessageReplied(message_id="m-1", candidate_id=replier, received_at=datetime.now(UTC)),
    )
    await publish(
        kafka_bootstrap_servers,
        CONSENT_CHANGED,
        stack.acme,
        withdrawer,
        ConsentChanged(
            candidate_id=withdrawer,
            purpose="marketing",
            status="withdrawn",
            lawful_basis="consent",
            source="preference_centre",
            marketing_consent=False,
        ),
    )
    patched = await stack.gateway.patch(
        f"/api/v1/candidates/{unsubscriber}",
        headers=stack.as_(ACME_TOKEN),
        json={"marketing_consent": False},
    )
    assert patched.status_code == 200, patched.text

    expected = {replier: "replied", withdrawer: "unsubscribed", unsubscriber: "unsubscribed"}
    for candidate_id, reason in expected.items():
        ended = await enrolment_of(
            stack,
            ACME_TOKEN,
            default_exits["id"],
            candidate_id,
            lambda e: e["status"] == "exited",
            f"{reason} did not end the enrolment",
        )
        assert ended["exit_reason"] == reason
    # The same events were handled for the sequence that exits on hires only: still active.
    kept = await stack.gateway.get(
        f"/api/v1/sequences/{hires_only['id']}/enrolments", headers=stack.as_(ACME_TOKEN)
    )
    assert {e["status"] for e in kept.json()["items"]} == {"active"}
    assert len(kept.json()["items"]) == 3


async def test_a_reply_to_the_send_takes_the_yes_path_of_a_replied_branch(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        exit_on=["hired"],
        steps=[
            {"type": "send", "template_id": template_id},
            {"type": "branch", "condition": "replied", "within_days": 5, "if_no": "end"},
            {"type": "notify_owner", "title": "{{ candidate.first_name }} replied"},
        ],
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    waiting = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: e["step_index"] == 1 and e["awaiting_signal"],
        "the branch did not wait for a reply",
    )
    sent: list[dict[str, str]] = []

    async def message_sent() -> bool:
        response = await stack.gateway.get(
            f"/api/v1/messages?candidate_id={candidate_id}", headers=stack.as_(ACME_TOKEN)
        )
        sent[:] = [m for m in response.json()["items"] if m["status"] == "sent"]
        return bool(sent)

    await eventually(message_sent, message="the message was not sent")
    [message] = sent
    assert message["enrolment_id"] == waiting["id"]
    await publish(
        kafka_bootstrap_servers,
        MESSAGE_REPLIED,
        stack.acme,
        candidate_id,
        MessageReplied(
            message_id=message["id"],
            candidate_id=candidate_id,
            received_at=datetime.now(UTC),
            sequence_id=sequence["id"],
            enrolment_id=waiting["id"],
        ),
    )
    done = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: e["status"] == "completed",
        "the reply did not take the yes path",
    )
    assert done["step_count"] == 3
    notifications = await stack.gateway.get("/api/v1/notifications", headers=stack.as_(ACME_TOKEN))
    assert "Grace replied" in [
        n["title"] for n in notifications.json()["items"] if n["candidate_id"] == candidate_id
    ]

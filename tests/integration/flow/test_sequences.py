"""Nurture sequence steps through the gateway, on the real broker, database and SMTP sink:
validation, action steps (mail, tag and stage requests, owner notifications), branches on
clicks and opens, local-time waits, manual enrolment and removal, re-entry, tenant isolation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from conftest import SmtpSink
from pymongo import AsyncMongoClient

from crm_shared import CANDIDATE_CHANGE_REQUESTED, CANDIDATE_UPDATED, CandidateUpdated
from helpers import eventually, read_events
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack
from integration.flow.sequencing import (
    create_candidate,
    create_sequence,
    create_template,
    enrol,
    enrolment_of,
    folded_report,
    mails_to,
    publish,
    tracked_links,
)

pytestmark = pytest.mark.integration

Database = Any


@pytest.fixture
async def campaigns_db(stack: Stack, mongodb_uri: str) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    yield client[stack.settings["campaigns"].database_name]
    await client.close()


def problem_fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [error["field"] for error in response.json()["errors"]]


async def test_a_bad_definition_is_refused_naming_each_field(stack: Stack) -> None:
    template_id = await create_template(stack, ACME_TOKEN)
    send = {"type": "send", "template_id": template_id, "label": "intro"}

    async def create(trigger: Any, steps: Any) -> httpx.Response:
        return await stack.gateway.post(
            "/api/v1/sequences",
            headers=stack.as_(ACME_TOKEN),
            json={"name": "bad", "trigger": trigger, "steps": steps},
        )

    manual = {"type": "manual"}
    branch = {"type": "branch", "condition": "opened", "within_days": 1}
    assert problem_fields(await create(manual, [send, branch | {"if_yes": "nowhere"}])) == [
        "steps.1.if_yes"
    ]
    assert problem_fields(await create(manual, [send, branch | {"if_no": "intro"}])) == [
        "steps.1.if_no"
    ]  # a loop without a wait
    assert problem_fields(await create(manual, [send, {"type": "wait", "hours": 24}])) == [
        "steps.1.hours"
    ]
    assert problem_fields(
        await create({"type": "pool_stage_reached", "pool_id": "p"}, [{"type": "nap"}])
    ) == ["trigger.stage", "steps.0.type"]
    assert problem_fields(
        await create(manual, [{"type": "wait_until", "weekdays": ["tue"], "time": "25:00"}])
    ) == ["steps.0.time"]
    assert problem_fields(await create(manual, [])) == ["steps"]
    unknown_template = await create(manual, [{"type": "send", "template_id": "missing"}])
    assert problem_fields(unknown_template) == ["steps.0.template_id"]
    # A template of another tenant is unknown too.
    globex_template = await create_template(stack, GLOBEX_TOKEN)
    stolen = await create(manual, [{"type": "send", "template_id": globex_template}])
    assert problem_fields(stolen) == ["steps.0.template_id"]
    # A loop with a wait in it is fine.
    fine = await create(manual, [send, {"type": "wait", "days": 7}, branch | {"if_no": "intro"}])
    assert fine.status_code == 201, fine.text


async def test_action_steps_run_once_and_the_owner_is_notified(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    template_id = await create_template(stack, ACME_TOKEN, subject="Action steps")
    candidate_id, email = await create_candidate(stack, ACME_TOKEN, template_id)
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[
            {"type": "send", "template_id": template_id},
            {"type": "add_tag", "tags": ["nurtured", "autumn"]},
            {"type": "remove_tag", "tags": ["cold"]},
            {"type": "move_stage", "pool_id": "pool-data", "stage": "engaged"},
            {
                "type": "notify_owner",
                "title": "{{ candidate.first_name }} finished the autumn nurture",
                "body": "Time to call {{ candidate.first_name }} {{ candidate.last_name }}.",
            },
        ],
    )
    outcome = await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id, "no-such-candidate")
    assert [e["candidate_id"] for e in outcome["enrolled"]] == [candidate_id]
    assert outcome["refused"] == [
        {"candidate_id": "no-such-candidate", "reason": "unknown_candidate"}
    ]
    done = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: e["status"] == "completed",
        "the enrolment did not complete",
    )
    assert done["step_count"] == 5
    assert done["enrolled_by"] == "user:rita"
    [mail] = await mails_to(smtp_sink, email, 1)
    assert mail.subject == "Action steps Grace"

    requested = await read_events(
        kafka_bootstrap_servers,
        CANDIDATE_CHANGE_REQUESTED.name,
        where=lambda e: e["subject"] == candidate_id,
        count=3,
    )
    assert {e["tenant_id"] for e in requested} == {stack.acme}
    changes = sorted(
        (
            tuple(e["data"]["add_tags"]),
            tuple(e["data"]["remove_tags"]),
            e["data"]["pool_id"],
            e["data"]["stage"],
        )
        for e in requested
    )
    assert changes == [
        ((), (), "pool-data", "engaged"),
        ((), ("cold",), None, None),
        (("nurtured", "autumn"), (), None, None),
    ]
    assert {e["data"]["requested_by"] for e in requested} == {f"sequence:{sequence['id']}"}

    # The candidate's owner (rita created her) sees the notification; nobody else does.
    notifications = await stack.gateway.get(
        "/api/v1/notifications?unread=true", headers=stack.as_(ACME_TOKEN)
    )
    assert notifications.status_code == 200, notifications.text
    [notification] = [n for n in notifications.json()["items"] if n["candidate_id"] == candidate_id]
    assert notification["title"] == "Grace finished the autumn nurture"
    assert notification["body"] == "Time to call Grace Hopper."
    assert notification["sequence_id"] == sequence["id"]
    globex = await stack.gateway.get("/api/v1/notifications", headers=stack.as_(GLOBEX_TOKEN))
    assert globex.json()["items"] == []
    stolen = await stack.gateway.post(
        f"/api/v1/notifications/{notification['id']}/read", headers=stack.as_(GLOBEX_TOKEN)
    )
    assert stolen.status_code == 404
    read = await stack.gateway.post(
        f"/api/v1/notifications/{notification['id']}/read", headers=stack.as_(ACME_TOKEN)
    )
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    unread = await stack.gateway.get(
        "/api/v1/notifications?unread=true", headers=stack.as_(ACME_TOKEN)
    )
    assert notification["id"] not in {n["id"] for n in unread.json()["items"]}

    # Never re-entering (the default): a second enrolment is refused.
    again = await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    assert again == {
        "enrolled": [],
        "refused": [{"candidate_id": candidate_id, "reason": "reentry_not_allowed"}],
    }


async def test_a_send_held_back_for_want_of_consent_ends_the_enrolment_with_the_reason(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    """A person without marketing consent, enrolled by hand, is not mailed; the enrolment
    says so and stops there instead of branching on a mail nobody received."""
    template_id = await create_template(stack, ACME_TOKEN, subject="Held back")
    candidate_id, email = await create_candidate(
        stack, ACME_TOKEN, template_id, marketing_consent=False
    )
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[
            {"type": "send", "template_id": template_id},
            {"type": "wait", "minutes": 1},
            {"type": "branch", "condition": "opened", "within_hours": 1, "if_no": "end"},
            {"type": "notify_owner", "title": "{{ candidate.first_name }} opened it"},
            {"type": "add_tag", "tags": ["warm"]},
            {"type": "move_stage", "pool_id": "pool-data", "stage": "engaged"},
        ],
    )
    # Accepted, then ended at the send step: consent is decided when the mail would leave.
    outcome = await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    assert [e["candidate_id"] for e in outcome["enrolled"]] == [candidate_id]
    ended = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: e["state"] == "exited",
        "the enrolment did not exit at its suppressed send step",
    )
    assert (ended["exit_reason"], ended["exit_step"]) == ("no_marketing_consent", 0)
    assert ended["ended_at"] is not None
    messages = await stack.gateway.get(
        f"/api/v1/messages?candidate_id={candidate_id}", headers=stack.as_(ACME_TOKEN)
    )
    [message] = messages.json()["items"]
    assert (message["status"], message["suppression_reason"]) == (
        "suppressed",
        "no_marketing_consent",
    )
    assert message["enrolment_id"] == ended["id"]
    # Nothing after the send ran: no notification; the ended enrolment runs no more steps.
    notifications = await stack.gateway.get("/api/v1/notifications", headers=stack.as_(ACME_TOKEN))
    assert [n for n in notifications.json()["items"] if n["candidate_id"] == candidate_id] == []
    assert smtp_sink.messages_to(email) == []

    # The person's timeline tells the story through the real broker: enrolled, the mail not
    # sent and why, and the enrolment's end at that step, each naming the sequence.
    async def timeline() -> dict[str, Any]:
        response = await stack.gateway.get(
            f"/api/v1/candidates/{candidate_id}/timeline",
            params={"limit": 100},
            headers=stack.as_(ACME_TOKEN),
        )
        assert response.status_code == 200, response.text
        return {entry["type"]: entry for entry in response.json()["items"]}

    story = ("enrolment.started", "message.suppressed", "enrolment.ended")

    async def told() -> bool:
        return set(story) <= set(await timeline())

    await eventually(told, message="the enrolment and the held-back mail are not on the timeline")
    entries = await timeline()
    assert entries["enrolment.started"]["data"]["sequence_name"] == sequence["name"]
    held_back = entries["message.suppressed"]["data"]
    assert (held_back["reason"], held_back["sequence_name"], held_back["subject"]) == (
        "no_marketing_consent",
        sequence["name"],
        message["subject"],
    )
    assert held_back["message_id"] == message["id"]
    exit_entry = entries["enrolment.ended"]["data"]
    assert (exit_entry["outcome"], exit_entry["exit_reason"], exit_entry["exit_step"]) == (
        "exited",
        "no_marketing_consent",
        0,
    )

    # Analytics counts the held-back mail in the sequence's report, at its step, never as sent.
    report_url = f"/api/v1/analytics/sequences/{sequence['id']}"
    report = await folded_report(
        stack,
        report_url,
        lambda found: bool(found["totals"]["suppressed"]),
        "the sequence report shows no held-back mail",
    )
    assert (report["totals"]["suppressed"], report["totals"]["sent"]) == (1, 0)
    assert [(g["key"], g["figures"]["suppressed"]) for g in report["groups"]] == [("0", 1)]

    # And the enrolment in the sequence's enrolment report: entered, exited at that step.
    enrolments_url = f"{report_url}/enrolments"
    enrolments = await folded_report(
        stack,
        enrolments_url,
        lambda found: bool(found["totals"]["exited"]),
        "the enrolment report shows no exit",
    )
    totals = enrolments["totals"]
    assert (totals["entered"], totals["completed"], totals["exited"]) == (1, 0, 1)
    assert (enrolments["name"], enrolments["enrolled_now"]) == (sequence["name"], 0)
    assert enrolments["exit_reasons"] == [{"reason": "no_marketing_consent", "count": 1}]
    assert enrolments["exit_steps"] == [{"step": 0, "count": 1}]
    other = await stack.gateway.get(enrolments_url, headers=stack.as_(GLOBEX_TOKEN))
    assert other.status_code == 404, other.text


async def test_another_tenant_can_neither_see_nor_change_enrolments(stack: Stack) -> None:
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[{"type": "wait", "days": 3}, {"type": "send", "template_id": template_id}],
    )
    globex = stack.as_(GLOBEX_TOKEN)
    path = f"/api/v1/sequences/{sequence['id']}/enrolments"
    assert (
        await stack.gateway.get(f"/api/v1/sequences/{sequence['id']}", headers=globex)
    ).status_code == 404
    assert (
        await stack.gateway.post(path, headers=globex, json={"candidate_ids": [candidate_id]})
    ).status_code == 404
    # Globex's own sequence cannot enrol Acme's candidate: Globex does not know her.
    own = await create_sequence(
        stack, GLOBEX_TOKEN, trigger={"type": "manual"}, steps=[{"type": "wait", "days": 1}]
    )
    outcome = await enrol(stack, GLOBEX_TOKEN, own["id"], candidate_id)
    assert outcome["refused"] == [{"candidate_id": candidate_id, "reason": "unknown_candidate"}]

    await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    removal = await stack.gateway.delete(f"{path}/{candidate_id}", headers=globex)
    assert removal.status_code == 404
    waiting = await enrolment_of(
        stack, ACME_TOKEN, sequence["id"], candidate_id, lambda e: e["step_index"] == 1, "no wait"
    )
    assert waiting["status"] == "active"
    bad = await stack.gateway.post(path, headers=stack.as_(ACME_TOKEN), json={"candidate_ids": []})
    assert problem_fields(bad) == ["candidate_ids"]
    removed = await stack.gateway.delete(f"{path}/{candidate_id}", headers=stack.as_(ACME_TOKEN))
    assert removed.status_code == 200, removed.text
    assert removed.json()["status"] == "exited"
    assert removed.json()["exit_reason"] == "removed"
    twice = await stack.gateway.delete(f"{path}/{candidate_id}", headers=stack.as_(ACME_TOKEN))
    assert twice.status_code == 404


async def test_re_entry_follows_the_sequence_policy(stack: Stack) -> None:
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    steps = [{"type": "wait", "days": 30}]
    always = await create_sequence(
        stack, ACME_TOKEN, trigger={"type": "manual"}, steps=steps, reentry={"policy": "always"}
    )
    later = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=steps,
        reentry={"policy": "after_days", "days": 30},
    )
    for sequence in (always, later):
        first = await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
        assert [e["entry"] for e in first["enrolled"]] == [1]
        busy = await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
        assert busy["refused"] == [{"candidate_id": candidate_id, "reason": "already_active"}]
        removed = await stack.gateway.delete(
            f"/api/v1/sequences/{sequence['id']}/enrolments/{candidate_id}",
            headers=stack.as_(ACME_TOKEN),
        )
        assert removed.status_code == 200
    second = await enrol(stack, ACME_TOKEN, always["id"], candidate_id)
    assert [e["entry"] for e in second["enrolled"]] == [2]
    too_soon = await enrol(stack, ACME_TOKEN, later["id"], candidate_id)
    assert too_soon["refused"] == [{"candidate_id": candidate_id, "reason": "reentry_too_soon"}]


async def test_a_click_within_the_window_takes_the_yes_path(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    template_id = await create_template(stack, ACME_TOKEN, subject="Click me")
    candidate_id, email = await create_candidate(stack, ACME_TOKEN, template_id)
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[
            {"type": "send", "template_id": template_id},
            {
                "type": "branch",
                "condition": "clicked",
                "within_days": 2,
                "if_yes": "hot",
                "if_no": "end",
            },
            {"type": "add_tag", "tags": ["clicked-role"], "label": "hot"},
        ],
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    [mail] = await mails_to(smtp_sink, email, 1)
    waiting = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: e["awaiting_signal"],
        "the branch did not wait for a click",
    )
    assert waiting["status"] == "active"
    assert waiting["step_index"] == 1
    _, link = tracked_links(mail)
    async with httpx.AsyncClient(headers={"User-Agent": "Mozilla/5.0 (X11)"}) as reader:
        clicked = await reader.get(link, follow_redirects=False)
    assert clicked.status_code == 302
    done = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: e["status"] == "completed",
        "the click did not move the branch on",
    )
    assert done["step_count"] == 3
    [tagged] = await read_events(
        kafka_bootstrap_servers,
        CANDIDATE_CHANGE_REQUESTED.name,
        where=lambda e: e["subject"] == candidate_id,
        count=1,
    )
    assert tagged["data"]["add_tags"] == ["clicked-role"]


async def test_no_human_open_within_the_window_takes_the_no_path(
    stack: Stack, smtp_sink: SmtpSink, campaigns_db: Database
) -> None:
    template_id = await create_template(stack, ACME_TOKEN, subject="Open me")
    candidate_id, email = await create_candidate(stack, ACME_TOKEN, template_id)
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[
            {"type": "send", "template_id": template_id},
            {"type": "branch", "condition": "opened", "within_days": 3, "if_yes": "end"},
            {"type": "notify_owner", "title": "{{ candidate.first_name }} did not open"},
        ],
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    [mail] = await mails_to(smtp_sink, email, 1)
    pixel, _ = tracked_links(mail)
    # A mail scanner fetching the pixel is not the candidate opening it.
    async with httpx.AsyncClient(headers={"User-Agent": "Barracuda Sentinel"}) as scanner:
        assert (await scanner.get(pixel)).status_code == 200
    waiting = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: datetime.fromisoformat(e["next_run_at"]) > datetime.now(UTC) + timedelta(days=1),
        "the branch did not wait for the window",
    )
    assert waiting["awaiting_signal"]
    sent_at = (await campaigns_db["messages"].find_one({"enrolment_id": waiting["id"]}))["sent_at"]
    assert datetime.fromisoformat(waiting["next_run_at"]) == sent_at + timedelta(days=3)

    # Let three days pass: the message went out three days ago and the timer is due.
    await campaigns_db["messages"].update_one(
        {"enrolment_id": waiting["id"]}, {"$set": {"sent_at": sent_at - timedelta(days=3)}}
    )
    await campaigns_db["enrolments"].update_one(
        {"_id": waiting["id"]}, {"$set": {"next_run_at": datetime.now(UTC)}}
    )
    done = await enrolment_of(
        stack,
        ACME_TOKEN,
        sequence["id"],
        candidate_id,
        lambda e: e["status"] == "completed",
        "the branch did not take the no path",
    )
    assert done["step_count"] == 3
    notifications = await stack.gateway.get("/api/v1/notifications", headers=stack.as_(ACME_TOKEN))
    titles = [
        n["title"] for n in notifications.json()["items"] if n["candidate_id"] == candidate_id
    ]
    assert titles == ["Grace did not open"]


async def test_wait_until_uses_the_candidate_zone_else_the_tenant_zone(
    stack: Stack, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    template_id = await create_template(stack, ACME_TOKEN)
    tokyo_id, tokyo_email = await create_candidate(stack, ACME_TOKEN, template_id)
    berlin_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    # The candidates service publishes the profile with its time zone.
    await publish(
        kafka_bootstrap_servers,
        CANDIDATE_UPDATED,
        stack.acme,
        tokyo_id,
        CandidateUpdated(
            candidate_id=tokyo_id,
            first_name="Grace",
            last_name="Hopper",
            emails=[tokyo_email],
            source="sourced",
            marketing_consent=True,
            time_zone="Asia/Tokyo",
        ),
    )

    async def zone_projected() -> bool:
        recipient = await campaigns_db["recipients"].find_one(
            {"tenant_id": stack.acme, "candidate_id": tokyo_id}
        )
        return recipient is not None and recipient.get("time_zone") == "Asia/Tokyo"

    await eventually(zone_projected, message="campaigns did not learn the time zone")
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[
            {"type": "wait_until", "weekdays": ["tue", "thu"], "time": "09:30"},
            {"type": "send", "template_id": template_id},
        ],
    )
    started = datetime.now(UTC)
    await enrol(stack, ACME_TOKEN, sequence["id"], tokyo_id, berlin_id)
    # Berlin is the tenant's zone (configuration) for a candidate without one.
    for candidate_id, zone in [(tokyo_id, "Asia/Tokyo"), (berlin_id, "Europe/Berlin")]:
        enrolment = await enrolment_of(
            stack,
            ACME_TOKEN,
            sequence["id"],
            candidate_id,
            lambda e: e["step_index"] == 1,
            "the wait was not scheduled",
        )
        due = datetime.fromisoformat(enrolment["next_run_at"])
        local = due.astimezone(ZoneInfo(zone))
        assert (local.hour, local.minute, local.strftime("%a")) in {(9, 30, "Tue"), (9, 30, "Thu")}
        assert started - timedelta(seconds=1) <= due <= started + timedelta(days=7)
        assert enrolment["status"] == "active"


async def test_an_erased_candidates_enrolment_ends_erased_in_the_enrolment_report(
    stack: Stack,
) -> None:
    """The erasure deletes the enrolment in campaigns; campaigns announces its end (`erased`)
    first, so analytics' report does not count the person enrolled for ever."""
    template_id = await create_template(stack, ACME_TOKEN)
    candidate_id, _ = await create_candidate(stack, ACME_TOKEN, template_id)
    sequence = await create_sequence(
        stack,
        ACME_TOKEN,
        trigger={"type": "manual"},
        steps=[{"type": "wait", "days": 3}, {"type": "send", "template_id": template_id}],
    )
    await enrol(stack, ACME_TOKEN, sequence["id"], candidate_id)
    report_url = f"/api/v1/analytics/sequences/{sequence['id']}/enrolments"
    await folded_report(
        stack,
        report_url,
        lambda found: found["enrolled_now"] == 1 and bool(found["totals"]["entered"]),
        "not reported enrolled",
    )
    erased = await stack.gateway.post(
        f"/api/v1/candidates/{candidate_id}/erasure", headers=stack.as_(ACME_ADMIN_TOKEN)
    )
    assert erased.status_code == 200, erased.text
    report = await folded_report(
        stack, report_url, lambda found: found["enrolled_now"] == 0, "still counted enrolled"
    )
    assert report["exit_reasons"] == [{"reason": "erased", "count": 1}]
    assert (report["totals"]["entered"], report["totals"]["exited"]) == (1, 1)

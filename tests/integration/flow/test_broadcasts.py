"""Broadcasts through the gateway, on the real broker, SecantusDB and SMTP sink: audiences
(segment, static list, pool stage), personalised mail with blocks and fallbacks, local-time
schedules, pause/resume/cancel, an A/B subject test whose winner goes to the rest, a redelivered
prepare that sends nothing twice, bad input and tenant isolation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from conftest import SmtpSink

from crm_shared import (
    CANDIDATE_CREATED,
    POOL_STAGE_CHANGED,
    CandidateCreated,
    EventEnvelope,
    TopicSpec,
    create_mongo_client,
)
from crm_shared.mongo import Database, MongoClient
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack
from integration.flow.sequencing import pool_move

pytestmark = pytest.mark.integration

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Version/17.0 Safari"


@pytest.fixture(scope="module")
async def campaigns_db(stack: Stack, mongodb_uri: str) -> AsyncIterator[Database]:
    """The campaigns service's database, to watch projections and fast-forward an A/B test."""
    client: MongoClient = create_mongo_client(stack.settings["campaigns"])
    yield client[stack.settings["campaigns"].mongodb_database]
    await client.close()


async def publish(bootstrap: str, spec: TopicSpec, tenant_id: str, subject: str, data: Any) -> None:
    """Publishes a contract event as its producing service would."""
    envelope = EventEnvelope[Any](
        type=spec.name,
        source="test",
        tenant_id=tenant_id,
        subject=subject,
        schema_version=spec.schema_version,
        data=data,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            spec.name, envelope.model_dump_json().encode(), key=subject.encode()
        )
    finally:
        await producer.stop()


async def known_candidates(
    bootstrap: str,
    database: Database,
    tenant_id: str,
    people: list[dict[str, Any]],
    *,
    ids_given: list[str] | None = None,
) -> list[str]:
    """Announces candidates (`candidate.created`, with these ids if given) and waits until
    campaigns projected them."""
    ids = []
    for index, person in enumerate(people):
        candidate_id = ids_given[index] if ids_given else unique("cand")
        ids.append(candidate_id)
        profile = CandidateCreated(
            candidate_id=candidate_id,
            first_name=person.get("first_name", ""),
            last_name="Doe",
            emails=[f"{candidate_id}@example.org"],
            source="sourced",
            marketing_consent=person.get("consent", True),
            time_zone=person.get("time_zone"),
        )
        await publish(bootstrap, CANDIDATE_CREATED, tenant_id, candidate_id, profile)

    async def projected() -> bool:
        found = await database["recipients"].count_documents(
            {"tenant_id": tenant_id, "candidate_id": {"$in": ids}}
        )
        return found == len(ids)

    await eventually(projected, message="recipients not projected")
    return ids


def address(candidate_id: str) -> str:
    return f"{candidate_id}@example.org"


async def template(gateway: httpx.AsyncClient, headers: dict[str, str], **parts: str) -> str:
    body = {
        "name": unique("template"),
        "subject": "Hello {{ candidate.first_name | default('there') }}",
        "html": "<p>Hi {{ candidate.first_name | default('there') }}</p>",
        "text": "Hi {{ candidate.first_name | default('there') }}",
    } | parts
    response = await gateway.post("/api/v1/templates", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def start(
    gateway: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    created = await gateway.post("/api/v1/broadcasts", headers=headers, json=body)
    assert created.status_code == 201, created.text
    sent = await gateway.post(f"/api/v1/broadcasts/{created.json()['id']}/send", headers=headers)
    assert sent.status_code == 202, sent.text
    result: dict[str, Any] = sent.json()
    return result


async def settled(
    gateway: httpx.AsyncClient, headers: dict[str, str], broadcast_id: str, status: str
) -> dict[str, Any]:
    latest: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal latest
        latest = (await gateway.get(f"/api/v1/broadcasts/{broadcast_id}", headers=headers)).json()
        return bool(latest["status"] == status)

    await eventually(reached, timeout=40, message=f"broadcast not {status}")
    return latest


async def messages_of(
    gateway: httpx.AsyncClient, headers: dict[str, str], broadcast_id: str
) -> list[dict[str, Any]]:
    page = (await gateway.get("/api/v1/messages?limit=200", headers=headers)).json()
    return [m for m in page["items"] if m["broadcast_id"] == broadcast_id]


async def test_a_segment_broadcast_arrives_personalised_with_the_branding_block(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    tag = unique("spring")
    emails = {name: f"{tag}-{name.lower()}@example.org" for name in ("Ada", "Grace", "Nope")}
    for name, email in emails.items():
        response = await gateway.post(
            "/api/v1/candidates",
            headers=acme,
            json={
                "first_name": name,
                "last_name": "Doe",
                "emails": [email],
                "tags": [tag],
                "marketing_consent": name != "Nope",
            },
        )
        assert response.status_code == 201, response.text
    segment = await gateway.post(
        "/api/v1/segments",
        headers=acme,
        json={"name": tag, "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
    )
    assert segment.status_code == 201, segment.text
    segment_id = segment.json()["id"]

    async def members_projected() -> bool:
        count = await campaigns_db["segment_members"].count_documents(
            {"tenant_id": stack.acme, "segment_id": segment_id}
        )
        return count == 3

    await eventually(members_projected, message="segment members not projected in campaigns")
    block_key = unique("footer").lower()
    block = await gateway.post(
        "/api/v1/blocks",
        headers=acme,
        json={
            "key": block_key,
            "name": "Footer",
            "html": "<footer>Acme careers, {{ sender.name | default('the talent team') }}</footer>",
            "text": "-- Acme careers",
        },
    )
    assert block.status_code == 201, block.text
    template_id = await template(
        gateway,
        acme,
        html=f"<p>Hi {{{{ candidate.first_name }}}}</p>{{{{ blocks.{block_key} }}}}",
        text=f"Hi {{{{ candidate.first_name }}}}\n{{{{ blocks.{block_key} }}}}",
    )
    broadcast = await start(
        gateway,
        acme,
        {
            "name": "Spring",
            "template_id": template_id,
            "audience": {"type": "segment", "segment_id": segment_id},
        },
    )
    done = await settled(gateway, acme, broadcast["id"], "completed")
    assert done["progress"] | {"skipped_reasons": None} == {
        "audience_size": 3,
        "queued": 3,
        "awaiting_recipients": 0,
        "awaiting_winner": 0,
        "unprepared": 0,
        "pending": 0,
        "sent": 2,
        "failed": 0,
        "failed_reasons": {},
        "skipped": 1,
        "skipped_reasons": None,
        "held": 0,
        "cancelled": 0,
    }
    assert done["progress"]["skipped_reasons"] == {"no_marketing_consent": 1}
    [ada] = smtp_sink.messages_to(emails["Ada"])
    assert ada.subject == "Hello Ada"
    body = ada.parsed().get_body(("html",))
    assert body is not None
    html = body.get_content()
    assert "Hi Ada" in html
    assert "<footer>Acme careers" in html
    assert len(smtp_sink.messages_to(emails["Grace"])) == 1
    assert smtp_sink.messages_to(emails["Nope"]) == []
    sent = await read_events(
        kafka_bootstrap_servers,
        "message.sent",
        where=lambda e: e["data"].get("broadcast_id") == broadcast["id"],
        count=2,
    )
    assert {e["tenant_id"] for e in sent} == {stack.acme}


async def test_a_static_list_broadcast_skips_unknown_candidates_and_falls_back(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    named, unnamed = await known_candidates(
        kafka_bootstrap_servers, campaigns_db, stack.acme, [{"first_name": "Lin"}, {}]
    )
    template_id = await template(gateway, acme)
    broadcast = await start(
        gateway,
        acme,
        {
            "name": "List",
            "template_id": template_id,
            "audience": {"type": "list", "candidate_ids": [named, unnamed, named, "nobody"]},
        },
    )
    done = await settled(gateway, acme, broadcast["id"], "completed")
    assert done["progress"]["audience_size"] == 3
    assert done["progress"]["sent"] == 2
    assert done["progress"]["skipped_reasons"] == {"unknown_candidate": 1}
    assert [m.subject for m in smtp_sink.messages_to(address(named))] == ["Hello Lin"]
    assert [m.subject for m in smtp_sink.messages_to(address(unnamed))] == ["Hello there"]


async def test_a_broadcast_waits_for_people_campaigns_does_not_know_yet(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    """Someone whose `candidate.created` reaches campaigns after the send (a backlog behind an
    import) still gets the mail: the preparation waits for them, saying so in its progress."""
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    [known] = await known_candidates(
        kafka_bootstrap_servers, campaigns_db, stack.acme, [{"first_name": "Lin"}]
    )
    late = unique("late")
    template_id = await template(gateway, acme)
    broadcast = await start(
        gateway,
        acme,
        {
            "name": "After the import",
            "template_id": template_id,
            "audience": {"type": "list", "candidate_ids": [known, late]},
        },
    )

    async def waiting() -> bool:
        current = (await gateway.get(f"/api/v1/broadcasts/{broadcast['id']}", headers=acme)).json()
        return bool(current["progress"]["awaiting_recipients"] == 1)

    await eventually(waiting, timeout=20, message="the broadcast did not wait for the unknown")
    # The late person reaches campaigns while the broadcast waits (8 s in these tests).
    await known_candidates(
        kafka_bootstrap_servers, campaigns_db, stack.acme, [{"first_name": "Kim"}], ids_given=[late]
    )
    done = await settled(gateway, acme, broadcast["id"], "completed")
    assert done["progress"]["sent"] == 2
    assert done["progress"]["skipped_reasons"] == {}
    assert done["progress"]["awaiting_recipients"] == 0
    assert [m.subject for m in smtp_sink.messages_to(address(late))] == ["Hello Kim"]


async def test_a_pool_stage_broadcast_reaches_only_that_stage(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    interviewing, sourced, left = await known_candidates(
        kafka_bootstrap_servers, campaigns_db, stack.acme, [{}, {}, {}]
    )
    pool_id = unique("pool")

    async def move(moves: list[tuple[str, str | None, str | None]]) -> None:
        for candidate_id, from_stage, to_stage in moves:
            change = pool_move(candidate_id, pool_id, to_stage, from_stage=from_stage)
            await publish(
                kafka_bootstrap_servers, POOL_STAGE_CHANGED, stack.acme, candidate_id, change
            )

    async def projected_as(expected: dict[str, str]) -> bool:
        members = await campaigns_db["pool_members"].find({"pool_id": pool_id}).to_list()
        return {m["candidate_id"]: m["stage"] for m in members} == expected

    # Each candidate's events share a partition, but different candidates' do not: the one who
    # leaves must be seen in the stage first, or "absent" could mean "not added yet".
    await move([(left, None, "interview")])
    await eventually(
        lambda: projected_as({left: "interview"}), message="pool membership not projected"
    )
    await move(
        [
            (left, "interview", None),
            (interviewing, None, "sourced"),
            (interviewing, "sourced", "interview"),
            (sourced, None, "sourced"),
        ]
    )
    await eventually(
        lambda: projected_as({interviewing: "interview", sourced: "sourced"}),
        message="pool membership not projected",
    )
    broadcast = await start(
        gateway,
        acme,
        {
            "name": "Interviewers",
            "template_id": await template(gateway, acme),
            # Stages match ignoring case and spacing, as everywhere else: typed "Interview "
            # in the composer, it reached nobody until 2026-12-06.
            "audience": {"type": "pool", "pool_id": pool_id, "stage": "Interview "},
        },
    )
    done = await settled(gateway, acme, broadcast["id"], "completed")
    assert done["progress"]["audience_size"] == 1
    assert len(smtp_sink.messages_to(address(interviewing))) == 1
    assert smtp_sink.messages_to(address(sourced)) == []
    assert smtp_sink.messages_to(address(left)) == []


async def test_local_time_schedule_pause_resume_and_cancel(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    berlin, new_york, nowhere = await known_candidates(
        kafka_bootstrap_servers,
        campaigns_db,
        stack.acme,
        [{"time_zone": "Europe/Berlin"}, {"time_zone": "America/New_York"}, {}],
    )
    day = date.today() + timedelta(days=30)
    broadcast = await start(
        gateway,
        acme,
        {
            "name": "Morning",
            "template_id": await template(gateway, acme),
            "audience": {"type": "list", "candidate_ids": [berlin, new_york, nowhere]},
            "schedule": {"type": "local_time", "date": day.isoformat(), "local_time": "09:00"},
        },
    )
    broadcast_id = broadcast["id"]
    await settled(gateway, acme, broadcast_id, "sending")
    due = {
        m["candidate_id"]: datetime.fromisoformat(m["next_attempt_at"])
        for m in await messages_of(gateway, acme, broadcast_id)
    }
    # 09:00 in each recipient's zone; the tenant's zone (Berlin, in the flow settings) for the
    # one without a zone.
    assert due[berlin].astimezone(UTC).hour in (7, 8)
    assert due[new_york].astimezone(UTC).hour in (13, 14)
    assert due[new_york] - due[berlin] == timedelta(hours=6)
    assert due[nowhere] == due[berlin]

    paused = await gateway.post(f"/api/v1/broadcasts/{broadcast_id}/pause", headers=acme)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert paused.json()["progress"]["held"] == 3
    again = await gateway.post(f"/api/v1/broadcasts/{broadcast_id}/pause", headers=acme)
    assert again.status_code == 409
    resumed = await gateway.post(f"/api/v1/broadcasts/{broadcast_id}/resume", headers=acme)
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["status"], resumed.json()["progress"]["held"]) == ("sending", 0)
    assert {m["status"] for m in await messages_of(gateway, acme, broadcast_id)} == {"queued"}
    cancelled = await gateway.post(f"/api/v1/broadcasts/{broadcast_id}/cancel", headers=acme)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["progress"]["cancelled"] == 3
    assert {m["status"] for m in await messages_of(gateway, acme, broadcast_id)} == {"cancelled"}
    assert (
        await gateway.post(f"/api/v1/broadcasts/{broadcast_id}/resume", headers=acme)
    ).status_code == 409
    assert all(not smtp_sink.messages_to(address(c)) for c in (berlin, new_york, nowhere))

    # A time zone the tenant's contact policy chose for people of none is theirs, as for
    # quiet hours; the policy's UTC (its default, never chosen) leaves the tenant's zone.
    admin = stack.as_(ACME_ADMIN_TOKEN)
    policy = {
        "frequency_cap": None,
        "quiet_hours": None,
        "on_limit": "defer",
        "default_time_zone": "America/New_York",
        "soft_bounce_limit": 3,
    }
    assert (
        await gateway.put("/api/v1/settings/contact-policy", json=policy, headers=admin)
    ).status_code == 200
    try:
        policy_zoned = await start(
            gateway,
            acme,
            {
                "name": "Morning, policy zone",
                "template_id": await template(gateway, acme),
                "audience": {"type": "list", "candidate_ids": [berlin, nowhere]},
                "schedule": {"type": "local_time", "date": day.isoformat(), "local_time": "09:00"},
            },
        )
        await settled(gateway, acme, policy_zoned["id"], "sending")
        zoned = {
            m["candidate_id"]: datetime.fromisoformat(m["next_attempt_at"])
            for m in await messages_of(gateway, acme, policy_zoned["id"])
        }
        assert zoned[nowhere] == due[new_york]
        assert zoned[berlin] == due[berlin]
        await gateway.post(f"/api/v1/broadcasts/{policy_zoned['id']}/cancel", headers=acme)
    finally:
        policy["default_time_zone"] = "UTC"
        await gateway.put("/api/v1/settings/contact-policy", json=policy, headers=admin)


async def test_an_ab_test_at_local_time_is_decided_after_its_last_test_mail(
    stack: Stack, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    people = await known_candidates(
        kafka_bootstrap_servers,
        campaigns_db,
        stack.acme,
        [{"time_zone": "Europe/Berlin"}, {"time_zone": "America/Los_Angeles"}] * 2,
    )
    day = date.today() + timedelta(days=30)
    broadcast = await start(
        gateway,
        acme,
        {
            "name": "Local A/B",
            "template_id": await template(gateway, acme),
            "audience": {"type": "list", "candidate_ids": people},
            "schedule": {"type": "local_time", "date": day.isoformat(), "local_time": "09:30"},
            "ab_test": {
                "variants": [{"name": "A", "subject": "News"}, {"name": "B", "subject": "News!"}],
                "test_percentage": 100,
                "metric": "open_rate",
                "decide_after_minutes": 60,
            },
        },
    )
    sending = await settled(gateway, acme, broadcast["id"], "sending")
    last_test_mail = max(
        datetime.fromisoformat(m["next_attempt_at"])
        for m in await messages_of(gateway, acme, broadcast["id"])
    )
    # 09:30 in Los Angeles, a day away; the decision an hour after it, not an hour from now.
    assert last_test_mail.astimezone(UTC).hour in (16, 17)
    decided_at = datetime.fromisoformat(sending["ab_test"]["test_ends_at"])
    assert decided_at == last_test_mail + timedelta(hours=1)


def pixel_url(mail_html: str) -> str:
    match = re.search(r'src="[^"]*(/t/o/[^"]+)"', mail_html)
    assert match is not None
    return match.group(1)


async def test_an_ab_subject_test_sends_the_winner_to_the_rest(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    people = await known_candidates(
        kafka_bootstrap_servers, campaigns_db, stack.acme, [{"first_name": "Kim"}] * 10
    )
    broadcast = await start(
        gateway,
        acme,
        {
            "name": "A/B",
            "template_id": await template(gateway, acme),
            "audience": {"type": "list", "candidate_ids": people},
            "ab_test": {
                "variants": [
                    {"name": "A", "subject": "Plain news, {{ candidate.first_name }}"},
                    {"name": "B", "subject": "Big news, {{ candidate.first_name }}!"},
                ],
                "test_percentage": 40,
                "metric": "open_rate",
                "decide_after_minutes": 60,
            },
        },
    )
    broadcast_id = broadcast["id"]

    async def test_group_sent() -> bool:
        mine = await messages_of(gateway, acme, broadcast_id)
        return len(mine) == 4 and all(m["status"] == "sent" for m in mine)

    await eventually(test_group_sent, timeout=40, message="the test group was not sent")
    waiting = (await gateway.get(f"/api/v1/broadcasts/{broadcast_id}", headers=acme)).json()
    assert waiting["progress"]["awaiting_winner"] == 6
    test_group = await messages_of(gateway, acme, broadcast_id)
    assert sorted(m["variant"] for m in test_group) == ["A", "A", "B", "B"]
    for message in test_group:
        [mail] = smtp_sink.messages_to(address(message["candidate_id"]))
        html = mail.parsed().get_body(("html",))
        assert html is not None
        pixel = pixel_url(html.get_content())
        # B is opened by people; A only by a mail scanner, which must not count.
        agent = BROWSER if message["variant"] == "B" else "Barracuda Sentinel (EE)"
        opened = await gateway.get(pixel, headers={"User-Agent": agent})
        assert opened.status_code == 200
    # The test's hour passes.
    await campaigns_db["broadcasts"].update_one(
        {"_id": broadcast_id}, {"$set": {"test_ends_at": datetime.now(UTC)}}
    )
    done = await settled(gateway, acme, broadcast_id, "completed")
    ab = done["ab_test"]
    assert ab["winner"] == "B"
    results = {r["name"]: r for r in ab["results"]}
    assert (results["A"]["opened"], results["A"]["open_rate"]) == (0, 0.0)
    assert (results["B"]["sent"], results["B"]["opened"], results["B"]["open_rate"]) == (2, 2, 1.0)
    assert (done["progress"]["sent"], done["progress"]["awaiting_winner"]) == (10, 0)
    everyone = await messages_of(gateway, acme, broadcast_id)
    rest = [m for m in everyone if m["id"] not in {t["id"] for t in test_group}]
    assert len(rest) == 6
    assert {(m["variant"], m["subject"]) for m in rest} == {("B", "Big news, Kim!")}
    assert all(len(smtp_sink.messages_to(address(c))) == 1 for c in people)
    events = await read_events(
        kafka_bootstrap_servers,
        "message.sent",
        where=lambda e: e["data"].get("broadcast_id") == broadcast_id,
        count=10,
    )
    assert sorted(e["data"]["variant"] for e in events) == ["A", "A"] + ["B"] * 8


async def test_an_ab_test_cancelled_before_its_decision_counts_its_rest_as_cancelled(
    stack: Stack, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    people = await known_candidates(
        kafka_bootstrap_servers, campaigns_db, stack.acme, [{"first_name": "Noor"}] * 5
    )
    broadcast = await start(
        gateway,
        acme,
        {
            "name": "A/B, cancelled",
            "template_id": await template(gateway, acme),
            "audience": {"type": "list", "candidate_ids": people},
            "ab_test": {
                "variants": [{"name": "A", "subject": "One"}, {"name": "B", "subject": "Two"}],
                "test_percentage": 40,
                "metric": "open_rate",
                "decide_after_minutes": 60,
            },
        },
    )
    sending = await settled(gateway, acme, broadcast["id"], "sending")
    assert sending["progress"]["awaiting_winner"] == 3
    cancelled = await gateway.post(f"/api/v1/broadcasts/{broadcast['id']}/cancel", headers=acme)
    assert cancelled.status_code == 200, cancelled.text
    progress = cancelled.json()["progress"]
    # Every one of the five has an outcome: the test group's two sent or cancelled, the rest's
    # three cancelled with them.
    assert progress["awaiting_winner"] == 0
    assert progress["sent"] + progress["pending"] + progress["cancelled"] == 5
    assert progress["cancelled"] >= 3


async def test_a_redelivered_send_sends_nothing_twice(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    people = await known_candidates(kafka_bootstrap_servers, campaigns_db, stack.acme, [{}] * 3)
    broadcast = await start(
        gateway,
        acme,
        {
            "name": "Once",
            "template_id": await template(gateway, acme),
            "audience": {"type": "list", "candidate_ids": people},
        },
    )
    await settled(gateway, acme, broadcast["id"], "completed")
    again = await gateway.post(f"/api/v1/broadcasts/{broadcast['id']}/send", headers=acme)
    assert again.status_code == 409
    # The prepare command is redelivered (a runner died after queuing, before recording it).
    await campaigns_db["broadcasts"].update_one(
        {"_id": broadcast["id"]}, {"$set": {"status": "preparing", "lease_until": None}}
    )
    await settled(gateway, acme, broadcast["id"], "completed")
    assert len(await messages_of(gateway, acme, broadcast["id"])) == 3
    assert all(len(smtp_sink.messages_to(address(c))) == 1 for c in people)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"audience": {"type": "everyone"}}, "audience"),
        ({"audience": {"type": "list", "candidate_ids": []}}, "audience.list.candidate_ids"),
        (
            {"schedule": {"type": "local_time", "date": "2030-01-01", "local_time": "25:00"}},
            "schedule.local_time.local_time",
        ),
        ({"schedule": {"type": "at", "send_at": "2030-01-01T09:00:00"}}, "schedule.at.send_at"),
        # A year typed wrong: a moment well past is refused, not sent at once.
        (
            {"schedule": {"type": "at", "send_at": "2020-01-01T09:00:00+01:00"}},
            "schedule.at.send_at",
        ),
        (
            {"schedule": {"type": "local_time", "date": "2020-01-01", "local_time": "09:00"}},
            "schedule.local_time.date",
        ),
        ({"template_id": "no-such-template"}, "template_id"),
        (
            {
                "ab_test": {
                    "variants": [{"name": "A", "subject": "x"}],
                    "test_percentage": 20,
                    "decide_after_minutes": 60,
                }
            },
            "ab_test.variants",
        ),
        (
            {
                "ab_test": {
                    "variants": [{"name": "A", "subject": "x"}, {"name": "A", "subject": "y"}],
                    "test_percentage": 20,
                    "decide_after_minutes": 60,
                }
            },
            "ab_test.variants",
        ),
        (
            {
                "ab_test": {
                    "variants": [
                        {"name": "A", "subject": "x"},
                        {"name": "B", "subject": "{{ ''.__class__ }}"},
                    ],
                    "test_percentage": 20,
                    "decide_after_minutes": 60,
                }
            },
            "ab_test.variants.1.subject",
        ),
        (
            {
                "ab_test": {
                    "variants": [{"name": "A", "subject": "x"}, {"name": "B", "subject": "y"}],
                    "test_percentage": 0,
                    "decide_after_minutes": 60,
                }
            },
            "ab_test.test_percentage",
        ),
    ],
)
async def test_bad_broadcasts_are_refused_naming_the_field(
    stack: Stack, body: dict[str, Any], field: str
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    valid = {
        "name": "Bad",
        "template_id": await template(gateway, acme),
        "audience": {"type": "list", "candidate_ids": ["c1"]},
    }
    response = await gateway.post("/api/v1/broadcasts", headers=acme, json=valid | body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    fields = [error["field"] for error in response.json()["errors"]]
    assert any(f.startswith(field) for f in fields), fields


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ candidate.first_name | attr('__class__') }}",
        "{{ lipsum() }}",
        "{% include 'block:footer' %}",
        "{{ blocks.missing }}",
        "{{ candidate.salary }}",
    ],
)
async def test_templates_and_blocks_refuse_injection_and_unknown_fields_on_save(
    stack: Stack, source: str
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    response = await gateway.post(
        "/api/v1/templates",
        headers=acme,
        json={"name": "evil", "subject": "s", "html": source, "text": "t"},
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "html"
    block = await gateway.post(
        "/api/v1/blocks",
        headers=acme,
        json={"key": "evil", "name": "evil", "html": source, "text": "t"},
    )
    assert block.status_code == 422, block.text


async def test_preview_renders_for_a_chosen_candidate_with_blocks_and_fallbacks(
    stack: Stack, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    named, unnamed = await known_candidates(
        kafka_bootstrap_servers, campaigns_db, stack.acme, [{"first_name": "Sam"}, {}]
    )
    key = unique("sig").lower()
    block = await gateway.post(
        "/api/v1/blocks",
        headers=acme,
        json={"key": key, "name": "Signature", "html": "<i>Acme</i>", "text": "Acme"},
    )
    assert block.status_code == 201, block.text
    template_id = await template(
        gateway,
        acme,
        html=f"<p>Hi {{{{ candidate.first_name | default('there') }}}}</p>{{{{ blocks.{key} }}}}",
    )
    previews = [
        await gateway.post(
            f"/api/v1/templates/{template_id}/preview", headers=acme, json={"candidate_id": c}
        )
        for c in (named, unnamed)
    ]
    assert [p.status_code for p in previews] == [200, 200]
    # As sent: with the unsubscribe footer the send adds to a template without one.
    assert previews[0].json()["html"].startswith("<p>Hi Sam</p><i>Acme</i><p ")
    assert "Unsubscribe</a>" in previews[0].json()["html"]
    assert previews[1].json()["subject"] == "Hello there"
    unknown = await gateway.post(
        f"/api/v1/templates/{template_id}/preview", headers=acme, json={"candidate_id": "nobody"}
    )
    assert unknown.status_code == 404


async def test_tenants_never_see_or_touch_each_other_s_broadcasts(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, campaigns_db: Database
) -> None:
    gateway, acme, globex = stack.gateway, stack.as_(ACME_TOKEN), stack.as_(GLOBEX_TOKEN)
    [acme_candidate] = await known_candidates(
        kafka_bootstrap_servers, campaigns_db, stack.acme, [{}]
    )
    created = await gateway.post(
        "/api/v1/broadcasts",
        headers=acme,
        json={
            "name": "Acme only",
            "template_id": await template(gateway, acme),
            "audience": {"type": "list", "candidate_ids": [acme_candidate]},
            "schedule": {"type": "at", "send_at": "2099-01-01T09:00:00Z"},
        },
    )
    broadcast_id = created.json()["id"]
    for action in ("send", "pause", "resume", "cancel"):
        response = await gateway.post(f"/api/v1/broadcasts/{broadcast_id}/{action}", headers=globex)
        assert response.status_code == 404, (action, response.text)
    assert (
        await gateway.get(f"/api/v1/broadcasts/{broadcast_id}", headers=globex)
    ).status_code == 404
    listed = (await gateway.get("/api/v1/broadcasts", headers=globex)).json()["items"]
    assert broadcast_id not in {b["id"] for b in listed}
    assert (await gateway.get(f"/api/v1/broadcasts/{broadcast_id}", headers=acme)).json()[
        "status"
    ] == "draft"
    # Globex naming Acme's candidate reaches nobody: campaigns does not know them in Globex.
    globex_broadcast = await start(
        gateway,
        globex,
        {
            "name": "Poach",
            "template_id": await template(gateway, globex),
            "audience": {"type": "list", "candidate_ids": [acme_candidate]},
        },
    )
    done = await settled(gateway, globex, globex_broadcast["id"], "completed")
    assert done["progress"]["skipped_reasons"] == {"unknown_candidate": 1}
    assert smtp_sink.messages_to(address(acme_candidate)) == []
    globex_blocks = (await gateway.get("/api/v1/blocks", headers=globex)).json()
    acme_blocks = (await gateway.get("/api/v1/blocks", headers=acme)).json()
    assert not {b["key"] for b in globex_blocks} & {b["key"] for b in acme_blocks}

"""Several sequence workers on one database never execute a step twice.

Two levels: two sequence engines with their own MongoDB connections and a lease so short that
they keep taking enrolments over from each other mid-step; and two more campaigns instances
joining the flow stack's one, all three sending through the SMTP sink, where every mail must
arrive exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

import pytest
from conftest import SmtpSink
from pymongo import AsyncMongoClient

from crm_campaigns.application.engine import SequenceEngine
from crm_campaigns.domain.models import Recipient, Sequence, Template
from crm_campaigns.domain.tracking import TrackingTokens
from crm_campaigns.main import create_app as create_campaigns
from crm_campaigns.repositories.collections import ensure_indexes
from crm_campaigns.repositories.enrolments import EnrolmentRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.sequences import SequenceRepository
from crm_campaigns.repositories.templates import TemplateRepository
from crm_devstack.infra import free_ports
from crm_shared import (
    CANDIDATE_CREATED,
    CandidateCreated,
    Outbox,
    SignedLinks,
    Wakeup,
    in_transaction,
    utc_now,
)
from helpers import eventually, serving, unique
from integration.flow.conftest import ACME_TOKEN, Stack
from integration.flow.sequencing import create_sequence, create_template, enrol, publish

pytestmark = pytest.mark.integration

STEPS: list[dict[str, Any]] = [
    {"type": "send", "template_id": "first"},
    {"type": "add_tag", "tags": ["nurtured"]},
    {"type": "send", "template_id": "second"},
    {"type": "notify_owner", "title": "{{ candidate.first_name }} is done"},
]

MongoDatabase = Any


@pytest.fixture
async def engine_database(mongodb_uri: str) -> AsyncIterator[tuple[Any, MongoDatabase]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    database = client[unique("engines")]
    await ensure_indexes(database)
    yield client, database
    await client.drop_database(database.name)
    await client.close()


async def test_two_engines_with_expiring_leases_run_every_step_exactly_once(
    engine_database: tuple[Any, MongoDatabase], mongodb_uri: str
) -> None:
    setup_client, database = engine_database
    tenant = unique("tenant")
    templates = TemplateRepository(database, tenant)
    for template_id in ("first", "second"):
        await templates.add(
            Template(
                id=template_id,
                tenant_id=tenant,
                name=template_id,
                subject="Hi {{ candidate.first_name }}",
                html="<p>Hi</p>",
                text="Hi",
                created_by="rita",
            )
        )
    sequence = Sequence.model_validate(
        {"tenant_id": tenant, "name": "race", "trigger": {"type": "manual"}, "steps": STEPS}
        | {"created_by": "rita"}
    )
    await SequenceRepository(database, tenant).add(sequence)
    candidates = [f"c{i:03d}" for i in range(16)]

    async def seed(session: Any) -> None:
        recipients = RecipientRepository(database, tenant)
        enrolments = EnrolmentRepository(database, tenant)
        for candidate_id in candidates:
            await recipients.upsert(
                Recipient(
                    candidate_id=candidate_id,
                    tenant_id=tenant,
                    first_name="Grace",
                    email=f"{candidate_id}@example.org",
                    marketing_consent=True,
                ),
                session=session,
            )
            await enrolments.enrol(sequence, candidate_id, {}, enrolled_by="test", session=session)

    await in_transaction(setup_client, seed)

    clients: list[AsyncMongoClient[dict[str, Any]]] = []
    engines = []
    for _ in range(2):
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
        clients.append(client)
        worker_database = client[database.name]
        engines.append(
            SequenceEngine(
                mongo=client,
                database=worker_database,
                outbox=Outbox(worker_database, "campaigns"),
                tokens=TrackingTokens("t" * 40),
                links=SignedLinks("l" * 40),
                public_base_url="http://crm.example",
                sender_names=lambda _tenant: "Talent",
                # Shorter than a step takes: the engines keep taking claims from each other.
                lease=timedelta(milliseconds=5),
                batch_size=5,
                messages_queued=Wakeup(),
            )
        )

    async def all_completed() -> bool:
        remaining: int = await database["enrolments"].count_documents(
            {"tenant_id": tenant, "status": "active"}
        )
        return remaining == 0

    claims = [0, 0]

    async def work(number: int, engine: SequenceEngine) -> None:
        while not await all_completed():
            claims[number] += await engine.run_due_steps()

    try:
        await asyncio.wait_for(
            asyncio.gather(*(work(n, engine) for n, engine in enumerate(engines))), 240
        )
    finally:
        for client in clients:
            await client.close()

    # Both engines worked, and some claims were taken over before their step could commit.
    assert min(claims) > 0
    assert sum(claims) > len(candidates) * len(STEPS), claims
    enrolments = await database["enrolments"].find({"tenant_id": tenant}).to_list()
    assert len(enrolments) == len(candidates)
    assert {e["status"] for e in enrolments} == {"completed"}
    assert {e["step_count"] for e in enrolments} == {len(STEPS)}
    messages = await database["messages"].find({"tenant_id": tenant}).to_list()
    assert len(messages) == 2 * len(candidates)
    per_candidate = {
        c: sorted(m["template_id"] for m in messages if m["candidate_id"] == c) for c in candidates
    }
    assert set(map(tuple, per_candidate.values())) == {("first", "second")}
    requests = await database["outbox"].count_documents(
        {"tenant_id": tenant, "topic": "candidate.change_requested"}
    )
    assert requests == len(candidates)
    notifications = await database["notifications"].count_documents({"tenant_id": tenant})
    assert notifications == len(candidates)


async def test_three_campaigns_instances_mail_each_step_exactly_once(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, mongodb_uri: str
) -> None:
    first = await create_template(stack, ACME_TOKEN, subject="First of two")
    second = await create_template(stack, ACME_TOKEN, subject="Second of two")
    steps = [
        {"type": "send", "template_id": first},
        {"type": "add_tag", "tags": ["raced"]},
        {"type": "send", "template_id": second},
        {"type": "notify_owner", "title": "{{ candidate.first_name }} got both"},
    ]
    sequence = await create_sequence(stack, ACME_TOKEN, trigger={"type": "manual"}, steps=steps)
    run = unique("race")
    candidates = {f"{run}-{i:02d}": f"{run}-{i:02d}@example.org" for i in range(12)}
    for candidate_id, email in candidates.items():
        await publish(
            kafka_bootstrap_servers,
            CANDIDATE_CREATED,
            stack.acme,
            candidate_id,
            CandidateCreated(
                candidate_id=candidate_id,
                first_name="Grace",
                last_name="Hopper",
                emails=[email],
                source="sourced",
                owner_id="rita",
                marketing_consent=True,
            ),
        )
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    database = client[stack.settings["campaigns"].database_name]

    async def all_known() -> bool:
        known = await database["recipients"].count_documents(
            {"tenant_id": stack.acme, "candidate_id": {"$in": list(candidates)}}
        )
        return known == len(candidates)

    await eventually(all_known, timeout=60, message="campaigns did not learn the candidates")

    # The two extra instances run the sequence engine beside the stack's own campaigns but
    # join no consumer group: what races here is the steps, and each instance that joined
    # campaigns' two dozen groups made every one of them rebalance, for the whole flow stack,
    # on its start and again on its stop (a minute and more under load).
    settings = stack.settings["campaigns"].model_copy(update={"kafka_consumers_enabled": False})
    async with AsyncExitStack() as running:
        # A TaskGroup stops the other instance if one fails to start.
        async with asyncio.TaskGroup() as starting:
            for port in free_ports(2):
                app = create_campaigns(settings)
                starting.create_task(running.enter_async_context(serving(app, port)))
        outcome = await enrol(stack, ACME_TOKEN, sequence["id"], *candidates)
        assert len(outcome["enrolled"]) == len(candidates)

        async def all_done() -> bool:
            active = await database["enrolments"].count_documents(
                {"tenant_id": stack.acme, "sequence_id": sequence["id"], "status": "active"}
            )
            queued = await database["messages"].count_documents(
                {"tenant_id": stack.acme, "sequence_id": sequence["id"], "status": "queued"}
            )
            return active == 0 and queued == 0

        await eventually(all_done, timeout=180, message="the enrolments did not complete")
    try:
        for email in candidates.values():
            subjects = sorted(mail.subject for mail in smtp_sink.messages_to(email))
            assert subjects == ["First of two Grace", "Second of two Grace"], email
        requests = await database["outbox"].count_documents(
            {
                "tenant_id": stack.acme,
                "topic": "candidate.change_requested",
                "key": {"$in": list(candidates)},
            }
        )
        assert requests == len(candidates)
        notifications = await database["notifications"].count_documents(
            {"tenant_id": stack.acme, "sequence_id": sequence["id"]}
        )
        assert notifications == len(candidates)
    finally:
        await client.close()


async def test_a_failing_step_does_not_hold_up_other_enrolments(
    engine_database: tuple[Any, MongoDatabase],
) -> None:
    client, database = engine_database
    tenant = unique("tenant")
    await TemplateRepository(database, tenant).add(
        Template(
            id="fine",
            tenant_id=tenant,
            name="fine",
            subject="Hi",
            html="<p>Hi</p>",
            text="Hi",
            created_by="rita",
        )
    )
    sequences = SequenceRepository(database, tenant)
    # Stored without the API's checks, as if its template had been removed since.
    broken = Sequence.model_validate(
        {
            "tenant_id": tenant,
            "name": "broken",
            "trigger": {"type": "manual"},
            "steps": [{"type": "send", "template_id": "gone"}],
            "created_by": "rita",
        }
    )
    fine = Sequence.model_validate(
        {
            "tenant_id": tenant,
            "name": "fine",
            "trigger": {"type": "manual"},
            "steps": [{"type": "send", "template_id": "fine"}],
            "created_by": "rita",
        }
    )
    await sequences.add(broken)
    await sequences.add(fine)

    async def seed(session: Any) -> None:
        await RecipientRepository(database, tenant).upsert(
            Recipient(candidate_id="c1", tenant_id=tenant, email="c1@example.org"),
            session=session,
        )
        enrolments = EnrolmentRepository(database, tenant)
        for sequence in (broken, fine):  # the broken one is due first
            await enrolments.enrol(sequence, "c1", {}, enrolled_by="test", session=session)

    await in_transaction(client, seed)
    engine = SequenceEngine(
        mongo=client,
        database=database,
        outbox=Outbox(database, "campaigns"),
        tokens=TrackingTokens("t" * 40),
        links=SignedLinks("l" * 40),
        public_base_url="http://crm.example",
        sender_names=lambda _tenant: "Talent",
        lease=timedelta(minutes=5),
        batch_size=10,
        messages_queued=Wakeup(),
    )
    assert await engine.run_due_steps() == 2
    by_sequence = {
        e["sequence_id"]: e
        for e in await database["enrolments"].find({"tenant_id": tenant}).to_list()
    }
    assert by_sequence[fine.id]["status"] == "completed"
    # The broken one fails visibly at its step, released, instead of waiting for its lease.
    failed = by_sequence[broken.id]
    assert failed["status"] == "failed"
    assert failed["step_index"] == 0
    assert failed["failure_reason"] == "step 0 (send): template gone no longer exists"
    assert failed["lease_owner"] is None
    messages = await database["messages"].find({"tenant_id": tenant}).to_list()
    assert sorted((m["status"], m.get("failure_reason")) for m in messages) == [
        ("failed", "template_missing"),
        ("queued", None),
    ]
    assert await engine.run_due_steps() == 0


async def test_an_unexpected_step_error_is_retried_with_backoff_then_fails_the_enrolment(
    engine_database: tuple[Any, MongoDatabase],
) -> None:
    client, database = engine_database
    tenant = unique("tenant")
    sequence = Sequence.model_validate(
        {
            "tenant_id": tenant,
            "name": "unreadable",
            "trigger": {"type": "manual"},
            "steps": [{"type": "wait", "days": 1}],
            "created_by": "rita",
        }
    )
    await SequenceRepository(database, tenant).add(sequence)

    async def seed(session: Any) -> None:
        await EnrolmentRepository(database, tenant).enrol(
            sequence, "c1", {}, enrolled_by="test", session=session
        )

    await in_transaction(client, seed)
    # A stored definition the engine cannot read: every attempt at the step raises.
    await database["sequences"].update_one(
        {"_id": sequence.id}, {"$set": {"steps": [{"type": "teleport"}]}}
    )
    engine = SequenceEngine(
        mongo=client,
        database=database,
        outbox=Outbox(database, "campaigns"),
        tokens=TrackingTokens("t" * 40),
        links=SignedLinks("l" * 40),
        public_base_url="http://crm.example",
        sender_names=lambda _tenant: "Talent",
        lease=timedelta(minutes=5),
        batch_size=10,
        messages_queued=Wakeup(),
    )
    query = {"tenant_id": tenant, "sequence_id": sequence.id}
    for attempt in (1, 2, 3):
        assert await engine.run_due_steps() == 1
        enrolment = await database["enrolments"].find_one(query)
        assert enrolment is not None
        assert enrolment["step_errors"] == attempt
        assert enrolment["last_error"].startswith("ValidationError")
        assert enrolment["lease_owner"] is None  # released, not parked behind the lease
        if attempt < 3:
            assert enrolment["status"] == "active"
            assert enrolment["next_run_at"] > utc_now()  # backing off
            await database["enrolments"].update_one(query, {"$set": {"next_run_at": utc_now()}})
    assert enrolment["status"] == "failed"
    assert enrolment["failure_reason"].startswith("step 0 failed 3 times: ValidationError")
    assert await engine.run_due_steps() == 0

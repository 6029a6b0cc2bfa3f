"""The broadcast runner on the real database: a broadcast whose preparation keeps failing is
paused with the reason after three tries, instead of being retried unseen for ever; each
recipient's message lists the open jobs matching them; an A/B test of the whole audience is
decided at its end."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from crm_campaigns.application.broadcasts import MAX_RUN_ERRORS, BroadcastRunner, variant_results
from crm_campaigns.config import CampaignsSettings
from crm_campaigns.domain.jobs import Job
from crm_campaigns.domain.models import (
    AbTest,
    AbVariant,
    Broadcast,
    BroadcastStatus,
    ListAudience,
    Recipient,
    Template,
)
from crm_campaigns.domain.tracking import TrackingTokens
from crm_campaigns.repositories.broadcasts import BroadcastRepository, complete_if_done
from crm_campaigns.repositories.collections import BROADCASTS, MESSAGES, ensure_indexes
from crm_campaigns.repositories.jobs import JobRepository
from crm_campaigns.repositories.recipients import RecipientRepository
from crm_campaigns.repositories.templates import TemplateRepository
from crm_shared import (
    SignedLinks,
    Wakeup,
    create_mongo_client,
    in_transaction,
    to_document,
    utc_now,
)
from helpers import unique

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(mongodb_uri: str) -> AsyncIterator[tuple[Any, Any]]:
    settings = CampaignsSettings(mongodb_uri=mongodb_uri, mongodb_database=unique("runner"))
    mongo = create_mongo_client(settings)
    database = mongo[settings.mongodb_database]
    await ensure_indexes(database)
    yield mongo, database
    await mongo.close()


async def test_a_broadcast_that_keeps_failing_is_paused_with_the_reason(
    database: tuple[Any, Any],
) -> None:
    mongo, db = database
    broadcast = await preparing(db, unique("tenant"), "t1", ["c1"])
    # Stored by an older version in a shape this one cannot read: every run fails.
    await db[BROADCASTS].update_one(
        {"_id": broadcast.id}, {"$set": {"audience": {"type": "carrier_pigeon"}}}
    )
    runner = runner_of(mongo, db)
    for attempt in range(1, MAX_RUN_ERRORS + 1):
        assert await runner.run_due() == 1
        stored = await db[BROADCASTS].find_one({"_id": broadcast.id})
        assert stored is not None
        assert stored["run_errors"] == attempt
        assert stored["last_error"].startswith("ValidationError")
        if attempt < MAX_RUN_ERRORS:
            assert stored["status"] == "preparing"
            # As if the lease ran out: the next run takes it again.
            await db[BROADCASTS].update_one(
                {"_id": broadcast.id}, {"$set": {"lease_until": utc_now()}}
            )
    assert stored["status"] == "paused"
    assert stored["pause_reason"].startswith("failed 3 times: ValidationError")
    assert await runner.run_due() == 0


async def test_a_broadcast_whose_template_was_deleted_is_paused_at_once(
    database: tuple[Any, Any],
) -> None:
    mongo, db = database
    broadcast = await preparing(db, unique("tenant"), "deleted-template", ["c1"])
    assert await runner_of(mongo, db).run_due() == 1
    stored = await db[BROADCASTS].find_one({"_id": broadcast.id})
    assert stored is not None
    assert (stored["status"], stored["pause_reason"]) == (
        "paused",
        "template deleted-template no longer exists",
    )


async def test_each_message_lists_the_open_jobs_matching_its_recipient(
    database: tuple[Any, Any],
) -> None:
    mongo, db = database
    tenant = unique("tenant")
    template = Template(
        tenant_id=tenant,
        name="Roles",
        subject="Roles",
        html="<p>Hi</p>",
        text="{% for job in open_jobs %}{{ job.name }};{% else %}Nothing yet{% endfor %}",
        created_by="rita",
    )
    await TemplateRepository(db, tenant).add(template)
    recipients = RecipientRepository(db, tenant)
    jobs = JobRepository(db, tenant)

    async def store(session: Any) -> None:
        for candidate_id, location in (("berlin", "Berlin"), ("paris", "Paris")):
            recipient = Recipient(
                candidate_id=candidate_id,
                tenant_id=tenant,
                email=f"{candidate_id}@example.org",
                location=location,
                marketing_consent=True,
            )
            await recipients.upsert(recipient, session=session)
        for job_id, status in (("1", "open"), ("2", "closed")):
            job = Job(
                tenant_id=tenant,
                connection_id="conn",
                ats_job_id=job_id,
                provider="greenhouse",
                name=f"Nurse {job_id}",
                status=status,
                locations=["Berlin, Germany"],
            )
            await jobs.save(job, session=session)

    await in_transaction(mongo, store)
    broadcast = await preparing(db, tenant, template.id, ["berlin", "paris"])
    assert await runner_of(mongo, db).run_due() == 1
    texts = {
        message["candidate_id"]: message["text"]
        async for message in db[MESSAGES].find({"broadcast_id": broadcast.id})
    }
    assert texts["berlin"].startswith("Nurse 1;")
    assert texts["paris"].startswith("Nothing yet")


async def test_a_french_templates_messages_have_a_french_footer(
    database: tuple[Any, Any],
) -> None:
    mongo, db = database
    tenant = unique("tenant")
    template = Template(
        tenant_id=tenant,
        name="Bienvenue",
        subject="Bienvenue",
        html="<p>Bonjour {{ candidate.first_name }}</p>",
        text="Bonjour {{ candidate.first_name }}",
        language="fr",
        created_by="rita",
    )
    await TemplateRepository(db, tenant).add(template)

    async def store(session: Any) -> None:
        await RecipientRepository(db, tenant).upsert(
            Recipient(
                candidate_id="c1",
                tenant_id=tenant,
                first_name="Amélie",
                email="amelie@example.fr",
                marketing_consent=True,
            ),
            session=session,
        )

    await in_transaction(mongo, store)
    broadcast = await preparing(db, tenant, template.id, ["c1"])
    assert await runner_of(mongo, db).run_due() == 1
    message = await db[MESSAGES].find_one({"broadcast_id": broadcast.id})
    assert message is not None
    assert "Se d&#233;sabonner</a>" in message["html"]
    assert "Unsubscribe" not in message["html"]
    assert "\nSe désabonner : http://crm.example/" in message["text"]
    assert "Manage your email preferences" not in message["text"]


async def test_an_ab_test_of_the_whole_audience_is_decided_on_delivered_opens(
    database: tuple[Any, Any],
) -> None:
    """100 %: nobody waits for the winner, and the broadcast completes before the test ends;
    the winner is recorded at `test_ends_at` all the same. A's only open is of a message that
    hard-bounced afterwards, so it counts for nothing: B wins."""
    mongo, db = database
    tenant = unique("tenant")
    template = Template(
        tenant_id=tenant, name="News", subject="News", html="<p>Hi</p>", text="Hi", created_by="r"
    )
    await TemplateRepository(db, tenant).add(template)

    async def store(session: Any) -> None:
        for candidate_id in ("c1", "c2", "c3", "c4"):
            recipient = Recipient(
                candidate_id=candidate_id,
                tenant_id=tenant,
                email=f"{candidate_id}@example.org",
                marketing_consent=True,
            )
            await RecipientRepository(db, tenant).upsert(recipient, session=session)

    await in_transaction(mongo, store)
    ab_test = AbTest(
        variants=[AbVariant(name="A", subject="News"), AbVariant(name="B", subject="News!")],
        test_percentage=100,
        decide_after_minutes=60,
    )
    broadcast = await preparing(db, tenant, template.id, ["c1", "c2", "c3", "c4"], ab_test)
    runner = runner_of(mongo, db)
    assert await runner.run_due() == 1
    messages = db[MESSAGES]
    variants = {m["_id"]: m["variant"] async for m in messages.find({"broadcast_id": broadcast.id})}
    assert sorted(variants.values()) == ["A", "A", "B", "B"]
    # Every test mail went; A's first was opened and then hard-bounced, one of B's opened.
    await messages.update_many({"broadcast_id": broadcast.id}, {"$set": {"status": "sent"}})
    first_a = min(i for i, v in variants.items() if v == "A")
    first_b = min(i for i, v in variants.items() if v == "B")
    await messages.update_one({"_id": first_a}, {"$set": {"opens": 2, "bounce_type": "hard"}})
    await messages.update_one({"_id": first_b}, {"$set": {"opens": 1}})
    assert await complete_if_done(db, tenant, broadcast.id)
    assert await runner.run_due() == 0  # the test has an hour to go
    await db[BROADCASTS].update_one(
        {"_id": broadcast.id}, {"$set": {"test_ends_at": utc_now() - timedelta(seconds=1)}}
    )
    assert await runner.run_due() == 1
    decided = await BroadcastRepository(db, tenant).get(broadcast.id)
    assert decided is not None
    assert (decided.status, decided.winner) == (BroadcastStatus.COMPLETED, "B")
    assert decided.winner_decided_at is not None
    stored = await db[BROADCASTS].find_one({"_id": broadcast.id})
    assert stored is not None
    assert stored["lease_owner"] is None
    results = {r.name: r for r in await variant_results(BroadcastRepository(db, tenant), decided)}
    assert (results["A"].sent, results["A"].delivered, results["A"].opened) == (2, 1, 0)
    assert (results["B"].delivered, results["B"].opened, results["B"].open_rate) == (2, 1, 0.5)
    assert await runner.run_due() == 0  # decided once


async def preparing(
    db: Any, tenant: str, template_id: str, candidate_ids: list[str], ab_test: AbTest | None = None
) -> Broadcast:
    """A broadcast to a list, stored as sent now, for the runner's next run."""
    broadcast = Broadcast(
        tenant_id=tenant,
        name="Fair",
        template_id=template_id,
        audience=ListAudience(candidate_ids=candidate_ids),
        status=BroadcastStatus.PREPARING,
        ab_test=ab_test,
        created_by="rita",
    )
    document = to_document(broadcast) | {"schedule": {"type": "now"}}
    await db[BROADCASTS].insert_one(document | {"lease_owner": None, "lease_until": None})
    return broadcast


def runner_of(mongo: Any, db: Any) -> BroadcastRunner:
    return BroadcastRunner(
        mongo=mongo,
        database=db,
        tokens=TrackingTokens("t" * 40),
        links=SignedLinks("l" * 40),
        public_base_url="http://crm.example",
        sender_names=lambda _tenant: "Talent",
        lease=timedelta(minutes=5),
        chunk_size=100,
        default_time_zone="UTC",
        tenant_time_zones={},
        messages_queued=Wakeup(),
    )

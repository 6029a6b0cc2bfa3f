"""A candidate's reply against SecantusDB: its excerpt on the message, a notification for the
candidate's owner (or the broadcast's creator), one per reply however often the provider
delivers it, and nothing of it left after the candidate's erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_campaigns.application.feedback import FeedbackOutcome, MailFeedback
from crm_campaigns.domain.inbound_mail import PostmarkInbound
from crm_campaigns.domain.models import REPLIES_KEPT, MessageStatus
from crm_campaigns.repositories.collections import MESSAGES, NOTIFICATIONS, RECIPIENTS
from crm_shared import MESSAGE_REPLIED, Outbox, PersonalDataEraser
from crm_shared.outbox import OUTBOX_COLLECTION
from integration.campaigns.application.test_delivery import Setup, queue, sending_broadcast

pytestmark = pytest.mark.integration

SENDER_DOMAIN = "recruitcrm.local"
# The signature delimiter is "-- " (its space written as \x20, which editors would trim).
REPLY = """Yes, I am interested in the Berlin role!
Could we talk on Thursday?

--\x20
Ada Lovelace
Analytical Engines Ltd

On Thu, 5 Apr 2026 at 16:59, Talent Team <talent@acme.example> wrote:
> Hello Ada,
> we have data roles in Berlin.
"""
EXCERPT = "Yes, I am interested in the Berlin role! Could we talk on Thursday?"


def feedback_of(delivery: Setup) -> MailFeedback:
    return MailFeedback(
        mongo=delivery.mongo,
        database=delivery.database,
        outbox=Outbox(delivery.database, "campaigns"),
    )


def inbound(message_id: str, text: str, *, postmark_id: str | None = None) -> PostmarkInbound:
    """Postmark's inbound webhook for a reply to `message_id`, as it posts it."""
    return PostmarkInbound.model_validate(
        {
            "MessageID": postmark_id or str(uuid.uuid4()),
            "FromFull": {"Email": "ada@example.org", "Name": "Ada"},
            "Subject": "Re: Hello",
            "TextBody": text,
            "HtmlBody": f"<p>{text}</p>",
            "Headers": [{"Name": "In-Reply-To", "Value": f"<{message_id}@{SENDER_DOMAIN}>"}],
        }
    )


async def sent_broadcast_messages(delivery: Setup, count: int) -> tuple[str, list[dict[str, Any]]]:
    """`count` sent messages of a broadcast `rita` created; returns it and the messages."""
    broadcast_id = await sending_broadcast(delivery)
    await queue(delivery, count, broadcast_id=broadcast_id)
    await delivery.database[MESSAGES].update_many(
        {"tenant_id": delivery.tenant},
        {"$set": {"status": MessageStatus.SENT.value, "sent_at": datetime.now(UTC)}},
    )
    found = await delivery.database[MESSAGES].find({"tenant_id": delivery.tenant}).to_list()
    return broadcast_id, sorted(found, key=lambda message: str(message["_id"]))


async def name_recipient(delivery: Setup, candidate_id: str, **fields: Any) -> None:
    await delivery.database[RECIPIENTS].update_one(
        {"tenant_id": delivery.tenant, "candidate_id": candidate_id}, {"$set": fields}
    )


async def notifications_of(delivery: Setup, candidate_id: str) -> list[dict[str, Any]]:
    return (
        await delivery.database[NOTIFICATIONS]
        .find({"tenant_id": delivery.tenant, "candidate_id": candidate_id})
        .sort([("created_at", 1), ("_id", 1)])
        .to_list()
    )


async def replied_events(delivery: Setup) -> int:
    return await delivery.database[OUTBOX_COLLECTION].count_documents(
        {"tenant_id": delivery.tenant, "topic": MESSAGE_REPLIED.name}
    )


async def test_a_reply_keeps_its_excerpt_and_notifies_the_owner_once(delivery: Setup) -> None:
    feedback = feedback_of(delivery)
    broadcast_id, [message, _] = await sent_broadcast_messages(delivery, 2)
    candidate_id = message["candidate_id"]
    await name_recipient(
        delivery, candidate_id, first_name="Ada", last_name="Lovelace", owner_id="olga"
    )
    received = datetime.now(UTC).replace(microsecond=0)
    reply = inbound(message["_id"], REPLY).report()
    assert reply.excerpt == EXCERPT

    outcome = await feedback.reply(delivery.tenant, reply, received_at=received)
    assert outcome == FeedbackOutcome("replied", message["_id"])
    stored = await delivery.database[MESSAGES].find_one({"_id": message["_id"]})
    assert stored is not None
    assert stored["replied_at"].replace(tzinfo=UTC) == received
    [kept] = stored["replies"]
    assert (kept["excerpt"], kept["received_at"].replace(tzinfo=UTC)) == (EXCERPT, received)
    [notification] = await notifications_of(delivery, candidate_id)
    assert notification["user_id"] == "olga"
    assert notification["kind"] == "reply"
    assert notification["title"] == f"Ada Lovelace replied to '{message['subject']}'"
    assert notification["body"] == EXCERPT
    assert (notification["message_id"], notification["broadcast_id"]) == (
        message["_id"],
        broadcast_id,
    )
    assert notification["read_at"] is None
    assert await replied_events(delivery) == 1

    # The provider delivers the same reply again (a webhook retry): nothing changes.
    again = await feedback.reply(delivery.tenant, reply, received_at=received + timedelta(1))
    assert again.outcome == "duplicate"
    assert len(await notifications_of(delivery, candidate_id)) == 1
    repeated = await delivery.database[MESSAGES].find_one({"_id": message["_id"]})
    assert repeated is not None
    assert len(repeated["replies"]) == 1
    assert await replied_events(delivery) == 1

    # A second reply of the person's: kept and notified too; `message.replied` stays the first.
    second = inbound(message["_id"], "Thursday 3 pm then.").report()
    later = received + timedelta(hours=2)
    assert (await feedback.reply(delivery.tenant, second, received_at=later)).outcome == "replied"
    both = await notifications_of(delivery, candidate_id)
    assert [n["body"] for n in both] == [EXCERPT, "Thursday 3 pm then."]
    assert len({n["_id"] for n in both}) == 2
    after = await delivery.database[MESSAGES].find_one({"_id": message["_id"]})
    assert after is not None
    assert [r["excerpt"] for r in after["replies"]] == [EXCERPT, "Thursday 3 pm then."]
    assert after["replied_at"].replace(tzinfo=UTC) == received
    assert await replied_events(delivery) == 1

    # A long conversation: the message keeps the latest replies only.
    for index in range(REPLIES_KEPT):
        more = inbound(message["_id"], f"Note {index}").report()
        await feedback.reply(delivery.tenant, more, received_at=later + timedelta(index + 1))
    longest = await delivery.database[MESSAGES].find_one({"_id": message["_id"]})
    assert longest is not None
    assert [r["excerpt"] for r in longest["replies"]] == [
        f"Note {index}" for index in range(REPLIES_KEPT)
    ]


async def test_without_an_owner_the_broadcasts_creator_hears_of_it(delivery: Setup) -> None:
    feedback = feedback_of(delivery)
    _, [message] = await sent_broadcast_messages(delivery, 1)
    reply = inbound(message["_id"], "Interested.").report()
    outcome = await feedback.reply(delivery.tenant, reply, received_at=datetime.now(UTC))
    assert outcome.outcome == "replied"
    [notification] = await notifications_of(delivery, message["candidate_id"])
    # The sending broadcast's creator; no name on file, so the address mailed names the person.
    assert notification["user_id"] == "rita"
    assert notification["title"] == f"{message['to_email']} replied to '{message['subject']}'"


async def test_erasing_the_candidate_removes_the_excerpts_and_the_notifications(
    delivery: Setup,
) -> None:
    feedback = feedback_of(delivery)
    _, [message, other] = await sent_broadcast_messages(delivery, 2)
    candidate_id = message["candidate_id"]
    await name_recipient(delivery, candidate_id, first_name="Ada", last_name="Lovelace")
    for each in (message, other):
        report = inbound(each["_id"], REPLY).report()
        await feedback.reply(delivery.tenant, report, received_at=datetime.now(UTC))
    assert len(await notifications_of(delivery, candidate_id)) == 1

    eraser = PersonalDataEraser(delivery.database)
    collections, emails = await eraser.prepare(delivery.tenant, candidate_id)
    assert {MESSAGES, NOTIFICATIONS} <= set(collections)

    async def erase(session: Any) -> dict[str, int]:
        return await eraser.erase(
            delivery.tenant,
            candidate_id,
            collections=collections,
            emails=emails,
            email_hashes=[],
            erased_at=datetime.now(UTC),
            session=session,
        )

    async with delivery.mongo.start_session() as session:
        deleted = await session.with_transaction(erase)
    assert deleted[MESSAGES] == 1
    assert deleted[NOTIFICATIONS] == 1
    # Nothing of the reply is left: not its excerpt, not the name its notification carried.
    for name in (MESSAGES, NOTIFICATIONS):
        async for document in delivery.database[name].find({"tenant_id": delivery.tenant}):
            assert "Lovelace" not in repr(document)
            assert document["candidate_id"] == other["candidate_id"]
    # The other candidate's reply stays.
    assert len(await notifications_of(delivery, other["candidate_id"])) == 1

"""Bounce, complaint and reply reports against SecantusDB: a report about a message that never
left changes nothing, whichever way it came; `suppressed` says where the address stands after the
report; a hard bounce takes over an entry listed for soft bounces."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sns_support import Fetcher, SigningKey

from crm_campaigns.adapters.sns import SnsVerifier
from crm_campaigns.application.feedback import FeedbackOutcome, MailFeedback
from crm_campaigns.domain.inbound_mail import BounceReport, ComplaintReport, ReplyReport
from crm_campaigns.domain.models import OUTCOME_UNKNOWN, MessageStatus
from crm_campaigns.domain.suppression import ListReason, Suppression, email_sha256
from crm_campaigns.repositories.collections import MESSAGES
from crm_campaigns.repositories.suppressions import SuppressionRepository
from crm_shared import Outbox
from crm_shared.outbox import OUTBOX_COLLECTION
from integration.campaigns.application.test_delivery import Setup, queue
from integration.campaigns.application.test_ses_feedback import (
    CERT_URL,
    envelope,
    notification,
    suppressions,
)

pytestmark = pytest.mark.integration

NEVER_SENT = "the message was never sent (status suppressed): nothing was recorded"


def feedback_of(delivery: Setup, key: SigningKey) -> MailFeedback:
    return MailFeedback(
        mongo=delivery.mongo,
        database=delivery.database,
        outbox=Outbox(delivery.database, "campaigns"),
        sns=SnsVerifier(Fetcher({CERT_URL: key.pem})),
    )


async def messages(delivery: Setup, count: int, **fields: Any) -> list[tuple[str, str]]:
    """Queues `count` messages and gives them `fields`; returns their ids and addresses."""
    addresses = await queue(delivery, count)
    await delivery.database[MESSAGES].update_many({"tenant_id": delivery.tenant}, {"$set": fields})
    documents = await delivery.database[MESSAGES].find({"tenant_id": delivery.tenant}).to_list()
    by_address = {document["to_email"]: document["_id"] for document in documents}
    return [(by_address[address], address) for address in addresses]


async def test_reports_about_a_message_that_never_left_change_nothing(delivery: Setup) -> None:
    key = SigningKey()
    feedback = feedback_of(delivery, key)
    # Skipped by a send rule (the try-out's broadcast message to an unsubscribed person).
    [(message_id, address)] = await messages(
        delivery, 1, status=MessageStatus.SUPPRESSED.value, suppression_reason="unsubscribed"
    )
    before = await delivery.database[MESSAGES].find_one({"_id": message_id})
    ignored = FeedbackOutcome("ignored", message_id, detail=NEVER_SENT)

    hard = BounceReport([message_id], "hard", "5.1.1 no such user", address)
    assert await feedback.bounce(delivery.tenant, hard, "dsn") == ignored
    complaint = ComplaintReport([message_id], address, "abuse")
    assert await feedback.complaint(delivery.tenant, complaint, "postmark") == ignored
    yes = ReplyReport([message_id], "postmark:1", "Yes")
    reply = await feedback.reply(delivery.tenant, yes, received_at=datetime.now(UTC))
    assert reply == ignored
    for kind, detail in (("Bounce", {"bounceType": "Permanent"}), ("Complaint", {})):
        ses = envelope(key, notification(kind, message_id, address, **detail))
        assert await feedback.sns_delivery(delivery.tenant, ses) == ignored

    assert await delivery.database[MESSAGES].find_one({"_id": message_id}) == before
    assert await suppressions(delivery, address) == []
    assert await delivery.database[OUTBOX_COLLECTION].count_documents({}) == 0

    # The address listed for another reason: the answer says so, and still records nothing.
    await SuppressionRepository(delivery.database, delivery.tenant).add(
        Suppression(
            tenant_id=delivery.tenant,
            email_sha256=email_sha256(address),
            reason=ListReason.UNSUBSCRIBED,
            source="consent.changed",
        )
    )
    listed = await feedback.bounce(delivery.tenant, hard, "dsn")
    assert (listed.outcome, listed.suppressed) == ("ignored", True)
    assert len(await suppressions(delivery, address)) == 1


async def test_a_message_interrupted_in_its_smtp_transaction_may_bounce(delivery: Setup) -> None:
    feedback = feedback_of(delivery, SigningKey())
    [(message_id, address)] = await messages(
        delivery, 1, status=MessageStatus.FAILED.value, failure_reason=OUTCOME_UNKNOWN
    )
    hard = BounceReport([message_id], "hard", "5.1.1 no such user", address)
    outcome = await feedback.bounce(delivery.tenant, hard, "dsn")
    assert outcome == FeedbackOutcome("bounced", message_id, "hard", suppressed=True)


async def test_suppressed_is_where_the_address_stands_and_hard_bounces_take_over(
    delivery: Setup,
) -> None:
    feedback = feedback_of(delivery, SigningKey())
    sent = {"status": MessageStatus.SENT.value, "sent_at": datetime.now(UTC)}
    [(soft_id, soft_to), (listed_id, listed_to)] = await messages(delivery, 2, **sent)

    # A soft bounce below the limit: not listed, and its repeat says so too.
    soft = BounceReport([soft_id], "soft", "4.2.2 mailbox full", soft_to)
    assert (await feedback.bounce(delivery.tenant, soft, "dsn")).suppressed is False
    repeated = await feedback.bounce(delivery.tenant, soft, "dsn")
    assert (repeated.outcome, repeated.suppressed) == ("duplicate", False)

    # An address the soft-bounce limit listed earlier (another message to it).
    entries = SuppressionRepository(delivery.database, delivery.tenant)
    await entries.add(
        Suppression(
            tenant_id=delivery.tenant,
            email_sha256=email_sha256(listed_to),
            reason=ListReason.BOUNCED,
            source="postmark",
            candidate_id="c",
            message_id="an-older-message",
            note="3 soft bounces",
        )
    )
    [before] = await suppressions(delivery, listed_to)
    hard = BounceReport([listed_id], "hard", "5.1.1 no such user", listed_to)
    outcome = await feedback.bounce(delivery.tenant, hard, "dsn")
    assert outcome == FeedbackOutcome("bounced", listed_id, "hard", suppressed=True)
    [after] = await suppressions(delivery, listed_to)
    assert (after["_id"], after["created_at"]) == (before["_id"], before["created_at"])
    assert (after["note"], after["source"], after["message_id"]) == (
        "5.1.1 no such user",
        "dsn",
        listed_id,
    )
    # The same hard bounce again: a duplicate, and the address is still listed.
    again = await feedback.bounce(delivery.tenant, hard, "postmark")
    assert (again.outcome, again.suppressed) == ("duplicate", True)
    [unchanged] = await suppressions(delivery, listed_to)
    assert unchanged["source"] == "dsn"

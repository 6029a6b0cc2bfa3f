"""Amazon SES notifications over SNS against SecantusDB: a verified bounce or complaint lands on
the bounce and suppression path of the message it names, once; a forged one changes nothing; a
subscription confirmation is confirmed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sns_support import Fetcher, SigningKey

from crm_campaigns.adapters.sns import SnsEnvelope, SnsError, SnsVerifier
from crm_campaigns.application.feedback import FeedbackOutcome, MailFeedback
from crm_campaigns.domain.models import MessageStatus
from crm_campaigns.domain.suppression import email_sha256
from crm_campaigns.repositories.collections import MESSAGES, SUPPRESSIONS
from crm_shared import Outbox
from crm_shared.outbox import OUTBOX_COLLECTION
from integration.campaigns.application.test_delivery import Setup, queue

pytestmark = pytest.mark.integration

CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-test.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"


def envelope(key: SigningKey, ses: dict[str, Any], **overrides: str) -> SnsEnvelope:
    fields = {
        "Type": "Notification",
        "MessageId": "e8b1c7a2-0000-4000-8000-000000000001",
        "TopicArn": TOPIC,
        "Message": json.dumps(ses),
        "Timestamp": "2026-12-02T10:00:00.000Z",
        "SignatureVersion": "1",
        "SigningCertURL": CERT_URL,
    } | overrides
    return SnsEnvelope.model_validate(key.sign(fields))


def notification(kind: str, message_id: str, address: str, **detail: Any) -> dict[str, Any]:
    recipients = {"Bounce": "bouncedRecipients", "Complaint": "complainedRecipients"}[kind]
    return {
        "notificationType": kind,
        kind.lower(): {recipients: [{"emailAddress": address}], **detail},
        "mail": {
            "messageId": "0102018c-ses-assigned",
            "destination": [address],
            "headers": [{"name": "X-CRM-Message-Id", "value": message_id}],
            "commonHeaders": {"messageId": f"<{message_id}@recruitcrm.example>"},
        },
    }


async def sent_messages(delivery: Setup, count: int) -> list[tuple[str, str]]:
    """Queues `count` messages and marks them sent; returns their ids and addresses."""
    addresses = await queue(delivery, count)
    await delivery.database[MESSAGES].update_many(
        {"tenant_id": delivery.tenant}, {"$set": {"status": MessageStatus.SENT.value}}
    )
    documents = await delivery.database[MESSAGES].find({"tenant_id": delivery.tenant}).to_list()
    by_address = {document["to_email"]: document["_id"] for document in documents}
    return [(by_address[address], address) for address in addresses]


async def suppressions(delivery: Setup, address: str) -> list[dict[str, Any]]:
    return (
        await delivery.database[SUPPRESSIONS]
        .find({"tenant_id": delivery.tenant, "email_sha256": email_sha256(address)})
        .to_list()
    )


async def test_ses_bounces_and_complaints_take_the_bounce_and_suppression_path(
    delivery: Setup,
) -> None:
    key = SigningKey()
    fetch = Fetcher({CERT_URL: key.pem})
    feedback = MailFeedback(
        mongo=delivery.mongo,
        database=delivery.database,
        outbox=Outbox(delivery.database, "campaigns"),
        sns=SnsVerifier(fetch),
    )
    (bounced_id, bounced_to), (complained_id, complained_to) = await sent_messages(delivery, 2)

    bounce = notification(
        "Bounce",
        bounced_id,
        bounced_to,
        bounceType="Permanent",
        bounceSubType="General",
    )
    outcome = await feedback.sns_delivery(delivery.tenant, envelope(key, bounce))
    assert outcome == FeedbackOutcome("bounced", bounced_id, "hard", suppressed=True)
    # SNS retries a delivery it is not sure of: the same notification again changes nothing.
    repeated = await feedback.sns_delivery(delivery.tenant, envelope(key, bounce))
    assert repeated.outcome == "duplicate"
    stored = await delivery.database[MESSAGES].find_one({"_id": bounced_id})
    assert stored is not None
    assert (stored["bounce_type"], stored["bounce_reason"]) == (
        "hard",
        "Permanent/General: no diagnostic",
    )
    [entry] = await suppressions(delivery, bounced_to)
    assert (entry["reason"], entry["source"], entry["message_id"]) == ("bounced", "ses", bounced_id)

    complaint = notification(
        "Complaint", complained_id, complained_to, complaintFeedbackType="abuse"
    )
    outcome = await feedback.sns_delivery(delivery.tenant, envelope(key, complaint))
    assert outcome == FeedbackOutcome("complained", complained_id, suppressed=True)
    assert (await feedback.sns_delivery(delivery.tenant, envelope(key, complaint))).outcome == (
        "duplicate"
    )
    stored = await delivery.database[MESSAGES].find_one({"_id": complained_id})
    assert stored is not None
    assert stored["complaint_type"] == "abuse"
    assert stored["complained_at"] is not None
    [entry] = await suppressions(delivery, complained_to)
    assert (entry["reason"], entry["source"]) == ("complained", "ses")
    # The complaint is published once (analytics' message reports count it).
    staged = delivery.database[OUTBOX_COLLECTION].find({"topic": "message.complained"})
    published = [json.loads(r["value"])["data"] for r in await staged.to_list()]
    assert [
        (d["source"], d["feedback_type"]) for d in published if d["message_id"] == (complained_id)
    ] == [("ses", "abuse")]

    # Another tenant's URL cannot reach these messages.
    other = await feedback.sns_delivery(f"{delivery.tenant}-other", envelope(key, bounce))
    assert other.outcome == "unmatched"
    assert fetch.fetched == [CERT_URL]


async def test_a_forged_notification_changes_nothing(delivery: Setup) -> None:
    key, forger = SigningKey(), SigningKey()
    feedback = MailFeedback(
        mongo=delivery.mongo,
        database=delivery.database,
        outbox=Outbox(delivery.database, "campaigns"),
        sns=SnsVerifier(Fetcher({CERT_URL: key.pem})),
    )
    [(message_id, address)] = await sent_messages(delivery, 1)
    forged = envelope(forger, notification("Complaint", message_id, address))
    with pytest.raises(SnsError):
        await feedback.sns_delivery(delivery.tenant, forged)
    assert await suppressions(delivery, address) == []
    stored = await delivery.database[MESSAGES].find_one({"_id": message_id})
    assert stored is not None
    assert stored.get("complained_at") is None


async def test_a_subscription_is_confirmed_and_other_messages_are_acknowledged(
    delivery: Setup,
) -> None:
    key = SigningKey()
    fetch = Fetcher({CERT_URL: key.pem})
    feedback = MailFeedback(
        mongo=delivery.mongo,
        database=delivery.database,
        outbox=Outbox(delivery.database, "campaigns"),
        sns=SnsVerifier(fetch),
    )
    subscribe_url = (
        f"https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}&Token=t"
    )
    confirmation = envelope(
        key,
        {},
        Type="SubscriptionConfirmation",
        Message=f"You have chosen to subscribe to the topic {TOPIC}.",
        SubscribeURL=subscribe_url,
        Token="t",
    )
    assert (await feedback.sns_delivery(delivery.tenant, confirmation)).outcome == "subscribed"
    assert fetch.fetched == [CERT_URL, subscribe_url]
    delivered = {"notificationType": "Delivery", "mail": {"messageId": "x"}}
    assert (await feedback.sns_delivery(delivery.tenant, envelope(key, delivered))).outcome == (
        "ignored"
    )
    not_ses = envelope(key, {}, Message="a message somebody else published to the topic")
    assert (await feedback.sns_delivery(delivery.tenant, not_ses)).outcome == "ignored"

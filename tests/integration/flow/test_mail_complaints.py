"""Spam complaints and SES notifications through the gateway's public inbound mail endpoints, on
the real broker, database and SMTP sink: a complaint suppresses the address for all mail; an SNS
delivery that SNS did not sign is refused before it can touch anything."""

from __future__ import annotations

import json

import httpx
import pytest
from conftest import SmtpSink

from helpers import unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack
from integration.flow.test_governance import (
    candidate,
    inbound_urls,
    messages_of,
    nurture,
    retag,
    suppressions_of,
)

pytestmark = pytest.mark.integration


async def test_a_postmark_spam_complaint_suppresses_the_address_for_all_mail(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    tag = await nurture(stack, ACME_TOKEN)
    email = f"{unique('complains')}@example.org"
    candidate_id = await candidate(stack, ACME_TOKEN, tag, email)
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    urls = await inbound_urls(stack, ACME_ADMIN_TOKEN)
    complaint = {
        "RecordType": "SpamComplaint",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 100001,
        "Name": "Spam complaint",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Email": email,
        "Metadata": {"crm-message-id": message["id"]},
        "MessageStream": "outbound",
    }
    async with httpx.AsyncClient(timeout=30) as provider:
        reported = await provider.post(urls["postmark_bounce_url"], json=complaint)
        assert reported.status_code == 200, reported.text
        assert reported.json() == {
            "outcome": "complained",
            "message_id": message["id"],
            "bounce_type": None,
            "suppressed": True,
        }
        again = await provider.post(urls["postmark_bounce_url"], json=complaint)
        assert again.json()["outcome"] == "duplicate"

    [entry] = await suppressions_of(stack, ACME_TOKEN, email)
    assert (entry["reason"], entry["source"], entry["message_id"]) == (
        "complained",
        "postmark",
        message["id"],
    )
    shown = await stack.gateway.get(
        f"/api/v1/messages/{message['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert shown.json()["complaint_type"] == "abuse"
    assert shown.json()["complained_at"] is not None

    # Nothing more goes to the address.
    later_tag = await nurture(stack, ACME_TOKEN)
    await retag(stack, ACME_TOKEN, candidate_id, [tag, later_tag])
    [blocked] = [
        m
        for m in await messages_of(stack, ACME_TOKEN, candidate_id, count=2)
        if m["id"] != message["id"]
    ]
    assert blocked["suppression_reason"] == "complained"
    assert len(smtp_sink.messages_to(email)) == 1


async def test_an_sns_delivery_not_signed_by_sns_is_refused(stack: Stack) -> None:
    tag = await nurture(stack, ACME_TOKEN)
    email = f"{unique('forged')}@example.org"
    candidate_id = await candidate(stack, ACME_TOKEN, tag, email)
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    urls = await inbound_urls(stack, ACME_ADMIN_TOKEN)
    assert urls["ses_url"] == urls["dsn_url"].removesuffix("/bounces") + "/ses"
    complaint = {
        "notificationType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": email}]},
        "mail": {
            "messageId": "ses-id",
            "headers": [{"name": "X-CRM-Message-Id", "value": message["id"]}],
        },
    }
    forged = {
        "Type": "Notification",
        "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        "TopicArn": "arn:aws:sns:eu-west-1:123456789012:ses-feedback",
        "Message": json.dumps(complaint),
        "Timestamp": "2026-12-02T10:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "Zm9yZ2Vk",
        # The forger's own certificate: never fetched, the host is not Amazon SNS's.
        "SigningCertURL": "https://attacker.example/SimpleNotificationService.pem",
    }
    async with httpx.AsyncClient(timeout=30) as sender:
        # SNS posts JSON as text/plain.
        refused = await sender.post(
            urls["ses_url"],
            content=json.dumps(forged),
            headers={"Content-Type": "text/plain; charset=UTF-8"},
        )
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "not an Amazon SNS certificate" in refused.json()["detail"]
        garbage = await sender.post(urls["ses_url"], content=b"{}")
        assert garbage.status_code == 422
        forged_token = await sender.post(
            urls["ses_url"].replace("/mail/", "/mail/x"), content=json.dumps(forged)
        )
        assert forged_token.status_code == 404
    assert await suppressions_of(stack, ACME_TOKEN, email) == []

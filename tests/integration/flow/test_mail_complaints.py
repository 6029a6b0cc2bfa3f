"""Spam complaints and SES notifications through the gateway's public inbound mail endpoints, on
the real broker, database and SMTP sink: a complaint suppresses the address for all mail and
withdraws the person's marketing consent (ledger, timeline, segments); a report about a message
that was never sent changes nothing; an SNS delivery that SNS did not sign is refused before it
can touch anything."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from conftest import SmtpSink

from helpers import eventually, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, Stack
from integration.flow.test_governance import (
    candidate,
    dsn_for,
    inbound_urls,
    messages_of,
    nurture,
    retag,
    suppressions_of,
)

pytestmark = pytest.mark.integration


def spam_complaint(email: str, message_id: str) -> dict[str, Any]:
    """Postmark's spam complaint webhook about one of our messages."""
    return {
        "RecordType": "SpamComplaint",
        "ID": 42,
        "Type": "SpamComplaint",
        "TypeCode": 100001,
        "Name": "Spam complaint",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Email": email,
        "Metadata": {"crm-message-id": message_id},
        "MessageStream": "outbound",
    }


async def consenting_nurture(stack: Stack, token: str) -> tuple[str, str]:
    """A segment of one new tag that requires marketing consent, and a sequence mailing it;
    returns the tag and the segment's id."""
    tag = unique("consenting").lower()
    headers = stack.as_(token)
    template = await stack.gateway.post(
        "/api/v1/templates",
        headers=headers,
        json={"name": "Hello", "subject": "Hello", "html": "<p>Hi</p>", "text": "Hi"},
    )
    assert template.status_code == 201, template.text
    rule = {
        "all": [
            {"field": "tags", "op": "equals", "value": tag},
            {"field": "marketing_consent", "op": "equals", "value": True},
        ]
    }
    segment = await stack.gateway.post(
        "/api/v1/segments", headers=headers, json={"name": tag, "rule": rule}
    )
    assert segment.status_code == 201, segment.text
    sequence = await stack.gateway.post(
        "/api/v1/sequences",
        headers=headers,
        json={
            "name": tag,
            "trigger": {"type": "segment_entered", "segment_id": segment.json()["id"]},
            "steps": [{"type": "send", "template_id": template.json()["id"]}],
        },
    )
    assert sequence.status_code == 201, sequence.text
    return tag, str(segment.json()["id"])


async def test_a_spam_complaint_withdraws_marketing_consent_and_leaves_the_segment(
    stack: Stack,
) -> None:
    tag, segment_id = await consenting_nurture(stack, ACME_TOKEN)
    email = f"{unique('spam')}@example.org"
    candidate_id = await candidate(stack, ACME_TOKEN, tag, email)
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    assert message["status"] == "sent"
    headers = stack.as_(ACME_TOKEN)
    segments = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}/segments", headers=headers
    )
    assert [s["id"] for s in segments.json()] == [segment_id]
    urls = await inbound_urls(stack, ACME_ADMIN_TOKEN)

    async with httpx.AsyncClient(timeout=30) as provider:
        reported = await provider.post(
            urls["postmark_bounce_url"], json=spam_complaint(email, message["id"])
        )
    assert reported.json()["outcome"] == "complained", reported.text

    consents: dict[str, Any] = {}

    async def withdrawn() -> bool:
        nonlocal consents
        answer = await stack.gateway.get(
            f"/api/v1/candidates/{candidate_id}/consents", headers=headers
        )
        consents = answer.json()
        return consents["marketing_consent"] is False

    await eventually(withdrawn, timeout=30, message="the complaint did not withdraw consent")
    [marketing] = [c for c in consents["current"] if c["purpose"] == "marketing"]
    assert (marketing["status"], marketing["source"]) == ("withdrawn", "spam_complaint")
    [entry] = [e for e in consents["history"] if e["source"] == "spam_complaint"]
    assert (entry["purpose"], entry["status"], entry["message_id"]) == (
        "marketing",
        "withdrawn",
        message["id"],
    )
    assert entry["evidence"] == {
        "message_id": message["id"],
        "feedback_type": "abuse",
        "reported_by": "postmark",
    }
    shown = await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=headers)
    assert shown.json()["marketing_consent"] is False

    # The segment requires consent: the person leaves it, and the timeline says why.
    segments = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}/segments", headers=headers
    )
    assert segments.json() == []
    items: list[dict[str, Any]] = []

    async def in_timeline() -> bool:
        nonlocal items
        answer = await stack.gateway.get(
            f"/api/v1/candidates/{candidate_id}/timeline", headers=headers
        )
        items = answer.json()["items"]
        return {"message.complained", "consent.withdrawn", "segment.exited"} <= {
            _kind(item) for item in items
        }

    await eventually(in_timeline, timeout=30, message="the complaint is not in the timeline")
    [complained] = [item for item in items if item["type"] == "message.complained"]
    assert complained["data"]["message_id"] == message["id"]
    # The consent the person was created with is a grant in the ledger too (`profile`).
    [changed] = [item for item in items if _kind(item) == "consent.withdrawn"]
    assert changed["data"]["source"] == "spam_complaint"


def _kind(item: dict[str, Any]) -> str:
    """A timeline entry's type, a consent change's status in place of `changed`."""
    if item["type"] == "consent.changed":
        return f"consent.{item['data']['status']}"
    return str(item["type"])


async def test_reports_about_a_message_never_sent_are_ignored(stack: Stack) -> None:
    tag = await nurture(stack, ACME_TOKEN)
    email = f"{unique('skipped')}@example.org"
    created = await stack.gateway.post(
        "/api/v1/candidates",
        headers=stack.as_(ACME_TOKEN),
        json={"first_name": "Łukasz", "emails": [email], "tags": [tag]},
    )
    assert created.status_code == 201, created.text
    candidate_id = created.json()["id"]
    # No marketing consent: the send rules skip the message.
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    assert (message["status"], message["sent_at"]) == ("suppressed", None)
    urls = await inbound_urls(stack, ACME_ADMIN_TOKEN)

    async with httpx.AsyncClient(timeout=30) as provider:
        bounce = await provider.post(urls["dsn_url"], content=dsn_for(message["id"], email))
        complaint = await provider.post(
            urls["postmark_bounce_url"], json=spam_complaint(email, message["id"])
        )
    for answer in (bounce, complaint):
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "outcome": "ignored",
            "message_id": message["id"],
            "bounce_type": None,
            "suppressed": False,
            "detail": "the message was never sent (status suppressed): nothing was recorded",
        }
    shown = await stack.gateway.get(
        f"/api/v1/messages/{message['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert (shown.json()["bounce_type"], shown.json()["complained_at"]) == (None, None)
    assert await suppressions_of(stack, ACME_TOKEN, email) == []


async def test_a_postmark_spam_complaint_suppresses_the_address_for_all_mail(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    tag = await nurture(stack, ACME_TOKEN)
    email = f"{unique('complains')}@example.org"
    candidate_id = await candidate(stack, ACME_TOKEN, tag, email)
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    urls = await inbound_urls(stack, ACME_ADMIN_TOKEN)
    complaint = spam_complaint(email, message["id"])
    async with httpx.AsyncClient(timeout=30) as provider:
        reported = await provider.post(urls["postmark_bounce_url"], json=complaint)
        assert reported.status_code == 200, reported.text
        assert reported.json() == {
            "outcome": "complained",
            "message_id": message["id"],
            "bounce_type": None,
            "suppressed": True,
            "detail": None,
        }
        again = await provider.post(urls["postmark_bounce_url"], json=complaint)
        assert (again.json()["outcome"], again.json()["suppressed"]) == ("duplicate", True)

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

    # Nothing more goes to the address: a later sequence on a segment holding them mails a
    # newcomer, and the complainer is not enrolled (the complaint unsubscribed them) or, at
    # most, gets a message suppressed as `complained`.
    later_tag = await nurture(stack, ACME_TOKEN)
    await retag(stack, ACME_TOKEN, candidate_id, [tag, later_tag])
    newcomer = await candidate(stack, ACME_TOKEN, later_tag, f"{unique('newcomer')}@example.org")
    [welcomed] = await messages_of(stack, ACME_TOKEN, newcomer)
    assert welcomed["status"] in ("queued", "sending", "sent")
    others = [
        m for m in await messages_of(stack, ACME_TOKEN, candidate_id) if m["id"] != message["id"]
    ]
    assert all(m["suppression_reason"] == "complained" for m in others), others
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

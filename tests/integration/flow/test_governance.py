"""Contact governance through the gateway on the real broker, database and SMTP sink:
suppression (unsubscribed, bounced, erased, manual), the frequency cap and quiet hours,
unsubscribe headers, bounces by DSN and webhook, replies, and machine opens."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from conftest import SmtpSink
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient

from crm_campaigns.domain.contact_policy import ContactPolicy, FrequencyCap, decide
from crm_campaigns.domain.inbound_mail import INBOUND_PURPOSE
from crm_campaigns.domain.policy import Verdict
from crm_campaigns.repositories.contact_policies import ContactLedger
from crm_shared import (
    CANDIDATE_ERASED,
    CONSENT_CHANGED,
    MESSAGE_BOUNCED,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    MESSAGE_REPLIED,
    MESSAGE_SENT,
    CandidateErased,
    ConsentChanged,
    EventEnvelope,
    LinkClaim,
    SignedLinks,
    TopicSpec,
)
from helpers import eventually, read_events, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration

SENDER_DOMAIN = "recruitcrm.local"
PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko)"


# The default policy, whole: a PUT of the contact policy names every field (docs/campaigns.md).
PERMISSIVE = {
    "frequency_cap": None,
    "quiet_hours": None,
    "on_limit": "defer",
    "default_time_zone": "UTC",
    "soft_bounce_limit": 3,
}


@pytest.fixture(autouse=True)
async def permissive_policy(stack: Stack) -> AsyncIterator[None]:
    """Every test starts and ends with the default policy (no cap, no quiet hours)."""
    admin = stack.as_(ACME_ADMIN_TOKEN)
    reset = await stack.gateway.put(
        "/api/v1/settings/contact-policy", json=PERMISSIVE, headers=admin
    )
    assert reset.status_code == 200, reset.text
    yield
    await stack.gateway.put("/api/v1/settings/contact-policy", json=PERMISSIVE, headers=admin)


async def nurture(stack: Stack, token: str, *, sequences: int = 1) -> str:
    """A template, a segment of one new tag and sequences mailing it; returns the tag."""
    tag = unique("tag").lower()
    headers = stack.as_(token)
    template = await stack.gateway.post(
        "/api/v1/templates",
        headers=headers,
        json={
            "name": "Hello",
            "subject": "Hello {{ candidate.first_name | default('there') }}",
            "html": "<html><body><p>Hi</p>"
            '<p><a href="https://careers.example.org/jobs">Jobs</a></p></body></html>',
            "text": "Hi, see https://careers.example.org/jobs",
        },
    )
    assert template.status_code == 201, template.text
    segment = await stack.gateway.post(
        "/api/v1/segments",
        headers=headers,
        json={
            "name": tag,
            "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]},
        },
    )
    assert segment.status_code == 201, segment.text
    for index in range(sequences):
        sequence = await stack.gateway.post(
            "/api/v1/sequences",
            headers=headers,
            json={
                "name": f"{tag} {index}",
                "trigger": {"type": "segment_entered", "segment_id": segment.json()["id"]},
                "steps": [{"type": "send", "template_id": template.json()["id"]}],
            },
        )
        assert sequence.status_code == 201, sequence.text
    return tag


async def candidate(stack: Stack, token: str, tag: str, email: str) -> str:
    created = await stack.gateway.post(
        "/api/v1/candidates",
        headers=stack.as_(token),
        json={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "emails": [email],
            "tags": [tag],
            "marketing_consent": True,
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def retag(stack: Stack, token: str, candidate_id: str, tags: list[str]) -> None:
    """Puts a candidate into more segments (and so more sequences)."""
    updated = await stack.gateway.patch(
        f"/api/v1/candidates/{candidate_id}", json={"tags": tags}, headers=stack.as_(token)
    )
    assert updated.status_code == 200, updated.text


async def messages_of(
    stack: Stack, token: str, candidate_id: str, *, count: int = 1, settled: bool = True
) -> list[dict[str, Any]]:
    """The candidate's messages once there are `count` (and, if `settled`, each is done or
    deferred by a policy)."""
    found: list[dict[str, Any]] = []

    async def ready() -> bool:
        nonlocal found
        response = await stack.gateway.get(
            f"/api/v1/messages?candidate_id={candidate_id}", headers=stack.as_(token)
        )
        found = response.json()["items"]
        return len(found) >= count and (
            not settled
            or all(
                m["status"] != "sending" and (m["status"] != "queued" or m["policy_reason"])
                for m in found
            )
        )

    await eventually(ready, timeout=40, message="the candidate's messages were not handled")
    return found


async def publish(bootstrap: str, spec: TopicSpec, tenant_id: str, subject: str, data: Any) -> None:
    """Publishes an event as its producing service would (envelope, key, event id)."""
    envelope = EventEnvelope[Any](
        type=spec.name,
        source="tests",
        tenant_id=tenant_id,
        subject=subject,
        schema_version=spec.schema_version,
        data=data,
    )
    producer = KafkaBroker(bootstrap)
    await producer.start()
    try:
        await producer.publish(
            envelope.model_dump_json().encode(),
            spec.name,
            key=subject.encode(),
            headers={"event-id": str(envelope.id)},
        )
    finally:
        await producer.stop()


async def inbound_urls(stack: Stack, token: str) -> dict[str, str]:
    response = await stack.gateway.get("/api/v1/settings/inbound-mail", headers=stack.as_(token))
    assert response.status_code == 200, response.text
    urls: dict[str, str] = response.json()
    return urls


def dsn_for(message_id: str, email: str, *, status: str = "5.1.1") -> bytes:
    return f"""From: Mail Delivery System <MAILER-DAEMON@mx.example.org>
To: talent@{SENDER_DOMAIN}
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="R"

--R
Content-Type: text/plain

Delivery failed.

--R
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; {email}
Action: failed
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{email}>: Recipient address rejected

--R
Content-Type: text/rfc822-headers

To: {email}
Message-ID: <{message_id}@{SENDER_DOMAIN}>
X-CRM-Message-Id: {message_id}

--R--
""".encode()


async def suppressions_of(stack: Stack, token: str, email: str) -> list[dict[str, Any]]:
    response = await stack.gateway.get(
        "/api/v1/suppressions", params={"email": email}, headers=stack.as_(token)
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_marketing_mail_carries_one_click_unsubscribe_that_suppresses(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    tag = await nurture(stack, ACME_TOKEN)
    email = f"{unique('ada')}@example.org"
    candidate_id = await candidate(stack, ACME_TOKEN, tag, email)
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    assert message["status"] == "sent"
    assert message["category"] == "marketing"
    [mail] = smtp_sink.messages_to(email)
    parsed = mail.parsed()
    # A long Message-ID is folded onto its own line; the id itself is intact.
    assert str(parsed["Message-ID"]).strip() == f"<{message['id']}@{SENDER_DOMAIN}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = str(parsed["List-Unsubscribe"])
    prefix = f"<{stack.gateway_url}/public/v1/unsubscribe/"
    assert header.startswith(prefix), header
    assert header.endswith(">")
    links = SignedLinks(stack.settings["campaigns"].link_signing_secret.get_secret_value())
    claim = links.verify(header[len(prefix) : -1], "unsubscribe")
    assert claim is not None
    assert (claim.tenant_id, claim.subject, claim.data) == (
        stack.acme,
        candidate_id,
        {"message_id": message["id"]},
    )
    html = parsed.get_body(("html",))
    text = parsed.get_body(("plain",))
    assert html is not None
    assert text is not None
    assert header[1:-1] in html.get_content()  # the footer links there directly, untracked
    assert f"{stack.gateway_url}/public/v1/preferences/" in html.get_content()
    assert header[1:-1] in text.get_content()

    # The mail client's one click (RFC 8058) unsubscribes through the candidates service, whose
    # consent.changed puts the address on campaigns' suppression list, naming the message.
    async with httpx.AsyncClient() as mail_client:
        clicked = await mail_client.post(
            header[1:-1],
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert clicked.status_code == 200, clicked.text

    async def suppressed() -> bool:
        return [
            (s["reason"], s["message_id"]) for s in await suppressions_of(stack, ACME_TOKEN, email)
        ] == [("unsubscribed", message["id"])]

    await eventually(suppressed, timeout=30, message="the unsubscribe did not suppress")
    assert await suppressions_of(stack, GLOBEX_TOKEN, email) == []


async def test_manual_suppression_api_roles_bad_input_and_tenant_isolation(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    email = f"{unique('grace')}@example.org"
    # Suppressions are tenant-wide settings: an admin's, not a recruiter's or marketer's.
    refused = await stack.gateway.post(
        "/api/v1/suppressions", json={"email": email}, headers=stack.as_(ACME_TOKEN)
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["permission"] == "settings:write"
    added = await stack.gateway.post(
        "/api/v1/suppressions",
        json={"email": email.upper(), "note": "asked by phone"},
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert added.status_code == 201, added.text
    entry = added.json()
    assert entry["email_sha256"] == hashlib.sha256(email.encode()).hexdigest()
    assert entry["reason"] == "manual"
    assert email not in json.dumps(entry)  # only the hash is stored
    assert added.headers["location"] == f"/api/v1/suppressions/{entry['id']}"
    again = await stack.gateway.post(
        "/api/v1/suppressions", json={"email": email}, headers=stack.as_(ACME_ADMIN_TOKEN)
    )
    assert again.status_code == 200
    assert again.json()["id"] == entry["id"]

    bad = await stack.gateway.post(
        "/api/v1/suppressions",
        json={"email": "not-an-address", "reason": "bounced"},
        headers=stack.as_(ACME_ADMIN_TOKEN),
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert {"email", "reason"} <= {e["field"].split(".")[-1] for e in bad.json()["errors"]}

    # The suppressed address gets nothing, and the message says why.
    tag = await nurture(stack, ACME_TOKEN)
    candidate_id = await candidate(stack, ACME_TOKEN, tag, email)
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    assert (message["status"], message["suppression_reason"]) == ("suppressed", "manual")
    assert smtp_sink.messages_to(email) == []

    # Globex neither sees nor lifts Acme's entry, and its own list does not affect Acme.
    assert await suppressions_of(stack, GLOBEX_TOKEN, email) == []
    foreign = await stack.gateway.get(
        f"/api/v1/suppressions/{entry['id']}", headers=stack.as_(GLOBEX_TOKEN)
    )
    assert foreign.status_code == 404
    not_admin = await stack.gateway.delete(
        f"/api/v1/suppressions/{entry['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert not_admin.status_code == 403
    lifted = await stack.gateway.delete(
        f"/api/v1/suppressions/{entry['id']}", headers=stack.as_(ACME_ADMIN_TOKEN)
    )
    assert lifted.status_code == 204
    assert await suppressions_of(stack, ACME_TOKEN, email) == []


async def projected(stack: Stack, mongodb_uri: str, candidate_id: str) -> None:
    """Waits until campaigns' recipient projection holds the candidate."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        recipients = mongo[stack.settings["campaigns"].database_name]["recipients"]

        async def known() -> bool:
            return await recipients.count_documents({"candidate_id": candidate_id}) == 1

        await eventually(known, timeout=30, message="campaigns did not project the candidate")
    finally:
        await mongo.close()


async def test_suppressions_name_their_candidate_export_as_csv_and_keep_what_was_lifted(
    stack: Stack, mongodb_uri: str
) -> None:
    admin = stack.as_(ACME_ADMIN_TOKEN)
    ayse_email = f"{unique('ayse')}@example.org"
    created = await stack.gateway.post(
        "/api/v1/candidates",
        headers=admin,
        json={"first_name": "Ayşe", "last_name": "Kaya", "emails": [ayse_email]},
    )
    assert created.status_code == 201, created.text
    ayse = str(created.json()["id"])
    # An address suppressed by hand before its person was on file names nobody...
    early_email = f"{unique('early')}@example.org"
    early = await stack.gateway.post(
        "/api/v1/suppressions", json={"email": early_email}, headers=admin
    )
    assert early.status_code == 201, early.text
    assert early.json()["candidate_id"] is None
    late = await candidate(stack, ACME_ADMIN_TOKEN, unique("t"), early_email)
    await projected(stack, mongodb_uri, ayse)
    await projected(stack, mongodb_uri, late)

    # A hand-made entry for a known candidate's address names them.
    added = await stack.gateway.post(
        "/api/v1/suppressions",
        json={"email": ayse_email.upper(), "note": "=asked by phone"},
        headers=admin,
    )
    assert added.status_code == 201, added.text
    entry = added.json()
    assert (entry["candidate_id"], entry["candidate_name"]) == (ayse, "Ayşe Kaya")
    [listed] = await suppressions_of(stack, ACME_TOKEN, ayse_email)
    assert (listed["candidate_id"], listed["candidate_name"]) == (ayse, "Ayşe Kaya")

    # A candidate's entries: those naming them, and those of their addresses naming nobody.
    async def of_candidate(candidate_id: str) -> list[str]:
        response = await stack.gateway.get(
            "/api/v1/suppressions",
            params={"candidate_id": candidate_id},
            headers=stack.as_(ACME_TOKEN),
        )
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await of_candidate(ayse) == [entry["id"]]
    assert await of_candidate(late) == [early.json()["id"]]
    assert await of_candidate(unique("nobody")) == []

    # The export: the list's filters, Excel's separator, names but never the address.
    exported = await stack.gateway.get(
        "/api/v1/suppressions.csv",
        params={"email": ayse_email, "separator": "semicolon"},
        headers=stack.as_(ACME_TOKEN),
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    assert "suppressions.csv" in exported.headers["content-disposition"]
    text = exported.content.decode("utf-8")
    assert text.startswith("\ufeffid;listed_at;reason;source;candidate_id;candidate_name;")
    rows = text.removeprefix("\ufeff").splitlines()
    assert len(rows) == 2
    assert rows[1].startswith(f"{entry['id']};")
    assert ";manual;user:" in rows[1]
    assert f";{ayse};Ayşe Kaya;'=asked by phone;" in rows[1]  # a formula is neutralised
    assert ayse_email not in text
    # Notes Excel would read as a date and as a number are kept text.
    for note in ("1-9", "007"):
        noted = await stack.gateway.post(
            "/api/v1/suppressions",
            json={"email": f"{unique('noted')}@example.org", "note": note},
            headers=admin,
        )
        assert noted.status_code == 201, noted.text
    everything = await stack.gateway.get(
        "/api/v1/suppressions.csv", params={"reason": "manual"}, headers=admin
    )
    assert entry["id"] in everything.text
    assert early.json()["id"] in everything.text
    assert ",,'1-9," in everything.text
    assert ",,'007," in everything.text
    foreign = await stack.gateway.get("/api/v1/suppressions.csv", headers=stack.as_(GLOBEX_TOKEN))
    assert foreign.status_code == 200
    assert entry["id"] not in foreign.text
    misspelt = await stack.gateway.get(
        "/api/v1/suppressions.csv", params={"emial": ayse_email}, headers=admin
    )
    assert misspelt.status_code == 422

    # Lifting keeps what was lifted: the audit log's id still says what it was.
    lifted = await stack.gateway.delete(f"/api/v1/suppressions/{entry['id']}", headers=admin)
    assert lifted.status_code == 204
    request_id = lifted.headers["x-request-id"]
    assert await suppressions_of(stack, ACME_TOKEN, ayse_email) == []
    assert await of_candidate(ayse) == []
    kept = await stack.gateway.get(
        f"/api/v1/suppressions/{entry['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert kept.status_code == 200, kept.text
    record = kept.json()
    assert {k: record[k] for k in ("reason", "candidate_id", "candidate_name", "created_at")} == {
        "reason": "manual",
        "candidate_id": ayse,
        "candidate_name": "Ayşe Kaya",
        "created_at": entry["created_at"],
    }
    assert record["lifted_at"] is not None
    assert record["lifted_by"].startswith("user:")
    again = await stack.gateway.delete(f"/api/v1/suppressions/{entry['id']}", headers=admin)
    assert again.status_code == 404
    assert (
        await stack.gateway.get(
            f"/api/v1/suppressions/{entry['id']}", headers=stack.as_(GLOBEX_TOKEN)
        )
    ).status_code == 404

    async def audited() -> bool:
        response = await stack.gateway.get("/api/v1/audit", params={"limit": 200}, headers=admin)
        return any(
            item["request_id"] == request_id and item["resource"] == {"suppression_id": entry["id"]}
            for item in response.json()["items"]
        )

    await eventually(audited, timeout=15, message="the lift is not in the audit log")


async def test_unsubscribed_and_erased_addresses_get_no_mail(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    tag = await nurture(stack, ACME_TOKEN)
    unsubscribed = f"{unique('unsub')}@example.org"
    first = await candidate(stack, ACME_TOKEN, tag, unsubscribed)
    [sent] = await messages_of(stack, ACME_TOKEN, first)
    assert sent["status"] == "sent"
    withdrawn = ConsentChanged(
        candidate_id=first,
        purpose="marketing",
        status="withdrawn",
        lawful_basis="consent",
        source="unsubscribe_link",
        marketing_consent=False,
        message_id=sent["id"],
    )
    await publish(kafka_bootstrap_servers, CONSENT_CHANGED, stack.acme, first, withdrawn)

    async def listed() -> bool:
        return [s["reason"] for s in await suppressions_of(stack, ACME_TOKEN, unsubscribed)] == [
            "unsubscribed"
        ]

    await eventually(listed, timeout=30, message="the withdrawal did not suppress the address")
    [entry] = await suppressions_of(stack, ACME_TOKEN, unsubscribed)
    assert entry["message_id"] == sent["id"]
    assert await suppressions_of(stack, GLOBEX_TOKEN, unsubscribed) == []

    erased_email = f"{unique('erased')}@example.org"
    erased = CandidateErased(
        candidate_id=unique("gone"),
        email_sha256=[hashlib.sha256(erased_email.encode()).hexdigest()],
        erased_at=datetime.now(UTC),
    )
    await publish(
        kafka_bootstrap_servers, CANDIDATE_ERASED, stack.acme, erased.candidate_id, erased
    )

    async def erased_listed() -> bool:
        return bool(await suppressions_of(stack, ACME_TOKEN, erased_email))

    await eventually(erased_listed, timeout=30, message="the erasure did not suppress the address")

    # A new sequence's segment takes in the unsubscribed candidate, and a new candidate with
    # the erased address appears (consent given): neither gets anything. The unsubscribed one
    # is not even enrolled (the sequence exits on `unsubscribed`, a state campaigns keeps), so
    # no second message is made for them; the erased address's message is suppressed.
    second_tag = await nurture(stack, ACME_TOKEN)
    await retag(stack, ACME_TOKEN, first, [tag, second_tag])
    returned = await candidate(stack, ACME_TOKEN, second_tag, erased_email)
    [to_erased] = await messages_of(stack, ACME_TOKEN, returned)
    assert to_erased["suppression_reason"] == "erased"
    assert [m["id"] for m in await messages_of(stack, ACME_TOKEN, first)] == [sent["id"]]
    assert len(smtp_sink.messages_to(unsubscribed)) == 1
    assert smtp_sink.messages_to(erased_email) == []

    # The same address in Globex is unaffected by Acme's list.
    globex_tag = await nurture(stack, GLOBEX_TOKEN)
    globex = await candidate(stack, GLOBEX_TOKEN, globex_tag, erased_email)
    [globex_message] = await messages_of(stack, GLOBEX_TOKEN, globex)
    assert globex_message["status"] == "sent"


async def test_dsn_and_webhook_bounces_emit_message_bounced_and_suppress(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    tag = await nurture(stack, ACME_TOKEN)
    hard_email = f"{unique('hard')}@example.org"
    hard = await candidate(stack, ACME_TOKEN, tag, hard_email)
    [hard_message] = await messages_of(stack, ACME_TOKEN, hard)
    urls = await inbound_urls(stack, ACME_ADMIN_TOKEN)
    assert urls["dsn_url"].startswith(f"{stack.gateway_url}/public/v1/mail/")
    not_admin = await stack.gateway.get(
        "/api/v1/settings/inbound-mail", headers=stack.as_(ACME_TOKEN)
    )
    assert not_admin.status_code == 403

    async with httpx.AsyncClient(timeout=30) as mta:
        # Globex's inbound URL cannot bounce Acme's message.
        foreign = await mta.post(
            globex_dsn_url(stack), content=dsn_for(hard_message["id"], hard_email)
        )
        assert foreign.status_code == 200, foreign.text
        assert foreign.json()["outcome"] == "unmatched"
        forged = await mta.post(
            urls["dsn_url"].replace("/mail/", "/mail/x"), content=dsn_for("x", hard_email)
        )
        assert forged.status_code == 404
        garbage = await mta.post(urls["dsn_url"], content=b"Subject: hi\r\n\r\nnot a report")
        assert garbage.status_code == 422
        assert garbage.json()["errors"][0]["field"] == "body"

        bounced = await mta.post(
            urls["dsn_url"],
            content=dsn_for(hard_message["id"], hard_email),
            headers={"Content-Type": "multipart/report"},
        )
        assert bounced.status_code == 200, bounced.text
        assert bounced.json() == {
            "outcome": "bounced",
            "message_id": hard_message["id"],
            "bounce_type": "hard",
            "suppressed": True,
            "detail": None,
        }
        repeated = await mta.post(urls["dsn_url"], content=dsn_for(hard_message["id"], hard_email))
        # Still listed: `suppressed` says where the address stands after the report.
        assert (repeated.json()["outcome"], repeated.json()["suppressed"]) == ("duplicate", True)

        # Soft bounces count; the second one suppresses with the tenant's limit of 2.
        admin = stack.as_(ACME_ADMIN_TOKEN)
        policy = await stack.gateway.put(
            "/api/v1/settings/contact-policy",
            json=PERMISSIVE | {"soft_bounce_limit": 2},
            headers=admin,
        )
        assert policy.status_code == 200, policy.text
        soft_email = f"{unique('soft')}@example.org"
        soft = await candidate(stack, ACME_TOKEN, tag, soft_email)
        [soft_message] = await messages_of(stack, ACME_TOKEN, soft)
        webhook = {
            "RecordType": "Bounce",
            "ID": 42,
            "Type": "SoftBounce",
            "TypeCode": 4096,
            "Email": soft_email,
            "Description": "The server could not temporarily deliver your message",
            "Details": "smtp;452 4.2.2 mailbox full",
            "Metadata": {"crm-message-id": soft_message["id"]},
        }
        first_soft = await mta.post(urls["postmark_bounce_url"], json=webhook)
        assert first_soft.json()["suppressed"] is False
        assert await suppressions_of(stack, ACME_TOKEN, soft_email) == []
        bad_webhook = await mta.post(urls["postmark_bounce_url"], json={"Email": soft_email})
        assert bad_webhook.status_code == 422

    events = await read_events(
        kafka_bootstrap_servers,
        MESSAGE_BOUNCED.name,
        where=lambda e: e["data"]["message_id"] in (hard_message["id"], soft_message["id"]),
        count=2,
    )
    by_message = {e["data"]["message_id"]: e for e in events}
    assert by_message[hard_message["id"]]["tenant_id"] == stack.acme
    assert by_message[hard_message["id"]]["data"]["bounce_type"] == "hard"
    assert by_message[hard_message["id"]]["data"]["source"] == "dsn"
    assert by_message[soft_message["id"]]["data"]["source"] == "postmark"
    [hard_entry] = await suppressions_of(stack, ACME_TOKEN, hard_email)
    assert (hard_entry["reason"], hard_entry["message_id"]) == ("bounced", hard_message["id"])
    shown = await stack.gateway.get(
        f"/api/v1/messages/{hard_message['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert shown.json()["bounce_type"] == "hard"

    # A second soft bounce of the address (another message to it) suppresses it.
    second_tag = await nurture(stack, ACME_TOKEN)
    await retag(stack, ACME_TOKEN, soft, [tag, second_tag])
    [second_soft] = [
        m
        for m in await messages_of(stack, ACME_TOKEN, soft, count=2)
        if m["id"] != soft_message["id"]
    ]
    async with httpx.AsyncClient(timeout=30) as mta:
        webhook["Metadata"] = {"crm-message-id": second_soft["id"]}
        second = await mta.post(urls["postmark_bounce_url"], json=webhook)
    assert second.json()["suppressed"] is True

    # Nothing more goes to the address, even from a new campaign.
    later_tag = await nurture(stack, ACME_TOKEN)
    await retag(stack, ACME_TOKEN, hard, [tag, later_tag])
    [blocked] = [
        m
        for m in await messages_of(stack, ACME_TOKEN, hard, count=2)
        if m["id"] != hard_message["id"]
    ]
    assert blocked["suppression_reason"] == "bounced"
    assert len(smtp_sink.messages_to(hard_email)) == 1


def globex_dsn_url(stack: Stack) -> str:
    """Globex's DSN URL (the stack has no Globex admin to ask, so it is signed as campaigns
    signs it)."""
    links = SignedLinks(stack.settings["campaigns"].link_signing_secret.get_secret_value())
    token = links.token(LinkClaim(INBOUND_PURPOSE, stack.globex, stack.globex))
    return f"{stack.gateway_url}/public/v1/mail/{token}/bounces"


async def test_a_reply_emits_message_replied(stack: Stack, kafka_bootstrap_servers: str) -> None:
    tag = await nurture(stack, ACME_TOKEN)
    candidate_id = await candidate(stack, ACME_TOKEN, tag, f"{unique('reply')}@example.org")
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    urls = await inbound_urls(stack, ACME_ADMIN_TOKEN)
    reply = {
        "From": "ada@example.org",
        "FromFull": {"Email": "ada@example.org", "Name": "Ada", "MailboxHash": ""},
        "Subject": "Re: Hello Ada",
        "MessageID": str(uuid.uuid4()),
        "Date": "Thu, 5 Apr 2026 16:59:01 +0200",
        "TextBody": "Yes, interested!\n\nOn Thu, 5 Apr 2026, Talent wrote:\n> Hello Ada",
        "Headers": [
            {"Name": "In-Reply-To", "Value": f"<{message['id']}@{SENDER_DOMAIN}>"},
            {"Name": "References", "Value": f"<{message['id']}@{SENDER_DOMAIN}>"},
        ],
    }
    async with httpx.AsyncClient(timeout=30) as provider:
        out_of_office = await provider.post(
            urls["postmark_inbound_url"],
            json=reply
            | {"Headers": [*reply["Headers"], {"Name": "Auto-Submitted", "Value": "auto-replied"}]},
        )
        assert out_of_office.json()["outcome"] == "ignored"
        replied = await provider.post(urls["postmark_inbound_url"], json=reply)
        assert replied.status_code == 200, replied.text
        assert replied.json()["outcome"] == "replied"
        retried = await provider.post(urls["postmark_inbound_url"], json=reply)
        assert retried.json()["outcome"] == "duplicate"
        unknown = await provider.post(
            urls["postmark_inbound_url"],
            json=reply | {"Headers": [{"Name": "In-Reply-To", "Value": "<nope@elsewhere.org>"}]},
        )
        assert unknown.json()["outcome"] == "unmatched"
        invalid = await provider.post(urls["postmark_inbound_url"], json={"Subject": "x"})
        assert invalid.status_code == 422
    [event] = await read_events(
        kafka_bootstrap_servers,
        MESSAGE_REPLIED.name,
        where=lambda e: e["data"]["message_id"] == message["id"],
        count=1,
    )
    assert event["tenant_id"] == stack.acme
    assert event["data"]["candidate_id"] == candidate_id
    assert event["data"]["sequence_id"] == message["sequence_id"]
    assert event["data"]["enrolment_id"] == message["enrolment_id"]
    # The sequence step that sent it is named in `message.sent` (analytics' per-step report).
    [sent] = await read_events(
        kafka_bootstrap_servers,
        MESSAGE_SENT.name,
        where=lambda e: e["data"]["message_id"] == message["id"],
        count=1,
    )
    assert (sent["data"]["step_index"], sent["data"]["step_label"]) == (0, None)
    shown = await stack.gateway.get(
        f"/api/v1/messages/{message['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert shown.json()["replied_at"] is not None
    # The reply's excerpt on the message, and the recruiter told of it (once, retry or not).
    assert [r["excerpt"] for r in shown.json()["replies"]] == ["Yes, interested!"]
    listed = await stack.gateway.get(
        "/api/v1/notifications", params={"limit": 200}, headers=stack.as_(ACME_TOKEN)
    )
    told = [n for n in listed.json()["items"] if n.get("message_id") == message["id"]]
    assert [(n["kind"], n["body"]) for n in told] == [("reply", "Yes, interested!")]
    assert told[0]["title"].endswith(f"replied to '{message['subject']}'")


async def test_a_reply_posted_as_received_emits_message_replied(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    """No Postmark: the mail server that receives replies posts each raw (an MTA's pipe), or
    SendGrid's Inbound Parse posts it in a form's `email` field; the same reply counts once."""
    tag = await nurture(stack, ACME_TOKEN)
    candidate_id = await candidate(stack, ACME_TOKEN, tag, f"{unique('raw')}@example.org")
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    urls = await inbound_urls(stack, ACME_ADMIN_TOKEN)
    ours = f"<{message['id']}@{SENDER_DOMAIN}>"
    raw = (
        "From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>\r\n"
        "Subject: Re: Hello\r\n"
        f"Message-ID: <{uuid.uuid4()}@mail.example.org>\r\n"
        f"In-Reply-To: {ours}\r\nReferences: {ours}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Gerne, nächste Woche?\r\n\r\nOn Thu, Talent wrote:\r\n> Hello\r\n"
    ).encode()
    form_boundary = "xYzZY"
    form = (
        f'--{form_boundary}\r\nContent-Disposition: form-data; name="email"\r\n\r\n'.encode()
        + raw
        + f"\r\n--{form_boundary}--\r\n".encode()
    )
    async with httpx.AsyncClient(timeout=30) as server:
        posted = await server.post(
            urls["replies_url"], content=raw, headers={"Content-Type": "message/rfc822"}
        )
        assert posted.status_code == 200, posted.text
        assert posted.json()["outcome"] == "replied"
        # The same reply through SendGrid's form: the same Message-ID, so a duplicate.
        again = await server.post(
            urls["replies_url"],
            content=form,
            headers={"Content-Type": f"multipart/form-data; boundary={form_boundary}"},
        )
        assert again.status_code == 200, again.text
        assert again.json()["outcome"] == "duplicate"
        not_mail = await server.post(urls["replies_url"], content=b'{"Subject": "x"}')
        assert not_mail.status_code == 422
    [event] = await read_events(
        kafka_bootstrap_servers,
        MESSAGE_REPLIED.name,
        where=lambda e: e["data"]["message_id"] == message["id"],
        count=1,
    )
    assert event["data"]["candidate_id"] == candidate_id
    shown = await stack.gateway.get(
        f"/api/v1/messages/{message['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert [r["excerpt"] for r in shown.json()["replies"]] == ["Gerne, nächste Woche?"]


async def test_machine_opens_and_clicks_are_flagged_and_not_counted(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str, mongodb_uri: str
) -> None:
    tag = await nurture(stack, ACME_TOKEN)
    email = f"{unique('bot')}@example.org"
    candidate_id = await candidate(stack, ACME_TOKEN, tag, email)
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    [mail] = smtp_sink.messages_to(email)
    html = mail.parsed().get_body(("html",))
    assert html is not None
    content = html.get_content()
    pixel = content.split('src="', 1)[1].split('"', 1)[0]
    link = content.split('href="', 1)[1].split('"', 1)[0]
    assert "/t/c/" in link
    async with httpx.AsyncClient() as client:
        scanner = {"User-Agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)"}
        assert (await client.get(pixel, headers=scanner)).status_code == 200
        assert (await client.get(link, headers=scanner)).status_code == 302
        apple = await client.get(pixel, headers={"User-Agent": "Mozilla/5.0"})
        assert apple.status_code == 200
    opened = await read_events(
        kafka_bootstrap_servers,
        MESSAGE_OPENED.name,
        where=lambda e: e["data"]["message_id"] == message["id"],
        count=2,
    )
    assert [e["data"]["automated"] for e in opened] == [True, True]
    [clicked] = await read_events(
        kafka_bootstrap_servers,
        MESSAGE_CLICKED.name,
        where=lambda e: e["data"]["message_id"] == message["id"],
        count=1,
    )
    assert clicked["data"]["automated"] is True

    # analytics applied those events and counted none of them.
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        markers = mongo[stack.analytics_settings.database_name]["processed_events"]
        expected = [f"on_message_opened:{e['id']}" for e in opened]
        expected.append(f"on_message_clicked:{clicked['id']}")

        async def applied() -> bool:
            return await markers.count_documents({"_id": {"$in": expected}}) == len(expected)

        await eventually(applied, timeout=30, message="analytics did not apply the events")
    finally:
        await mongo.close()
    summary = await stack.gateway.get("/api/v1/analytics/summary", headers=stack.as_(ACME_TOKEN))
    shown = await stack.gateway.get(
        f"/api/v1/messages/{message['id']}", headers=stack.as_(ACME_TOKEN)
    )
    assert (shown.json()["opens"], shown.json()["automated_opens"]) == (0, 2)
    assert (shown.json()["clicks"], shown.json()["automated_clicks"]) == (0, 1)
    before_person = summary.json()

    async with httpx.AsyncClient() as reader:
        assert (await reader.get(pixel, headers={"User-Agent": PERSON})).status_code == 200

    async def person_counted() -> bool:
        response = await stack.gateway.get(
            "/api/v1/analytics/summary", headers=stack.as_(ACME_TOKEN)
        )
        return bool(response.json()["messages_opened"] == before_person["messages_opened"] + 1)

    await eventually(person_counted, timeout=30, message="the person's open was not counted")


async def test_frequency_cap_across_sequences_defers_or_skips_with_the_reason(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    admin = stack.as_(ACME_ADMIN_TOKEN)
    cap = PERMISSIVE | {"frequency_cap": {"max_messages": 1, "period_days": 7}}
    bad = await stack.gateway.put(
        "/api/v1/settings/contact-policy",
        json={"frequency_cap": {"max_messages": 0, "period_days": 7}, "quiet_hours": "late"},
        headers=admin,
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert any("max_messages" in f for f in fields), fields
    assert any("quiet_hours" in f for f in fields), fields
    recruiter = await stack.gateway.put(
        "/api/v1/settings/contact-policy", json=cap, headers=stack.as_(ACME_TOKEN)
    )
    assert recruiter.status_code == 403
    put = await stack.gateway.put("/api/v1/settings/contact-policy", json=cap, headers=admin)
    assert put.status_code == 200, put.text

    # Two sequences mail the same candidate at once: one message goes, one waits a week.
    tag = await nurture(stack, ACME_TOKEN, sequences=2)
    email = f"{unique('capped')}@example.org"
    candidate_id = await candidate(stack, ACME_TOKEN, tag, email)
    messages = await messages_of(stack, ACME_TOKEN, candidate_id, count=2)
    by_status = {m["status"]: m for m in messages}
    assert set(by_status) == {"sent", "queued"}, messages
    deferred = by_status["queued"]
    assert deferred["policy_reason"] == "frequency_cap"
    assert deferred["deferrals"] >= 1
    until = datetime.fromisoformat(deferred["deferred_until"])
    sent_at = datetime.fromisoformat(by_status["sent"]["sent_at"])
    assert timedelta(days=6, hours=23) < until - sent_at <= timedelta(days=7, seconds=5)
    assert len(smtp_sink.messages_to(email)) == 1

    # Skipping instead: the next capped message is suppressed for good, and both are counted.
    skip = cap | {"on_limit": "skip"}
    assert (
        await stack.gateway.put("/api/v1/settings/contact-policy", json=skip, headers=admin)
    ).status_code == 200
    other_tag = await nurture(stack, ACME_TOKEN)
    await retag(stack, ACME_TOKEN, candidate_id, [tag, other_tag])
    messages = await messages_of(stack, ACME_TOKEN, candidate_id, count=3)
    [skipped] = [m for m in messages if m["status"] == "suppressed"]
    assert skipped["suppression_reason"] == "frequency_cap"
    policy = await stack.gateway.get("/api/v1/settings/contact-policy", headers=admin)
    assert policy.json()["outcomes"]["defer.frequency_cap"] >= 1
    assert policy.json()["outcomes"]["skip.frequency_cap"] == 1
    assert len(smtp_sink.messages_to(email)) == 1


async def test_quiet_hours_defer_marketing_mail_to_their_end(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    now = datetime.now(UTC)
    start = (now - timedelta(hours=1)).strftime("%H:%M")
    end = (now + timedelta(hours=2)).strftime("%H:%M")
    policy = PERMISSIVE | {"quiet_hours": {"start": start, "end": end}}
    put = await stack.gateway.put(
        "/api/v1/settings/contact-policy", json=policy, headers=stack.as_(ACME_ADMIN_TOKEN)
    )
    assert put.status_code == 200, put.text
    tag = await nurture(stack, ACME_TOKEN)
    email = f"{unique('night')}@example.org"
    candidate_id = await candidate(stack, ACME_TOKEN, tag, email)
    [message] = await messages_of(stack, ACME_TOKEN, candidate_id)
    assert (message["status"], message["policy_reason"]) == ("queued", "quiet_hours")
    until = datetime.fromisoformat(message["deferred_until"])
    assert until.strftime("%H:%M") == end
    assert timedelta(hours=1) < until - now <= timedelta(hours=2, minutes=1)
    assert smtp_sink.messages_to(email) == []

    # Globex has no quiet hours: the same moment is fine there.
    globex_tag = await nurture(stack, GLOBEX_TOKEN)
    globex = await candidate(stack, GLOBEX_TOKEN, globex_tag, f"{unique('day')}@example.org")
    [globex_message] = await messages_of(stack, GLOBEX_TOKEN, globex)
    assert globex_message["status"] == "sent"


async def test_two_sends_for_one_candidate_at_once_cannot_both_take_the_last_slot(
    stack: Stack, mongodb_uri: str
) -> None:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        database = mongo[stack.settings["campaigns"].database_name]
        ledger = ContactLedger(database, stack.acme)
        policy = ContactPolicy(frequency_cap=FrequencyCap(max_messages=1, period_days=7))
        now = datetime.now(UTC)
        candidate_id = unique("racer")

        def rule(sends: list[datetime]) -> Any:
            return decide(policy, now=now, time_zone=None, recent_sends=sends)

        decisions = await asyncio.gather(
            *(ledger.reserve(candidate_id, f"m{i}", rule, now=now) for i in range(6))
        )
        assert sorted(d.verdict for d in decisions) == [Verdict.ALLOW] + [Verdict.DEFER] * 5
        assert len(await ledger.sends(candidate_id)) == 1
        other_tenant = ContactLedger(database, stack.globex)
        assert await other_tenant.sends(candidate_id) == []
    finally:
        await mongo.close()

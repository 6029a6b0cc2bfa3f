"""The product's core journey through the gateway, on the real broker, database and SMTP sink."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from conftest import SmtpSink

from crm_devstack.greenhouse import GreenhouseWebhooks, new_candidate_application
from helpers import eventually, unique
from integration.flow.conftest import ACME_ADMIN_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration

CAREERS_URL = "https://careers.example.org/jobs/platform-engineer?utm_source=crm"


async def poll_json(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], until: Any, message: str
) -> Any:
    found: Any = None

    async def condition() -> bool:
        nonlocal found
        response = await client.get(path, headers=headers)
        found = response.json() if response.status_code == 200 else None
        return found is not None and bool(until(found))

    await eventually(condition, timeout=30, message=message)
    return found


async def test_the_core_journey(stack: Stack, smtp_sink: SmtpSink) -> None:
    gateway, acme = stack.gateway, stack.as_(ACME_TOKEN)
    email = f"{unique('ada')}@example.org"

    template = await gateway.post(
        "/api/v1/templates",
        headers=acme,
        json={
            "name": "Welcome to the talent community",
            "subject": "{{ candidate.first_name | default('Hello') }}, platform roles at Acme",
            "html": "<html><body><p>Hi {{ candidate.first_name | default('there') }},</p>"
            f'<p><a href="{CAREERS_URL}">See the role</a></p></body></html>',
            "text": "Hi {{ candidate.first_name | default('there') }}, see " + CAREERS_URL,
        },
    )
    assert template.status_code == 201, template.text
    segment = await gateway.post(
        "/api/v1/segments",
        headers=acme,
        json={
            "name": "Python in Berlin",
            "rule": {
                "all": [
                    {"field": "skills", "op": "equals", "value": "python"},
                    {"field": "location", "op": "equals", "value": "Berlin"},
                ]
            },
        },
    )
    assert segment.status_code == 201, segment.text
    sequence = await gateway.post(
        "/api/v1/sequences",
        headers=acme,
        json={
            "name": "Berlin Python nurture",
            "trigger": {"type": "segment_entered", "segment_id": segment.json()["id"]},
            "steps": [
                {"type": "send", "template_id": template.json()["id"]},
                {"type": "wait", "days": 14},
            ],
        },
    )
    assert sequence.status_code == 201, sequence.text

    # 1-2. The candidate is created after the segment and enters it without any rebuild.
    created = await gateway.post(
        "/api/v1/candidates",
        headers=acme,
        json={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "emails": [email],
            "skills": ["Python"],
            "location": "Berlin",
            "marketing_consent": True,
        },
    )
    assert created.status_code == 201, created.text
    candidate_id = created.json()["id"]
    members = await gateway.get(f"/api/v1/segments/{segment.json()['id']}/members", headers=acme)
    assert [m["id"] for m in members.json()["items"]] == [candidate_id]

    # 3. campaigns enrols her, renders the template and sends it over SMTP.
    async def mailed() -> bool:
        return bool(smtp_sink.messages_to(email))

    await eventually(mailed, timeout=30, message="no mail reached the SMTP sink")
    [mail] = smtp_sink.messages_to(email)
    assert mail.subject == "Ada, platform roles at Acme"
    html = mail.parsed().get_body(("html",))
    assert html is not None
    body = html.get_content()
    pixel = re.search(r'src="([^"]+/t/o/[^"]+)"', body)
    link = re.search(r'href="([^"]+/t/c/[^"]+)"', body)
    assert pixel, body
    assert link, body
    assert CAREERS_URL not in body  # every link goes through the tracker
    messages = await poll_json(
        gateway,
        f"/api/v1/messages?candidate_id={candidate_id}",
        acme,
        lambda page: page["items"] and page["items"][0]["status"] == "sent",
        "the message was not marked sent",
    )
    message_id = messages["items"][0]["id"]

    # 4. Pixel and link through the gateway's public endpoints, no login.
    async with httpx.AsyncClient(headers={"User-Agent": "Mozilla/5.0 (Macintosh)"}) as reader:
        opened = await reader.get(pixel.group(1))
        assert opened.status_code == 200
        assert opened.headers["content-type"] == "image/gif"
        clicked = await reader.get(link.group(1), follow_redirects=False)
        assert clicked.status_code == 302
        assert clicked.headers["location"] == CAREERS_URL
        forged = await reader.get(link.group(1)[:-4] + "AAAA", follow_redirects=False)
        assert forged.status_code == 404
        assert forged.headers["content-type"] == "application/problem+json"
    await poll_json(
        gateway,
        f"/api/v1/messages/{message_id}",
        acme,
        lambda m: m["opens"] == 1 and m["clicks"] == 1,
        "engagement not recorded",
    )

    # 5. A public registration with her address (other case) is matched to her, not duplicated.
    event = await gateway.post(
        "/api/v1/events",
        headers=acme,
        json={
            "name": "Berlin Python Meetup",
            "kind": "meetup",
            "starts_at": "2026-12-10T18:00:00+01:00",
            "location": "Berlin",
            "capacity": 80,
        },
    )
    assert event.status_code == 201, event.text
    event_id = event.json()["id"]

    async def registered_and_matched() -> bool:
        registrations = await gateway.get(f"/api/v1/events/{event_id}/registrations", headers=acme)
        return bool(
            registrations.json() and registrations.json()[0]["candidate_id"] == candidate_id
        )

    registration = await gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={"first_name": "Ada", "last_name": "Lovelace", "email": email.upper()},
    )
    assert registration.status_code == 201, registration.text
    await eventually(registered_and_matched, message="the registrant was not matched by email")
    again = await gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={"first_name": "Ada", "last_name": "L.", "email": email},
    )
    assert again.status_code == 200
    assert again.json()["id"] == registration.json()["id"]

    # 6. The ATS reports her application; the delivery is verified, deduplicated, and ends
    #    her enrolment.
    connection = await gateway.post(
        "/api/v1/ats/connections",
        headers=stack.as_(ACME_ADMIN_TOKEN),
        json={"provider": "greenhouse", "name": "Acme Greenhouse"},
    )
    assert connection.status_code == 201, connection.text
    path = connection.json()["webhook_url"].removeprefix(stack.gateway_url)
    greenhouse = GreenhouseWebhooks(url=path, secret=connection.json()["webhook_secret"])
    application = new_candidate_application(
        application_id=69306314,
        candidate_id=57683957,
        email=email,
        first_name="Ada",
        last_name="Lovelace",
        job_name="Platform Engineer",
    )
    accepted = await greenhouse.deliver(gateway, application, delivery_id="delivery-1")
    assert accepted.status_code == 202, accepted.text
    replayed = await greenhouse.deliver(gateway, application, delivery_id="delivery-1")
    assert replayed.json()["status"] == "duplicate"
    forged_webhook = await greenhouse.deliver(gateway, application, signature="sha256 " + "0" * 64)
    assert forged_webhook.status_code == 401
    enrolments = await poll_json(
        gateway,
        f"/api/v1/sequences/{sequence.json()['id']}/enrolments",
        acme,
        lambda items: items and items[0]["status"] == "exited",
        "the enrolment did not end",
    )
    assert enrolments[0]["exit_reason"] == "applied"

    # 7. Analytics: this tenant saw one of everything; another tenant sees nothing.
    expected = {
        "candidates": 1,
        "messages_sent": 1,
        "messages_opened": 1,
        "messages_clicked": 1,
        "event_registrations": 1,
        "applications": 1,
    }
    await poll_json(
        gateway,
        "/api/v1/analytics/summary",
        acme,
        lambda s: s == expected,
        f"analytics did not reach {expected}",
    )
    other = await gateway.get("/api/v1/analytics/summary", headers=stack.as_(GLOBEX_TOKEN))
    assert set(other.json().values()) == {0}


async def test_a_new_sequence_enrols_the_segment_s_current_members_with_consent_enforced(
    stack: Stack, smtp_sink: SmtpSink
) -> None:
    gateway, globex = stack.gateway, stack.as_(GLOBEX_TOKEN)
    tag = unique("existing")
    emails = {consent: f"{tag}-{str(consent).lower()}@example.org" for consent in (True, False)}
    for consent, email in emails.items():
        response = await gateway.post(
            "/api/v1/candidates",
            headers=globex,
            json={
                "first_name": "Grace",
                "last_name": str(consent),
                "emails": [email],
                "tags": [tag],
                "marketing_consent": consent,
            },
        )
        assert response.status_code == 201
    segment = await gateway.post(
        "/api/v1/segments",
        headers=globex,
        json={"name": tag, "rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
    )
    template = await gateway.post(
        "/api/v1/templates",
        headers=globex,
        json={"name": "hello", "subject": "Hello", "html": "<p>Hello</p>", "text": "Hello"},
    )

    async def members_projected() -> bool:
        # campaigns learns membership from segment.entered; wait until both arrived.
        probe = await gateway.post(
            "/api/v1/segments/preview",
            headers=globex,
            json={"rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
        )
        return bool(probe.json()["count"] == 2)

    await eventually(members_projected, message="segment members not there")
    await eventually(
        lambda: _segment_ready(gateway, globex, segment.json()["id"]),
        message="segment not evaluated",
    )
    sequence = await gateway.post(
        "/api/v1/sequences",
        headers=globex,
        json={
            "name": tag,
            "trigger": {"segment_id": segment.json()["id"]},
            "steps": [{"type": "send", "template_id": template.json()["id"]}],
        },
    )
    assert sequence.status_code == 201, sequence.text

    async def both_handled() -> bool:
        page = (await gateway.get("/api/v1/messages?limit=200", headers=globex)).json()
        mine = [m for m in page["items"] if m["to_email"] in emails.values()]
        return len(mine) == 2 and all(m["status"] != "queued" for m in mine)

    await eventually(both_handled, timeout=30, message="the current members were not messaged")
    page = (await gateway.get("/api/v1/messages?limit=200", headers=globex)).json()
    status = {m["to_email"]: (m["status"], m["suppression_reason"]) for m in page["items"]}
    assert status[emails[True]] == ("sent", None)
    assert status[emails[False]] == ("suppressed", "no_marketing_consent")
    assert smtp_sink.messages_to(emails[True])
    assert not smtp_sink.messages_to(emails[False])


async def _segment_ready(
    gateway: httpx.AsyncClient, headers: dict[str, str], segment_id: str
) -> bool:
    response = await gateway.get(f"/api/v1/segments/{segment_id}", headers=headers)
    return bool(response.json()["status"] == "ready")

"""The product's core journey, driven through the gateway the way its users would.

Both the integration tier (services in-process) and the e2e tier (every service its own
process, traces in Zipkin) run it.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from conftest import SmtpSink

from crm_devstack.greenhouse import GreenhouseWebhooks, new_candidate_application
from helpers import eventually, unique

CAREERS_URL = "https://careers.example.org/jobs/platform-engineer?utm_source=crm"


@dataclass(frozen=True)
class JourneyActors:
    """Who takes part: a recruiter, a marketer, an event coordinator and an admin of one
    tenant, a recruiter of another; each does what their role may (crm_shared.permissions)."""

    recruiter: dict[str, str]
    marketer: dict[str, str]
    coordinator: dict[str, str]
    admin: dict[str, str]
    other_tenant: dict[str, str]
    gateway_url: str


@dataclass(frozen=True)
class JourneyResult:
    """What the journey created, for checks a tier adds (such as traces)."""

    candidate_id: str
    message_id: str
    trace_ids: dict[str, str]


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


async def run_core_journey(
    gateway: httpx.AsyncClient, actors: JourneyActors, smtp_sink: SmtpSink
) -> JourneyResult:
    """Runs the journey, asserting each step; raises AssertionError at the first that fails."""
    acme = actors.recruiter
    trace_ids = {
        "create_candidate": new_trace_id(),
        "register": new_trace_id(),
        "webhook": new_trace_id(),
    }
    email = f"{unique('ada')}@example.org"
    # The tenant may hold data already (the e2e stack is shared with the console's tests): the
    # journey's own effect is what it adds to the totals.
    before = (await gateway.get("/api/v1/analytics/summary", headers=acme)).json()

    template = await gateway.post(
        "/api/v1/templates",
        headers=actors.marketer,
        json={
            "name": "Welcome to the talent community",
            "subject": "{{ candidate.first_name | default('Hello') }}, platform roles at Acme",
            # Ada has no company: the optional part is skipped, not an error that stalls her.
            "html": "<html><body><p>Hi {{ candidate.first_name | default('there') }},</p>"
            "{% if candidate.current_company %}<p>Greetings to "
            "{{ candidate.current_company }}.</p>{% endif %}"
            f'<p><a href="{CAREERS_URL}">See the role</a></p>'
            "<p>{{ sender.name }}</p></body></html>",
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
        headers=acme | traced(trace_ids, "create_candidate"),
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
    assert "Greetings to" not in body
    assert "<p>Talent Team</p>" in body
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
        headers=actors.coordinator,
        json={
            "name": "Berlin Python Meetup",
            "kind": "meetup",
            "starts_at": "2030-12-10T18:00:00+01:00",
            "location": "Berlin",
            "capacity": 80,
        },
    )
    assert event.status_code == 201, event.text
    event_id = event.json()["id"]

    async def registered_and_matched() -> bool:
        registrations = await gateway.get(f"/api/v1/events/{event_id}/registrations", headers=acme)
        return bool(
            registrations.json()["items"]
            and registrations.json()["items"][0]["candidate_id"] == candidate_id
        )

    registration = await gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        headers=traced(trace_ids, "register"),
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
        headers=actors.admin,
        json={"provider": "greenhouse", "name": "Acme Greenhouse"},
    )
    assert connection.status_code == 201, connection.text
    path = connection.json()["webhook_url"].removeprefix(actors.gateway_url)
    greenhouse = GreenhouseWebhooks(url=path, secret=connection.json()["webhook_secret"])
    application = new_candidate_application(
        application_id=69306314,
        candidate_id=57683957,
        email=email,
        first_name="Ada",
        last_name="Lovelace",
        job_name="Platform Engineer",
    )
    accepted = await greenhouse.deliver(
        gateway, application, delivery_id="delivery-1", headers=traced(trace_ids, "webhook")
    )
    assert accepted.status_code == 202, accepted.text
    replayed = await greenhouse.deliver(gateway, application, delivery_id="delivery-1")
    assert replayed.json()["status"] == "duplicate"
    forged_webhook = await greenhouse.deliver(gateway, application, signature="sha256 " + "0" * 64)
    assert forged_webhook.status_code == 401
    enrolments = await poll_json(
        gateway,
        f"/api/v1/sequences/{sequence.json()['id']}/enrolments",
        acme,
        lambda page: page["items"] and page["items"][0]["status"] == "exited",
        "the enrolment did not end",
    )
    assert enrolments["items"][0]["exit_reason"] == "applied"

    # 7. Analytics: this tenant saw one more of everything it did (and no hire); another
    # tenant sees nothing.
    expected = {name: int(value) for name, value in before.items()} | {
        name: int(before.get(name, 0)) + 1
        for name in (
            "candidates",
            "messages_sent",
            "messages_opened",
            "messages_clicked",
            "event_registrations",
            "applications",
        )
    }
    await poll_json(
        gateway,
        "/api/v1/analytics/summary",
        acme,
        lambda s: s == expected,
        f"analytics did not reach {expected}",
    )
    other = await gateway.get("/api/v1/analytics/summary", headers=actors.other_tenant)
    assert set(other.json().values()) == {0}

    await run_it_day_to_day(
        gateway,
        acme,
        actors.marketer,
        email,
        candidate_id,
        segment.json()["id"],
        sequence.json()["id"],
    )
    return JourneyResult(candidate_id, message_id, trace_ids)


# Every merge field the template documentation lists, in one template.
EVERY_FIELD = (
    "{{ candidate.first_name }}|{{ candidate.last_name }}|{{ candidate.email }}|"
    "{{ candidate.current_title }}|{{ candidate.current_company }}|{{ candidate.location }}|"
    "{{ sender.name }}|{{ unsubscribe_url }}|{{ preferences_url }}"
)


async def run_it_day_to_day(
    gateway: httpx.AsyncClient,
    acme: dict[str, str],
    marketer: dict[str, str],
    email: str,
    candidate_id: str,
    segment_id: str,
    sequence_id: str,
) -> None:
    """8. What a talent team does on an ordinary day: find a person by e-mail, preview every
    merge field, edit and pause a live sequence, try to delete a segment it uses, import an
    Excel file written on a German Windows."""
    found = await gateway.get("/api/v1/candidates", params={"email": email.upper()}, headers=acme)
    assert [c["id"] for c in found.json()["items"]] == [candidate_id], found.text

    template = await gateway.post(
        "/api/v1/templates",
        headers=marketer,
        json={"name": "Every field", "subject": "Fields", "html": "<p>x</p>", "text": EVERY_FIELD},
    )
    assert template.status_code == 201, template.text
    preview = await gateway.post(
        f"/api/v1/templates/{template.json()['id']}/preview",
        headers=acme,
        json={"candidate_id": candidate_id},
    )
    assert preview.status_code == 200, preview.text
    fields = preview.json()["text"].split("\n")[0].split("|")
    assert fields[:7] == ["Ada", "Lovelace", email, "", "", "Berlin", "Talent Team"]
    assert all(url.startswith("http") for url in fields[7:]), fields

    url = f"/api/v1/sequences/{sequence_id}"
    live = await gateway.get(url, headers=acme)
    edited = await gateway.patch(
        url,
        headers=acme | {"If-Match": live.headers["etag"]},
        json={"name": "Berlin Python nurture (spring)"},
    )
    assert edited.status_code == 200, edited.text
    stale = await gateway.patch(
        url, headers=acme | {"If-Match": live.headers["etag"]}, json={"name": "Lost update"}
    )
    assert stale.status_code == 412, stale.text
    paused = await gateway.post(f"{url}/pause", headers=acme)
    assert (paused.status_code, paused.json()["status"]) == (200, "paused"), paused.text

    async def segment_in_use() -> bool:
        refused = await gateway.delete(f"/api/v1/segments/{segment_id}", headers=acme)
        assert refused.status_code == 409, "a segment a live sequence uses was deleted"
        return "Berlin Python nurture (spring)" in refused.json()["detail"]

    await eventually(segment_in_use, message="the sequence's new name did not reach candidates")

    mapping = {"Vorname": "first_name", "Nachname": "last_name", "E-Mail": "emails"}
    job = await gateway.post("/api/v1/imports", headers=acme, json={"mapping": mapping})
    assert job.status_code == 201, job.text
    excel = "Vorname;Nachname;E-Mail\r\nJürgen;Groß;juergen.gross@example.de\r\n"
    uploaded = await gateway.put(
        f"/api/v1/imports/{job.json()['id']}/file",
        headers=acme | {"content-type": "text/csv"},
        content=excel.encode("cp1252"),
    )
    assert uploaded.status_code == 202, uploaded.text
    done = await poll_json(
        gateway,
        f"/api/v1/imports/{job.json()['id']}",
        acme,
        lambda job: job["status"] in ("completed", "failed"),
        "the import did not finish",
    )
    assert (done["status"], done["delimiter"], done["counts"]["created"]) == ("completed", ";", 1)
    imported = await gateway.get(
        "/api/v1/candidates", params={"email": "juergen.gross@example.de"}, headers=acme
    )
    assert [(c["first_name"], c["last_name"]) for c in imported.json()["items"]] == [
        ("Jürgen", "Groß")
    ]


def new_trace_id() -> str:
    """A fresh W3C trace id, so a tier can find the journey's traces afterwards."""
    return uuid.uuid4().hex


def traced(trace_ids: dict[str, str], step: str) -> dict[str, str]:
    """A `traceparent` header that makes the gateway continue the trace of `step`."""
    return {"traceparent": f"00-{trace_ids[step]}-{uuid.uuid4().hex[:16]}-01"}

"""An event's own registration questions, end to end on the real broker, database and SMTP
sink: the public page lists them, answers are checked and kept with the wording asked, a
filled honeypot stores nothing, and a ticked consent reaches the candidate's ledger once the
registrant confirms it through the mailed link."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from conftest import SmtpSink

from helpers import eventually, read_events, unique
from integration.flow.conftest import (
    ACME_ADMIN_TOKEN,
    ACME_COORDINATOR_TOKEN,
    ACME_TOKEN,
    GLOBEX_ADMIN_TOKEN,
    Stack,
)
from integration.flow.consent_support import assert_problem, error_fields

pytestmark = pytest.mark.integration

QUESTIONS: list[dict[str, Any]] = [
    {
        "id": "team",
        "label": "Which team interests you?",
        "kind": "choice",
        "required": True,
        "options": ["Backend", "Data", "Design"],
    },
    {"id": "parking", "label": "Do you need a parking space?", "kind": "yes_no"},
    {"id": "diet", "label": "Dietary needs", "kind": "text", "help": "We cater for all."},
    {
        "id": "job_news",
        "label": "Send me news about jobs and events at Acme",
        "kind": "consent",
        "purpose": "marketing",
    },
]


async def create_event(stack: Stack) -> dict[str, Any]:
    created = await stack.gateway.post(
        "/api/v1/events",
        headers=stack.as_(ACME_TOKEN),
        json={
            "name": unique("Campus day"),
            "kind": "campus",
            "time_zone": "Europe/Stockholm",
            "starts_at": "2031-05-12T10:00:00",
            "location": "KTH, Stockholm",
            "capacity": 50,
            "questions": QUESTIONS,
        },
    )
    assert created.status_code == 201, created.text
    event: dict[str, Any] = created.json()
    return event


def person(tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "first_name": "Åsa",
        "last_name": "Öberg",
        "email": f"{unique(tag)}@example.se",
        **extra,
    }


async def test_answers_are_checked_kept_and_published_with_the_wording_asked(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    acme = stack.as_(ACME_TOKEN)
    event = await create_event(stack)
    assert [q["id"] for q in event["questions"]] == ["team", "parking", "diet", "job_news"]
    listing = (await stack.gateway.get(f"/public/v1/events/{event['id']}")).json()
    assert listing["questions"][0]["options"] == ["Backend", "Data", "Design"]
    assert listing["questions"][2]["help"] == "We cater for all."
    registrations = f"/public/v1/events/{event['id']}/registrations"

    missing = await stack.gateway.post(registrations, json=person("missing"))
    assert error_fields(assert_problem(missing, 422)) == {"answers.team"}
    wrong = await stack.gateway.post(registrations, json=person("wrong", answers={"team": "Sales"}))
    problem = assert_problem(wrong, 422)
    assert problem["errors"][0]["detail"] == "the answer is one of: Backend, Data, Design"
    unknown = await stack.gateway.post(
        registrations, json=person("unknown", answers={"team": "Data", "shoe_size": "44"})
    )
    assert error_fields(assert_problem(unknown, 422)) == {"answers.shoe_size"}

    answered = person("answered", answers={"team": "data", "parking": False, "diet": "  Vegan  "})
    registered = await stack.gateway.post(registrations, json=answered)
    assert registered.status_code == 201, registered.text

    listed = await stack.gateway.get(f"/api/v1/events/{event['id']}/registrations", headers=acme)
    [stored] = listed.json()["items"]
    assert stored["email"] == answered["email"]
    assert [(a["question_id"], a["label"], a["value"]) for a in stored["answers"]] == [
        ("team", "Which team interests you?", "Data"),
        ("parking", "Do you need a parking space?", False),
        ("diet", "Dietary needs", "Vegan"),
    ]
    [published] = await read_events(
        kafka_bootstrap_servers,
        "event.registered",
        where=lambda e: e["data"]["email"] == answered["email"],
        count=1,
    )
    assert [a["value"] for a in published["data"]["answers"]] == ["Data", False, "Vegan"]

    # The questions can change; a registration keeps the wording its answers were given to.
    edited = await stack.gateway.patch(
        f"/api/v1/events/{event['id']}",
        headers=acme | {"If-Match": f'"{event["version"]}"'},
        json={"questions": [{**QUESTIONS[0], "label": "Team?"}]},
    )
    assert edited.status_code == 200, edited.text
    assert [q["label"] for q in edited.json()["questions"]] == ["Team?"]
    listed = await stack.gateway.get(f"/api/v1/events/{event['id']}/registrations", headers=acme)
    assert listed.json()["items"][0]["answers"][0]["label"] == "Which team interests you?"

    refused = await stack.gateway.patch(
        f"/api/v1/events/{event['id']}",
        headers=acme | {"If-Match": f'"{edited.json()["version"]}"'},
        json={"questions": [{**QUESTIONS[3], "required": True}]},
    )
    assert error_fields(assert_problem(refused, 422)) == {"questions[0]"}


async def test_a_filled_honeypot_is_answered_as_usual_and_stores_nothing(stack: Stack) -> None:
    event = await create_event(stack)
    bot = person("bot", answers={"team": "Data"}, website="https://cheap-pills.example")
    answered = await stack.gateway.post(f"/public/v1/events/{event['id']}/registrations", json=bot)
    assert answered.status_code == 201, answered.text
    assert answered.json()["status"] == "registered"
    assert re.fullmatch(r"[A-Z2-9]{8}", answered.json()["code"])
    listed = await stack.gateway.get(
        f"/api/v1/events/{event['id']}/registrations", headers=stack.as_(ACME_TOKEN)
    )
    assert listed.json()["items"] == []
    assert (
        await stack.gateway.get(f"/api/v1/events/{event['id']}", headers=stack.as_(ACME_TOKEN))
    ).json()["registered"] == 0


async def test_a_ticked_consent_is_recorded_in_the_ledger_once_the_registrant_confirms(
    stack: Stack, smtp_sink: SmtpSink, kafka_bootstrap_servers: str
) -> None:
    acme = stack.as_(ACME_TOKEN)
    event = await create_event(stack)
    consenting = person("consenting", answers={"team": "Design", "job_news": "on"})
    registered = await stack.gateway.post(
        f"/public/v1/events/{event['id']}/registrations", json=consenting
    )
    assert registered.status_code == 201, registered.text
    address = consenting["email"]

    [requested] = await read_events(
        kafka_bootstrap_servers,
        "consent.confirmation_requested",
        where=lambda e: e["data"]["email"] == address,
        count=1,
    )
    assert requested["data"]["purpose"] == "marketing"
    candidate_id = requested["data"]["candidate_id"]
    ledger_url = f"/api/v1/candidates/{candidate_id}/consents"
    # Ticked is not yet given: nobody proved the address is theirs.
    before = (await stack.gateway.get(ledger_url, headers=acme)).json()
    assert (before["history"], before["marketing_consent"]) == ([], False)

    async def mailed() -> bool:
        return any(
            m.subject == "Please confirm your subscription" for m in smtp_sink.messages_to(address)
        )

    await eventually(mailed, message="no consent confirmation reached the SMTP sink")
    [mail] = [
        m for m in smtp_sink.messages_to(address) if m.subject == "Please confirm your subscription"
    ]
    text = mail.parsed().get_body(("plain",))
    assert text is not None
    found = re.search(r"(http\S+/public/v1/community/confirm/\S+)", text.get_content())
    assert found, text.get_content()
    async with httpx.AsyncClient() as browser:
        confirmed = await browser.post(found.group(1))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {"status": "confirmed", "purposes": ["marketing"]}

    ledger = (await stack.gateway.get(ledger_url, headers=acme)).json()
    [entry] = ledger["history"]
    assert (entry["purpose"], entry["status"], entry["source"]) == (
        "marketing",
        "granted",
        "event_registration",
    )
    assert entry["evidence"]["request_id"] == f"event-registration:{registered.json()['id']}"
    assert ledger["marketing_consent"] is True


async def test_a_waitlisted_registrant_is_a_candidate_and_asked_for_consent_once(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    acme = stack.as_(ACME_TOKEN)
    created = await stack.gateway.post(
        "/api/v1/events",
        headers=acme,
        json={
            "name": unique("Full house"),
            "kind": "open_house",
            "starts_at": "2031-06-02T17:00:00+02:00",
            "location": "Malmö",
            "capacity": 1,
            "questions": [QUESTIONS[3]],
        },
    )
    assert created.status_code == 201, created.text
    event = created.json()
    registrations = f"/public/v1/events/{event['id']}/registrations"
    seated = await stack.gateway.post(registrations, json=person("seated"))
    assert seated.json()["status"] == "registered"
    # A person with one name: no last name sent.
    waiting_person = {
        field: value
        for field, value in person("waiting", answers={"job_news": True}).items()
        if field != "last_name"
    }
    waiting = await stack.gateway.post(registrations, json=waiting_person)
    assert waiting.json()["status"] == "waitlisted", waiting.text
    address = waiting_person["email"]

    # They showed interest: a candidate from the event, before any seat.
    [requested] = await read_events(
        kafka_bootstrap_servers,
        "consent.confirmation_requested",
        where=lambda e: e["data"]["email"] == address,
        count=1,
    )
    candidate_id = requested["data"]["candidate_id"]
    candidate = (await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)).json()
    assert (candidate["source"], candidate["events_registered"]) == ("event", [])
    assert (candidate["first_name"], candidate["last_name"]) == (waiting_person["first_name"], "")

    # A seat frees up: promoted, registered on the candidate, and not asked a second time.
    cancelled = await stack.gateway.post(
        f"/api/v1/events/{event['id']}/registrations/{seated.json()['id']}/cancel", headers=acme
    )
    assert cancelled.status_code == 200, cancelled.text

    async def registered_on_candidate() -> bool:
        found = await stack.gateway.get(f"/api/v1/candidates/{candidate_id}", headers=acme)
        return bool(found.json()["events_registered"] == [event["id"]])

    await eventually(registered_on_candidate, message="the promotion never reached the candidate")
    with pytest.raises(AssertionError):
        await read_events(
            kafka_bootstrap_servers,
            "consent.confirmation_requested",
            where=lambda e: e["data"]["email"] == address,
            count=2,
            timeout=5,
        )


async def test_an_admin_names_the_sites_that_may_frame_the_form_and_the_listing_carries_them(
    stack: Stack,
) -> None:
    """Through the gateway to the events service and its database: only an admin changes the
    list, each entry is checked, every tenant has its own, and the public listing (what the
    console's embeddable page builds its frame-ancestors from) names the event's tenant's."""
    settings = "/api/v1/settings/event-embedding"
    admin = stack.as_(ACME_ADMIN_TOKEN)
    event = await create_event(stack)
    listing = f"/public/v1/events/{event['id']}"
    assert (await stack.gateway.get(listing)).json()["embedding_origins"] == []

    refused = await stack.gateway.put(
        settings,
        headers=admin,
        json={"site_origins": ["https://careers.acme.example", "https://acme.example/jobs"]},
    )
    problem = assert_problem(refused, 422)
    assert error_fields(problem) == {"site_origins.1"}
    assert "has a path" in problem["errors"][0]["detail"]
    wildcard_tld = await stack.gateway.put(
        settings, headers=admin, json={"site_origins": ["https://*.example"]}
    )
    assert error_fields(assert_problem(wildcard_tld, 422)) == {"site_origins.0"}
    coordinator = await stack.gateway.put(
        settings,
        headers=stack.as_(ACME_COORDINATOR_TOKEN),
        json={"site_origins": ["https://careers.acme.example"]},
    )
    assert_problem(coordinator, 403)

    stored = await stack.gateway.put(
        settings,
        headers=admin,
        json={
            "site_origins": [
                "https://Careers.Acme.example/",
                "https://*.acme.example",
                "https://careers.acme.example",
            ]
        },
    )
    assert stored.status_code == 200, stored.text
    assert stored.json() == {
        "site_origins": ["https://careers.acme.example", "https://*.acme.example"]
    }
    read = await stack.gateway.get(settings, headers=stack.as_(ACME_COORDINATOR_TOKEN))
    assert read.json()["site_origins"] == ["https://careers.acme.example", "https://*.acme.example"]
    assert (await stack.gateway.get(listing)).json()["embedding_origins"] == [
        "https://careers.acme.example",
        "https://*.acme.example",
    ]
    # Another tenant's list is its own.
    globex = await stack.gateway.get(settings, headers=stack.as_(GLOBEX_ADMIN_TOKEN))
    assert globex.json() == {"site_origins": []}

    cleared = await stack.gateway.put(settings, headers=admin, json={"site_origins": []})
    assert cleared.json() == {"site_origins": []}
    assert (await stack.gateway.get(listing)).json()["embedding_origins"] == []

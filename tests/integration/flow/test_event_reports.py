"""A recruiting event's report through the gateway, folded by analytics from the real broker:
a scenario with a known answer (seats, a waitlist, a cancellation and a promotion, a walk-in,
check-ins, completion giving no-shows, an application and a hire inside the window and an
application outside it, each ATS event delivered twice) and every figure asserted; the same
reports as CSV hold every figure of the JSON ones; and a person registered under two records
counts once after their merge, twice after its undo."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_shared import (
    ATS_APPLICATION_CREATED,
    ATS_APPLICATION_HIRED,
    EVENT_ATTENDED,
    EVENT_NO_SHOW,
    AtsApplicationCreated,
    AtsApplicationHired,
)
from helpers import eventually, publish_event, read_events, unique
from integration.flow.conftest import ACME_COORDINATOR_TOKEN, ACME_TOKEN, GLOBEX_TOKEN, Stack
from integration.flow.csv_reports import csv_cells, csv_of, event_cells

pytestmark = pytest.mark.integration

GATEWAY_SETTINGS = {"public_requests_per_minute_per_ip": 1000}


async def register(stack: Stack, event_id: str, name: str) -> tuple[str, str, str]:
    """Registers somebody new through the public page; (registration id, email, status)."""
    email = f"{unique(name)}@example.org"
    registered = await stack.gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={"first_name": name.title(), "last_name": "Doe", "email": email},
    )
    assert registered.status_code == 201, registered.text
    return registered.json()["id"], email, registered.json()["status"]


async def application(
    stack: Stack, servers: str, kind: str, candidate_id: str | None, email: str, at: datetime
) -> None:
    """An ATS application (or its hire) as ats-sync announces it, delivered twice."""
    ats_id = unique("app")
    common: dict[str, Any] = {
        "provider": "greenhouse",
        "connection_id": "conn-1",
        "ats_application_id": ats_id,
        "ats_candidate_id": unique("ats-cand"),
        "candidate_id": candidate_id,
        "email": email,
    }
    created = AtsApplicationCreated(**common, applied_at=at)
    subject = candidate_id or email
    await publish_event(
        servers,
        ATS_APPLICATION_CREATED,
        tenant_id=stack.acme,
        subject=subject,
        data=created,
        copies=2,
    )
    if kind == "hire":
        hired = AtsApplicationHired(**common, occurred_at=at + timedelta(days=20))
        await publish_event(
            servers,
            ATS_APPLICATION_HIRED,
            tenant_id=stack.acme,
            subject=subject,
            data=hired,
            copies=2,
        )


async def test_an_events_report_has_every_figure_right(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    acme = stack.as_(ACME_TOKEN)
    now = datetime.now(UTC)
    starts = (now - timedelta(minutes=30)).replace(microsecond=0)
    created = await stack.gateway.post(
        "/api/v1/events",
        headers=acme,
        json={
            "name": unique("Career fair"),
            "kind": "career_fair",
            # Under way: people may still register and walk in, and it may be completed.
            "starts_at": starts.isoformat(),
            "ends_at": (now + timedelta(hours=2)).isoformat(),
            "capacity": 3,
        },
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    url = f"/api/v1/events/{event_id}"

    ada, ada_email, _ = await register(stack, event_id, "ada")
    bob, bob_email, _ = await register(stack, event_id, "bob")
    cat, _, _ = await register(stack, event_id, "cat")
    dan, _, dan_status = await register(stack, event_id, "dan")
    _, _, eve_status = await register(stack, event_id, "eve")
    assert (dan_status, eve_status) == ("waitlisted", "waitlisted")

    # Cat's cancellation names her candidate once the events service has learnt it (the report
    # names her by her address either way).
    async def cat_known() -> bool:
        listed = await stack.gateway.get(f"{url}/registrations", headers=acme)
        return any(r["id"] == cat and r["candidate_id"] for r in listed.json()["items"])

    await eventually(cat_known, timeout=60, message="the events service never learnt Cat")
    # Cat cancels: Dan, first on the waitlist, gets her seat; Eve stays waitlisted.
    cancelled = await stack.gateway.post(f"{url}/registrations/{cat}/cancel", headers=acme)
    assert cancelled.status_code == 200, cancelled.text
    walked_in = await stack.gateway.post(
        f"{url}/walk-ins",
        headers=acme,
        json={"first_name": "Wes", "last_name": "Doe", "email": f"{unique('wes')}@example.org"},
    )
    assert walked_in.status_code == 201, walked_in.text
    checked_in = await stack.gateway.post(f"{url}/registrations/{ada}/check-in", headers=acme)
    assert checked_in.status_code == 200, checked_in.text
    completed = await stack.gateway.post(f"{url}/complete", headers=acme)
    assert completed.status_code == 200, completed.text

    attended = await read_events(
        kafka_bootstrap_servers,
        EVENT_ATTENDED.name,
        where=lambda e: e["data"]["event_id"] == event_id,
        count=2,
    )
    candidate_of = {e["data"]["registration_id"]: e["data"]["candidate_id"] for e in attended}
    no_shows = await read_events(
        kafka_bootstrap_servers,
        EVENT_NO_SHOW.name,
        where=lambda e: e["data"]["event_id"] == event_id,
        count=2,
    )
    assert {e["data"]["registration_id"] for e in no_shows} == {bob, dan}
    candidate_of |= {e["data"]["registration_id"]: e["data"]["candidate_id"] for e in no_shows}
    ada_id = candidate_of[ada]
    # Ada applied 10 days after the event and was hired 20 days later; Bob (known to the ATS
    # by his address only) applied 120 days after: outside the default 90-day window.
    await application(
        stack, kafka_bootstrap_servers, "hire", ada_id, ada_email, starts + timedelta(days=10)
    )
    await application(
        stack, kafka_bootstrap_servers, "application", None, bob_email, starts + timedelta(days=120)
    )

    report_url = f"/api/v1/analytics/events/{event_id}"

    async def report(**params: Any) -> dict[str, Any]:
        answer = await stack.gateway.get(report_url, params=params, headers=acme)
        assert answer.status_code in (200, 404), answer.text
        body: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
        return body

    async def settled() -> bool:
        body = await report()
        return bool(body) and (
            body["no_shows"],
            body["attended"],
            body["applied"]["count"],
            body["hired"]["count"],
            body["by_source"].get("event"),
        ) == (2, 2, 1, 1, 6)

    await eventually(settled, timeout=60, message="the event's report did not settle")
    body = await report()
    assert body["event_id"] == event_id
    assert body["status"] == "completed"
    assert datetime.fromisoformat(body["starts_at"]) == starts
    assert (
        body["registrations"],
        body["registered"],
        body["waitlisted"],
        body["cancelled"],
    ) == (6, 4, 1, 1)
    assert (body["checked_in"], body["walk_ins"], body["attended"], body["no_shows"]) == (
        2,
        1,
        2,
        2,
    )
    assert body["no_show_rate"] == 0.5
    assert body["by_channel"] == {"online": 5, "walk_in": 1}
    # Everybody became a candidate from their registration (source `event`): Eve, still
    # waitlisted and never named by an attendance topic, by her address.
    assert body["by_source"] == {"event": 6}
    assert body["applied"] == {"count": 1, "candidate_ids": [ada_id], "truncated": False}
    assert body["hired"] == {"count": 1, "candidate_ids": [ada_id], "truncated": False}
    assert body["within_days"] == 90
    # The coordinator who runs the event reads its report too (the event family's read).
    coordinators = await stack.gateway.get(report_url, headers=stack.as_(ACME_COORDINATOR_TOKEN))
    assert coordinators.status_code == 200, coordinators.text
    assert coordinators.json()["attended"] == body["attended"]

    # Bob's application was published after Ada's: the settled report need not have it yet.
    async def bobs_application_folded() -> bool:
        return bool((await report(within_days=150))["applied"]["count"] == 2)

    await eventually(bobs_application_folded, timeout=60, message="Bob's application not seen")
    wider = await report(within_days=150)
    assert wider["applied"]["candidate_ids"] == sorted([ada_id, candidate_of[bob]])

    day = starts.date()
    days = {"from": (day - timedelta(days=1)).isoformat(), "to": day.isoformat()}
    period = await stack.gateway.get("/api/v1/analytics/events", params=days, headers=acme)
    assert period.status_code == 200, period.text
    [ours] = [e for e in period.json()["events"] if e["event_id"] == event_id]
    assert ours == body
    totals = period.json()["totals"]
    assert totals["registrations"] >= 6
    assert totals["no_shows"] >= 2

    # The same reports as CSV files, through the gateway: every figure of the JSON, no other.
    exported = await stack.gateway.get(report_url, params={"format": "csv"}, headers=acme)
    exported_cells = csv_cells(csv_of(exported, f"event-{event_id}-report.csv"))
    assert exported_cells == event_cells(event_id, body)
    assert exported_cells[(event_id, "by_source", "event")] == "6"
    assert exported_cells[(event_id, "applied.candidate_ids", "")] == ada_id
    period_csv = await stack.gateway.get(
        "/api/v1/analytics/events", params={**days, "format": "csv"}, headers=acme
    )
    want = event_cells("total", totals)
    for each in period.json()["events"]:
        want |= event_cells(each["event_id"], each)
    name = f"events-{days['from']}-to-{days['to']}-report.csv"
    assert csv_cells(csv_of(period_csv, name)) == want
    for url, query in ((report_url, {}), ("/api/v1/analytics/events", days)):
        unknown = await stack.gateway.get(url, params={**query, "format": "xlsx"}, headers=acme)
        assert unknown.status_code == 422, unknown.text
        assert "format" in unknown.text

    # Another tenant knows nothing of it; a range backwards or unknown parameters are refused.
    theirs = await stack.gateway.get(report_url, headers=stack.as_(GLOBEX_TOKEN))
    assert theirs.status_code == 404
    assert theirs.headers["content-type"].startswith("application/problem+json")
    backwards = await stack.gateway.get(
        "/api/v1/analytics/events", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=acme
    )
    assert backwards.status_code == 422
    too_far = await stack.gateway.get(report_url, params={"within_days": 0}, headers=acme)
    assert too_far.status_code == 422


async def test_a_new_registrants_source_shows_before_the_event_is_completed(
    stack: Stack,
) -> None:
    """A new person registers: the registration creates the candidate, and the report shows
    them as source `event` while the event is still scheduled; somebody known before shows
    their own source."""
    acme = stack.as_(ACME_TOKEN)
    starts = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    created = await stack.gateway.post(
        "/api/v1/events",
        headers=acme,
        json={
            "name": unique("Open day"),
            "kind": "open_house",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=3)).isoformat(),
            "capacity": 10,
        },
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    known_email = f"{unique('kim')}@example.org"
    known = await stack.gateway.post(
        "/api/v1/candidates",
        headers=acme,
        json={
            "first_name": "Kim",
            "last_name": "Doe",
            "emails": [known_email],
            "source": "referral",
        },
    )
    assert known.status_code == 201, known.text
    await register(stack, event_id, "nia")
    registered = await stack.gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={"first_name": "Kim", "last_name": "Doe", "email": known_email.upper()},
    )
    assert registered.status_code == 201, registered.text

    async def by_source() -> dict[str, int] | None:
        answer = await stack.gateway.get(f"/api/v1/analytics/events/{event_id}", headers=acme)
        if answer.status_code != 200:
            return None
        assert answer.json()["status"] == "scheduled"
        sources: dict[str, int] = answer.json()["by_source"]
        return sources

    async def named() -> bool:
        return await by_source() == {"event": 1, "referral": 1}

    await eventually(named, timeout=60, message="the report never named both registrants")


async def test_two_records_of_one_person_count_once_after_a_merge_and_twice_after_its_undo(
    stack: Stack,
) -> None:
    """The same person registered under two records; the merge (candidates service, through
    the broker) makes them one registrant of the event's report, its undo two again."""
    acme = stack.as_(ACME_TOKEN)
    starts = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    created = await stack.gateway.post(
        "/api/v1/events",
        headers=acme,
        json={
            "name": unique("Meetup"),
            "kind": "meetup",
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "capacity": 10,
        },
    )
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    ids: dict[str, str] = {}
    for name, source in (("zoe", "sourced"), ("zoe-old", "referral")):
        email = f"{unique(name)}@example.org"
        candidate = await stack.gateway.post(
            "/api/v1/candidates",
            headers=acme,
            json={"first_name": "Zoe", "last_name": "Doe", "emails": [email], "source": source},
        )
        assert candidate.status_code == 201, candidate.text
        ids[source] = candidate.json()["id"]
        registered = await stack.gateway.post(
            f"/public/v1/events/{event_id}/registrations",
            json={"first_name": "Zoe", "last_name": "Doe", "email": email},
        )
        assert registered.status_code == 201, registered.text

    async def counted(registrations: int, by_source: dict[str, int]) -> bool:
        answer = await stack.gateway.get(f"/api/v1/analytics/events/{event_id}", headers=acme)
        return answer.status_code == 200 and (
            answer.json()["registrations"],
            answer.json()["by_source"],
        ) == (registrations, by_source)

    apart = {"referral": 1, "sourced": 1}
    await eventually(lambda: counted(2, apart), timeout=90, message="two registrants not seen")
    merged = await stack.gateway.post(
        "/api/v1/candidates/merges",
        json={"survivor_id": ids["sourced"], "merged_id": ids["referral"]},
        headers=acme,
    )
    assert merged.status_code == 201, merged.text
    await eventually(
        lambda: counted(1, {"sourced": 1}), timeout=90, message="the merge was not folded"
    )
    undone = await stack.gateway.post(
        f"/api/v1/candidates/merges/{merged.json()['id']}/undo", headers=acme
    )
    assert undone.status_code == 200, undone.text
    await eventually(lambda: counted(2, apart), timeout=90, message="the undo was not folded")

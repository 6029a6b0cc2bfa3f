"""An offline door's check-ins uploaded later, end to end on the real broker and database: each
code checked in as of its door time, an upload repeated changes nothing, every check-in is
announced once on `event.checked_in`, and what could not be taken is answered per item."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_shared import EVENT_CHECKED_IN
from crm_shared.errors import PROBLEM_TYPE_PREFIX
from helpers import read_events, unique
from integration.flow.conftest import (
    ACME_RECRUITER_TOKEN,
    ACME_TOKEN,
    GLOBEX_TOKEN,
    Stack,
)

pytestmark = pytest.mark.integration


async def under_way(stack: Stack, token: str, capacity: int) -> dict[str, Any]:
    """An event that started half an hour ago (people may still register and check in)."""
    now = datetime.now(UTC)
    created = await stack.gateway.post(
        "/api/v1/events",
        headers=stack.as_(token),
        json={
            "name": unique("Career fair"),
            "kind": "career_fair",
            "time_zone": "Europe/Berlin",
            "starts_at": (now - timedelta(minutes=30)).isoformat(),
            "ends_at": (now + timedelta(hours=3)).isoformat(),
            "capacity": capacity,
        },
    )
    assert created.status_code == 201, created.text
    event: dict[str, Any] = created.json()
    return event


async def register(stack: Stack, event_id: str, name: str) -> dict[str, Any]:
    """Registers somebody new through the public API: their registration, with its code."""
    registered = await stack.gateway.post(
        f"/public/v1/events/{event_id}/registrations",
        json={"first_name": name, "last_name": "Doe", "email": f"{unique(name)}@example.org"},
    )
    assert registered.status_code == 201, registered.text
    registration: dict[str, Any] = registered.json()
    return registration


async def test_an_offline_batch_checks_in_once_and_reports_every_conflict(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    acme = stack.as_(ACME_TOKEN)
    event = await under_way(stack, ACME_TOKEN, capacity=2)
    url = f"/api/v1/events/{event['id']}"
    early, seated, waiting, gone = [
        await register(stack, event["id"], name) for name in ("Ann", "Ben", "Cem", "Dee")
    ]
    assert (waiting["status"], gone["status"]) == ("waitlisted", "waitlisted")
    cancelled = await stack.gateway.post(f"{url}/registrations/{gone['id']}/cancel", headers=acme)
    assert cancelled.status_code == 200, cancelled.text
    live = await stack.gateway.post(f"{url}/registrations/{early['id']}/check-in", headers=acme)
    assert live.status_code == 200, live.text
    # Codes that are not this event's: another event of the tenant, another tenant's event.
    elsewhere = await register(stack, (await under_way(stack, ACME_TOKEN, 5))["id"], "Eve")
    foreign = await register(stack, (await under_way(stack, GLOBEX_TOKEN, 5))["id"], "Fay")

    door_time = (datetime.now(UTC) - timedelta(minutes=10)).replace(microsecond=0)
    at = door_time.isoformat()
    batch = {
        "check_ins": [
            {"code": early["code"], "checked_in_at": at},
            {"code": f" {seated['code'].lower()} ", "checked_in_at": at},  # as typed
            {"code": waiting["code"], "checked_in_at": at},
            {"code": gone["code"], "checked_in_at": at},
            {"code": elsewhere["code"], "checked_in_at": at},
            {"code": foreign["code"], "checked_in_at": at},
            {"code": seated["code"], "checked_in_at": at},  # scanned twice at the door
        ]
    }
    first = await stack.gateway.post(f"{url}/check-ins", headers=acme, json=batch)
    assert first.status_code == 200, first.text
    report = first.json()
    assert [r["outcome"] for r in report["results"]] == [
        "already_checked_in",
        "checked_in",
        "waitlisted",
        "registration_cancelled",
        "unknown_code",
        "unknown_code",
        "already_checked_in",
    ]
    # Nothing of the other event or tenant is revealed.
    assert [r["registration_id"] for r in report["results"][4:6]] == [None, None]
    assert report["counts"] == {
        "checked_in": 1,
        "already_checked_in": 2,
        "unknown_code": 2,
        "ambiguous_code": 0,
        "waitlisted": 1,
        "registration_cancelled": 1,
    }

    listed = await stack.gateway.get(f"{url}/registrations", headers=acme)
    people = {r["id"]: r for r in listed.json()["items"]}
    assert datetime.fromisoformat(people[seated["id"]]["checked_in_at"]).replace(
        tzinfo=UTC
    ) == door_time.replace(tzinfo=UTC)  # the door's time, not the upload's
    # Both came: the waitlisted one is seated by the check-in, the cancelled one again.
    assert (people[waiting["id"]]["status"], people[gone["id"]]["status"]) == (
        "registered",
        "registered",
    )
    assert all(people[r["id"]]["checked_in_at"] for r in (early, seated, waiting, gone))

    again = await stack.gateway.post(f"{url}/check-ins", headers=acme, json=batch)
    assert again.status_code == 200, again.text
    assert again.json()["counts"] == {
        "checked_in": 0,
        "already_checked_in": 5,
        "unknown_code": 2,
        "ambiguous_code": 0,
        "waitlisted": 0,
        "registration_cancelled": 0,
    }
    relisted = await stack.gateway.get(f"{url}/registrations", headers=acme)
    assert relisted.json() == listed.json()  # nothing changed

    # Each check-in is announced once, whether made live or uploaded twice, once its person is
    # a known candidate (they are new: the candidates service creates them from
    # `event.registered`, and the waitlisted one from `event.waitlisted`).
    ours = {early["id"], seated["id"], waiting["id"], gone["id"]}

    def of_event(envelope: dict[str, Any]) -> bool:
        return bool(envelope["data"]["event_id"] == event["id"])

    announced = await read_events(
        kafka_bootstrap_servers, EVENT_CHECKED_IN.name, where=of_event, count=4
    )
    assert sorted(e["data"]["registration_id"] for e in announced) == sorted(ours)
    await asyncio.sleep(2)  # anything announced twice would be on the topic by now
    with pytest.raises(AssertionError):
        await read_events(
            kafka_bootstrap_servers, EVENT_CHECKED_IN.name, where=of_event, count=5, timeout=5
        )


async def test_a_bad_upload_is_refused_whole_with_a_clear_answer(stack: Stack) -> None:
    acme = stack.as_(ACME_TOKEN)
    event = await under_way(stack, ACME_TOKEN, capacity=5)
    url = f"/api/v1/events/{event['id']}/check-ins"
    person = await register(stack, event["id"], "Gil")
    now = datetime.now(UTC)

    async def upload(body: Any, token: str = ACME_TOKEN) -> Any:
        return await stack.gateway.post(url, headers=stack.as_(token), json=body)

    async def checked_in_at() -> Any:
        listed = await stack.gateway.get(
            f"/api/v1/events/{event['id']}/registrations", headers=acme
        )
        return listed.json()["items"][0]["checked_in_at"]

    # A device whose clock is wrong: nothing is recorded, the items are named.
    wrong_clock = await upload(
        {
            "check_ins": [
                {"code": person["code"], "checked_in_at": (now + timedelta(hours=2)).isoformat()},
                {"code": person["code"], "checked_in_at": (now - timedelta(days=3)).isoformat()},
            ]
        }
    )
    assert wrong_clock.status_code == 422, wrong_clock.text
    problem = wrong_clock.json()
    assert problem["type"] == f"{PROBLEM_TYPE_PREFIX}validation-error"
    assert [e["field"] for e in problem["errors"]] == [
        "check_ins.0.checked_in_at",
        "check_ins.1.checked_in_at",
    ]
    assert "in the future" in problem["errors"][0]["detail"]
    assert "before the event's day" in problem["errors"][1]["detail"]
    assert await checked_in_at() is None

    malformed_batches: list[dict[str, Any]] = [
        {"check_ins": []},
        {"check_ins": [{"code": "X", "checked_in_at": now.isoformat()}] * 501},
        {"check_ins": [{"code": "X", "checked_in_at": "2031-01-01T10:00:00"}]},  # no offset
        {"check_ins": [{"checked_in_at": now.isoformat()}]},
        {"codes": ["X"]},
    ]
    for malformed in malformed_batches:
        refused = await upload(malformed)
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"] == f"{PROBLEM_TYPE_PREFIX}validation-error"

    one = {"check_ins": [{"code": person["code"], "checked_in_at": now.isoformat()}]}
    not_allowed = await upload(one, ACME_RECRUITER_TOKEN)
    assert not_allowed.status_code == 403, not_allowed.text
    not_theirs = await upload(one, GLOBEX_TOKEN)
    assert not_theirs.status_code == 404, not_theirs.text

    cancelled = await stack.gateway.post(
        f"/api/v1/events/{event['id']}/cancel", headers=acme, json={"reason": "Storm"}
    )
    assert cancelled.status_code == 200, cancelled.text
    too_late = await upload(one)
    assert too_late.status_code == 409, too_late.text
    assert too_late.json()["type"] == f"{PROBLEM_TYPE_PREFIX}event-cancelled"
    assert await checked_in_at() is None

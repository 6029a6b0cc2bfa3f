"""Facts projected from other services change segment membership; references, edits, relative
dates and the activity timeline, on the real broker and database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm_shared import (
    ATS_APPLICATION_HIRED,
    ATS_APPLICATION_REJECTED,
    ENGAGEMENT_SCORED,
    EVENT_CHECKED_IN,
    EVENT_REGISTERED,
    MESSAGE_OPENED,
    AtsApplicationHired,
    AtsApplicationRejected,
    EngagementScored,
    EventCheckedIn,
    EventRegistered,
    MessageOpened,
)
from helpers import eventually, publish_event, read_events, unique
from integration.flow.conftest import ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration


async def new_candidate(stack: Stack, token: str, tag: str, **fields: Any) -> dict[str, Any]:
    body = {"first_name": "Fact", "last_name": tag, "emails": [f"{unique(tag)}@example.org"]}
    response = await stack.gateway.post(
        "/api/v1/candidates", json=body | {"tags": [tag]} | fields, headers=stack.as_(token)
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def new_segment(stack: Stack, token: str, rule: dict[str, Any]) -> dict[str, Any]:
    auth = stack.as_(token)
    response = await stack.gateway.post(
        "/api/v1/segments", json={"name": unique("segment"), "rule": rule}, headers=auth
    )
    assert response.status_code == 201, response.text
    segment: dict[str, Any] = response.json()
    await wait_ready(stack, token, segment["id"])
    return segment


async def wait_ready(stack: Stack, token: str, segment_id: str) -> None:
    async def ready() -> bool:
        response = await stack.gateway.get(
            f"/api/v1/segments/{segment_id}", headers=stack.as_(token)
        )
        return bool(response.json()["status"] == "ready")

    await eventually(ready, message="the segment's evaluation did not finish")


async def member_ids(stack: Stack, token: str, segment_id: str) -> set[str]:
    response = await stack.gateway.get(
        f"/api/v1/segments/{segment_id}/members", headers=stack.as_(token)
    )
    assert response.status_code == 200, response.text
    return {member["id"] for member in response.json()["items"]}


async def wait_members(stack: Stack, token: str, segment_id: str, expected: set[str]) -> None:
    async def settled() -> bool:
        return await member_ids(stack, token, segment_id) == expected

    await eventually(settled, message=f"segment {segment_id} members {expected}")


async def candidate(stack: Stack, token: str, candidate_id: str) -> dict[str, Any]:
    response = await stack.gateway.get(
        f"/api/v1/candidates/{candidate_id}", headers=stack.as_(token)
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def entered(segment_id: str) -> Any:
    return lambda e: e["data"]["segment_id"] == segment_id


async def test_attendance_engagement_and_ats_facts_change_membership(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    tag = unique("facts")
    person = await new_candidate(stack, ACME_TOKEN, tag)
    bystander = await new_candidate(stack, ACME_TOKEN, tag)
    event_id = unique("event")
    engaged_attendees = await new_segment(
        stack,
        ACME_TOKEN,
        {
            "all": [
                {"field": "tags", "op": "equals", "value": tag},
                {"field": "events_attended", "op": "equals", "value": event_id},
                {"field": "engagement_score", "op": "range", "value": {"gte": 5}},
            ]
        },
    )
    silver_medalists = await new_segment(
        stack,
        ACME_TOKEN,
        {
            "all": [
                {"field": "tags", "op": "equals", "value": tag},
                {"field": "ats_status", "op": "equals", "value": "rejected"},
                {"field": "ats_stage", "op": "in", "value": ["onsite", "offer"]},
            ]
        },
    )
    now = datetime.now(UTC)
    await publish_event(
        kafka_bootstrap_servers,
        EVENT_REGISTERED,
        tenant_id=stack.acme,
        subject=person["id"],
        data=EventRegistered(
            event_id=event_id,
            event_name="Open house",
            registration_id=unique("reg"),
            # Matched by email: with no candidate id, analytics does not score it, so the
            # engagement score below is only the one this test publishes.
            candidate_id=None,
            email=person["emails"][0],
            first_name="Fact",
            last_name=tag,
            registered_at=now,
        ),
    )
    await publish_event(
        kafka_bootstrap_servers,
        EVENT_CHECKED_IN,
        tenant_id=stack.acme,
        subject=person["id"],
        data=EventCheckedIn(
            event_id=event_id,
            event_name="Open house",
            registration_id=unique("reg"),
            candidate_id=None,  # matched by email, as for a walk-in the events service knew
            email=person["emails"][0].upper(),
            checked_in_at=now,
        ),
    )

    async def attended() -> bool:
        found = await candidate(stack, ACME_TOKEN, person["id"])
        return bool(
            found["events_attended"] == [event_id] and found["events_registered"] == [event_id]
        )

    await eventually(attended, message="attendance was not projected")
    assert await member_ids(stack, ACME_TOKEN, engaged_attendees["id"]) == set()

    await publish_event(
        kafka_bootstrap_servers,
        ENGAGEMENT_SCORED,
        tenant_id=stack.acme,
        subject=person["id"],
        data=EngagementScored(candidate_id=person["id"], score=7.5, last_activity_at=now),
    )
    [entry] = await read_events(
        kafka_bootstrap_servers, "segment.entered", where=entered(engaged_attendees["id"]), count=1
    )
    assert entry["subject"] == person["id"]
    assert entry["tenant_id"] == stack.acme
    assert await member_ids(stack, ACME_TOKEN, engaged_attendees["id"]) == {person["id"]}
    scored = await candidate(stack, ACME_TOKEN, person["id"])
    assert scored["engagement_score"] == 7.5

    await publish_event(
        kafka_bootstrap_servers,
        ATS_APPLICATION_REJECTED,
        tenant_id=stack.acme,
        subject=person["id"],
        data=AtsApplicationRejected(
            provider="greenhouse",
            connection_id="c1",
            ats_application_id=unique("app"),
            ats_candidate_id="42",
            candidate_id=person["id"],
            stage="Onsite",
            occurred_at=now,
        ),
    )
    await wait_members(stack, ACME_TOKEN, silver_medalists["id"], {person["id"]})
    # A change older than the one applied (another application, reported late) is not applied.
    await publish_event(
        kafka_bootstrap_servers,
        ATS_APPLICATION_HIRED,
        tenant_id=stack.acme,
        subject=person["id"],
        data=AtsApplicationHired(
            provider="greenhouse",
            connection_id="c1",
            ats_application_id=unique("app"),
            ats_candidate_id="42",
            candidate_id=person["id"],
            stage="Offer",
            occurred_at=now - timedelta(days=1),
        ),
    )

    async def hired_on_timeline() -> bool:
        response = await stack.gateway.get(
            f"/api/v1/candidates/{person['id']}/timeline", headers=stack.as_(ACME_TOKEN)
        )
        return any(e["type"] == "ats.application_hired" for e in response.json()["items"])

    await eventually(hired_on_timeline, message="the late hire was not on the timeline")
    rejected = await candidate(stack, ACME_TOKEN, person["id"])
    assert (rejected["ats_status"], rejected["ats_stage"]) == ("rejected", "Onsite")
    assert await member_ids(stack, ACME_TOKEN, engaged_attendees["id"]) == {person["id"]}
    assert bystander["id"] not in await member_ids(stack, ACME_TOKEN, silver_medalists["id"])

    # A profile edit made from an older read does not roll the projected facts back.
    edited = await stack.gateway.patch(
        f"/api/v1/candidates/{person['id']}",
        json={"location": "Lyon"},
        headers=stack.as_(ACME_TOKEN),
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["engagement_score"] == 7.5

    # Another tenant's event naming this candidate changes nothing.
    await publish_event(
        kafka_bootstrap_servers,
        ENGAGEMENT_SCORED,
        tenant_id=stack.globex,
        subject=person["id"],
        data=EngagementScored(candidate_id=person["id"], score=0.0, last_activity_at=now),
    )
    globex_view = await stack.gateway.get(
        f"/api/v1/candidates/{person['id']}/timeline", headers=stack.as_(GLOBEX_TOKEN)
    )
    assert globex_view.status_code == 404
    still = await candidate(stack, ACME_TOKEN, person["id"])
    assert still["engagement_score"] == 7.5


async def test_the_timeline_is_newest_first_paginated_and_idempotent(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    tag = unique("timeline")
    person = await new_candidate(stack, ACME_TOKEN, tag)
    segment = await new_segment(
        stack,
        ACME_TOKEN,
        {
            "all": [
                {"field": "events_attended", "op": "exists", "value": True},
                {"field": "tags", "op": "equals", "value": tag},
            ]
        },
    )
    base = datetime.now(UTC) - timedelta(hours=1)
    opened = MessageOpened(message_id=unique("msg"), candidate_id=person["id"])
    await publish_event(
        kafka_bootstrap_servers,
        MESSAGE_OPENED,
        tenant_id=stack.acme,
        subject=person["id"],
        data=opened,
        copies=2,
    )
    await publish_event(
        kafka_bootstrap_servers,
        MESSAGE_OPENED,
        tenant_id=stack.acme,
        subject=person["id"],
        data=MessageOpened(message_id=unique("msg"), candidate_id=person["id"], automated=True),
    )
    await publish_event(
        kafka_bootstrap_servers,
        EVENT_CHECKED_IN,
        tenant_id=stack.acme,
        subject=person["id"],
        data=EventCheckedIn(
            event_id=unique("event"),
            event_name="Meetup",
            registration_id=unique("reg"),
            candidate_id=person["id"],
            email=person["emails"][0],
            checked_in_at=base,
        ),
    )
    expected = {"message.opened", "event.checked_in", "segment.entered"}

    async def complete() -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
            response = await stack.gateway.get(
                f"/api/v1/candidates/{person['id']}/timeline",
                params=params,
                headers=stack.as_(ACME_TOKEN),
            )
            assert response.status_code == 200, response.text
            entries.extend(response.json()["items"])
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return entries

    async def all_there() -> bool:
        return {e["type"] for e in await complete()} == expected

    await eventually(all_there, message="the timeline did not fill")
    entries = await complete()
    # One entry per event: the redelivered open once, the bot's open not at all.
    assert sorted(e["type"] for e in entries) == sorted(expected)
    times = [e["occurred_at"] for e in entries]
    assert times == sorted(times, reverse=True)
    assert all("email" not in e["data"] for e in entries)
    [segment_entry] = [e for e in entries if e["type"] == "segment.entered"]
    assert segment_entry["data"]["segment_id"] == segment["id"]
    missing = await stack.gateway.get(
        f"/api/v1/candidates/{unique('nobody')}/timeline", headers=stack.as_(ACME_TOKEN)
    )
    assert missing.status_code == 404


async def test_segment_references_follow_the_referenced_membership(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    tag = unique("refs")
    talent = await new_segment(
        stack, ACME_TOKEN, {"all": [{"field": "tags", "op": "equals", "value": tag}]}
    )
    berlin_talent = await new_segment(
        stack,
        ACME_TOKEN,
        {
            "all": [
                {"segment": talent["id"]},
                {"field": "location", "op": "equals", "value": "berlin"},
            ]
        },
    )
    outside_talent = await new_segment(
        stack,
        ACME_TOKEN,
        {"all": [{"segment": talent["id"]}, {"none": [{"segment": berlin_talent["id"]}]}]},
    )
    person = await new_candidate(stack, ACME_TOKEN, tag, location="Berlin")
    assert await member_ids(stack, ACME_TOKEN, berlin_talent["id"]) == {person["id"]}
    assert await member_ids(stack, ACME_TOKEN, outside_talent["id"]) == set()
    moved = await stack.gateway.patch(
        f"/api/v1/candidates/{person['id']}",
        json={"location": "Paris"},
        headers=stack.as_(ACME_TOKEN),
    )
    assert moved.status_code == 200, moved.text
    assert await member_ids(stack, ACME_TOKEN, berlin_talent["id"]) == set()
    assert await member_ids(stack, ACME_TOKEN, outside_talent["id"]) == {person["id"]}
    untagged = await stack.gateway.patch(
        f"/api/v1/candidates/{person['id']}", json={"tags": []}, headers=stack.as_(ACME_TOKEN)
    )
    assert untagged.status_code == 200, untagged.text
    assert await member_ids(stack, ACME_TOKEN, outside_talent["id"]) == set()
    [exit_event] = await read_events(
        kafka_bootstrap_servers,
        "segment.exited",
        where=entered(outside_talent["id"]),
        count=1,
    )
    assert exit_event["subject"] == person["id"]

    # An existing segment referring to the edited one follows its recomputation.
    edited = await stack.gateway.patch(
        f"/api/v1/segments/{talent['id']}",
        json={
            "rule": {
                "all": [
                    {"field": "location", "op": "equals", "value": "paris"},
                    {"field": "first_name", "op": "equals", "value": "fact"},
                    {"field": "last_name", "op": "equals", "value": tag},
                ]
            }
        },
        headers=stack.as_(ACME_TOKEN),
    )
    assert edited.status_code == 200, edited.text
    await wait_ready(stack, ACME_TOKEN, talent["id"])
    assert await member_ids(stack, ACME_TOKEN, talent["id"]) == {person["id"]}
    assert await member_ids(stack, ACME_TOKEN, outside_talent["id"]) == {person["id"]}


async def test_bad_references_and_cycles_are_422_naming_the_reference(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)
    first = await new_segment(
        stack, ACME_TOKEN, {"all": [{"field": "tags", "op": "equals", "value": unique("x")}]}
    )
    second = await new_segment(stack, ACME_TOKEN, {"any": [{"segment": first["id"]}]})
    foreign = await new_segment(
        stack, GLOBEX_TOKEN, {"all": [{"field": "tags", "op": "exists", "value": True}]}
    )

    cases = [
        (
            "post",
            "/api/v1/segments",
            {"name": "x", "rule": {"all": [{"segment": unique("nope")}]}},
            "rule.all.0.segment",
        ),
        (
            "post",
            "/api/v1/segments",
            {
                "name": "x",
                "rule": {
                    "any": [
                        {"field": "tags", "op": "exists", "value": True},
                        {"segment": foreign["id"]},
                    ]
                },
            },
            "rule.any.1.segment",
        ),
        (
            "post",
            "/api/v1/segments/preview",
            {"rule": {"none": [{"segment": foreign["id"]}]}},
            "rule.none.0.segment",
        ),
        (
            "patch",
            f"/api/v1/segments/{first['id']}",
            {"rule": {"all": [{"segment": second["id"]}]}},
            "rule.all.0.segment",
        ),
        # The preview of an edit is checked as its save would be.
        (
            "post",
            "/api/v1/segments/preview",
            {"rule": {"all": [{"segment": second["id"]}]}, "segment_id": first["id"]},
            "rule.all.0.segment",
        ),
        (
            "patch",
            f"/api/v1/segments/{first['id']}",
            {"rule": {"all": [{"any": [{"segment": first["id"]}]}]}},
            "rule.all.0.any.0.segment",
        ),
        (
            "patch",
            f"/api/v1/segments/{first['id']}",
            {
                "rule": {
                    "all": [{"field": "engagement_score", "op": "range", "value": {"gte": "high"}}]
                }
            },
            "rule.all.0",
        ),
    ]
    for method, path, body, bad_path in cases:
        response = await stack.gateway.request(method, path, json=body, headers=auth)
        assert response.status_code == 422, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [bad_path], body

    # The same rule previewed for a new segment has no cycle.
    unsaved = await stack.gateway.post(
        "/api/v1/segments/preview",
        json={"rule": {"all": [{"segment": second["id"]}]}},
        headers=auth,
    )
    assert unsaved.status_code == 200, unsaved.text

    foreign_edit = await stack.gateway.patch(
        f"/api/v1/segments/{foreign['id']}", json={"name": "mine now"}, headers=auth
    )
    assert foreign_edit.status_code == 404
    unchanged = await stack.gateway.get(f"/api/v1/segments/{first['id']}", headers=auth)
    assert unchanged.json()["rule"] == first["rule"]


async def test_editing_the_rule_recomputes_and_emits_the_differences(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    tag = unique("edit")
    python = await new_candidate(stack, GLOBEX_TOKEN, tag, skills=["python"])
    go = await new_candidate(stack, GLOBEX_TOKEN, tag, skills=["go"])
    segment = await new_segment(
        stack,
        GLOBEX_TOKEN,
        {
            "all": [
                {"field": "tags", "op": "equals", "value": tag},
                {"field": "skills", "op": "equals", "value": "python"},
            ]
        },
    )
    assert await member_ids(stack, GLOBEX_TOKEN, segment["id"]) == {python["id"]}
    renamed = await stack.gateway.patch(
        f"/api/v1/segments/{segment['id']}",
        json={"name": "Renamed"},
        headers=stack.as_(GLOBEX_TOKEN),
    )
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["status"]) == ("Renamed", "ready")

    edited = await stack.gateway.patch(
        f"/api/v1/segments/{segment['id']}",
        json={
            "rule": {
                "all": [
                    {"field": "tags", "op": "equals", "value": tag},
                    {"field": "skills", "op": "equals", "value": "go"},
                ]
            }
        },
        headers=stack.as_(GLOBEX_TOKEN),
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["updated_at"] is not None
    await wait_ready(stack, GLOBEX_TOKEN, segment["id"])
    assert await member_ids(stack, GLOBEX_TOKEN, segment["id"]) == {go["id"]}
    [exited] = await read_events(
        kafka_bootstrap_servers, "segment.exited", where=entered(segment["id"]), count=1
    )
    entries = await read_events(
        kafka_bootstrap_servers, "segment.entered", where=entered(segment["id"]), count=2
    )
    assert exited["subject"] == python["id"]
    names = {e["subject"]: e["data"]["segment_name"] for e in entries}
    assert names == {python["id"]: segment["name"], go["id"]: "Renamed"}

    preview = await stack.gateway.post(
        "/api/v1/segments/preview",
        json={"rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}, "sample_size": 1},
        headers=stack.as_(GLOBEX_TOKEN),
    )
    assert preview.json()["count"] == 2
    assert len(preview.json()["sample"]) == 1
    acme_preview = await stack.gateway.post(
        "/api/v1/segments/preview",
        json={"rule": {"all": [{"field": "tags", "op": "equals", "value": tag}]}},
        headers=stack.as_(ACME_TOKEN),
    )
    assert acme_preview.json()["count"] == 0


async def test_relative_date_membership_changes_with_time_alone(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    tag = unique("recent")
    person = await new_candidate(stack, ACME_TOKEN, tag)
    segment = await new_segment(
        stack,
        ACME_TOKEN,
        {
            "all": [
                {"field": "tags", "op": "equals", "value": tag},
                {"field": "last_activity_at", "op": "after", "relative": "-1d"},
            ]
        },
    )
    assert segment["time_dependent"] is True
    # A segment referring to it changes with time as well, and says so.
    referring = await new_segment(stack, ACME_TOKEN, {"all": [{"segment": segment["id"]}]})
    assert referring["time_dependent"] is True
    # Active a day ago less four seconds: a member now, and no longer in four seconds.
    last_activity = datetime.now(UTC) - timedelta(days=1) + timedelta(seconds=4)
    await publish_event(
        kafka_bootstrap_servers,
        ENGAGEMENT_SCORED,
        tenant_id=stack.acme,
        subject=person["id"],
        data=EngagementScored(candidate_id=person["id"], score=1.0, last_activity_at=last_activity),
    )
    await read_events(
        kafka_bootstrap_servers, "segment.entered", where=entered(segment["id"]), count=1
    )
    [exited] = await read_events(
        kafka_bootstrap_servers, "segment.exited", where=entered(segment["id"]), count=1
    )
    assert exited["subject"] == person["id"]
    assert datetime.now(UTC) >= last_activity + timedelta(days=1)
    assert await member_ids(stack, ACME_TOKEN, segment["id"]) == set()

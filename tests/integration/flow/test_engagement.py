"""The engagement score: analytics scores activities, explains the score and publishes it; the
candidates service keeps it on the candidate, where segment rules use it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crm_shared import (
    EVENT_CHECKED_IN,
    MESSAGE_CLICKED,
    MESSAGE_OPENED,
    EventCheckedIn,
    MessageClicked,
    MessageOpened,
)
from helpers import eventually, publish_event, read_events, unique
from integration.flow.conftest import ACME_TOKEN, GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration


async def test_activities_are_scored_explained_published_and_segmented(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    auth = stack.as_(ACME_TOKEN)
    tag = unique("engaged")
    created = await stack.gateway.post(
        "/api/v1/candidates",
        json={
            "first_name": "Eve",
            "last_name": tag,
            "emails": [f"{tag}@example.org"],
            "tags": [tag],
        },
        headers=auth,
    )
    assert created.status_code == 201, created.text
    person = created.json()["id"]
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={
            "name": unique("Engaged"),
            "rule": {
                "all": [
                    {"field": "tags", "op": "equals", "value": tag},
                    {"field": "engagement_score", "op": "range", "value": {"gte": 10}},
                    {"field": "last_activity_at", "op": "after", "relative": "-30d"},
                ]
            },
        },
        headers=auth,
    )
    assert segment.status_code == 201, segment.text
    message_id = unique("msg")
    opened = MessageOpened(message_id=message_id, candidate_id=person)
    # Two loads of the pixel and a bot's prefetch count as one open.
    await publish_event(
        kafka_bootstrap_servers, MESSAGE_OPENED, tenant_id=stack.acme, subject=person, data=opened
    )
    await publish_event(
        kafka_bootstrap_servers, MESSAGE_OPENED, tenant_id=stack.acme, subject=person, data=opened
    )
    await publish_event(
        kafka_bootstrap_servers,
        MESSAGE_OPENED,
        tenant_id=stack.acme,
        subject=person,
        data=MessageOpened(message_id=unique("msg"), candidate_id=person, automated=True),
    )
    await publish_event(
        kafka_bootstrap_servers,
        MESSAGE_CLICKED,
        tenant_id=stack.acme,
        subject=person,
        data=MessageClicked(
            message_id=message_id, candidate_id=person, link_index=0, url="https://x.test"
        ),
    )
    checked_in_at = datetime.now(UTC) - timedelta(days=30)
    await publish_event(
        kafka_bootstrap_servers,
        EVENT_CHECKED_IN,
        tenant_id=stack.acme,
        subject=person,
        data=EventCheckedIn(
            event_id=unique("event"),
            event_name="Fair",
            registration_id=unique("reg"),
            candidate_id=person,
            email=f"{tag}@example.org",
            checked_in_at=checked_in_at,
        ),
    )

    async def explained() -> dict[str, Any]:
        response = await stack.gateway.get(
            f"/api/v1/analytics/candidates/{person}/engagement", headers=auth
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def three_activities() -> bool:
        response = await stack.gateway.get(
            f"/api/v1/analytics/candidates/{person}/engagement", headers=auth
        )
        # 404 until analytics has consumed the candidate's creation or an activity.
        return response.status_code == 200 and len(response.json()["contributions"]) == 3

    await eventually(three_activities, message="the activities were not scored")
    explanation = await explained()
    kinds = {c["kind"]: c for c in explanation["contributions"]}
    assert set(kinds) == {"message_opened", "message_clicked", "event_checked_in"}
    assert kinds["message_opened"]["contribution"] == pytest.approx(1.0, rel=0.01)
    assert kinds["message_clicked"]["contribution"] == pytest.approx(3.0, rel=0.01)
    # Checked in a half-life (30 days) ago: half of its weight of 10.
    assert kinds["event_checked_in"]["weight"] == 10.0
    assert kinds["event_checked_in"]["contribution"] == pytest.approx(5.0, rel=0.01)
    assert explanation["score"] == pytest.approx(9.0, rel=0.01)
    assert explanation["half_life_days"] == 30.0

    scored = await read_events(
        kafka_bootstrap_servers,
        "engagement.scored",
        where=lambda e: e["subject"] == person,
        count=3,
    )
    assert {e["tenant_id"] for e in scored} == {stack.acme}
    final = max(scored, key=lambda e: e["data"]["score"])
    assert final["data"]["score"] == pytest.approx(9.0, rel=0.01)
    assert set(final["data"]["contributions"]) == set(kinds)

    async def kept_on_candidate() -> bool:
        found = await stack.gateway.get(f"/api/v1/candidates/{person}", headers=auth)
        return bool(found.json()["engagement_score"] == pytest.approx(9.0, rel=0.01))

    await eventually(kept_on_candidate, message="the score did not reach the candidate")
    members = await stack.gateway.get(
        f"/api/v1/segments/{segment.json()['id']}/members", headers=auth
    )
    assert members.json()["items"] == []

    # Attending another event pushes the score over the segment's threshold.
    await publish_event(
        kafka_bootstrap_servers,
        EVENT_CHECKED_IN,
        tenant_id=stack.acme,
        subject=person,
        data=EventCheckedIn(
            event_id=unique("event"),
            event_name="Meetup",
            registration_id=unique("reg"),
            candidate_id=person,
            email=f"{tag}@example.org",
            checked_in_at=datetime.now(UTC),
        ),
    )
    [entered] = await read_events(
        kafka_bootstrap_servers,
        "segment.entered",
        where=lambda e: e["data"]["segment_id"] == segment.json()["id"],
        count=1,
    )
    assert entered["subject"] == person

    # Another tenant sees none of it: to globex, acme's candidate does not exist.
    foreign = await stack.gateway.get(
        f"/api/v1/analytics/candidates/{person}/engagement", headers=stack.as_(GLOBEX_TOKEN)
    )
    assert foreign.status_code == 404, foreign.text
    assert foreign.headers["content-type"] == "application/problem+json"
    assert "engaged" not in foreign.text


async def test_a_new_candidate_scores_0_once_analytics_has_seen_it_a_stranger_is_404(
    stack: Stack,
) -> None:
    auth = stack.as_(ACME_TOKEN)
    tag = unique("quiet")
    created = await stack.gateway.post(
        "/api/v1/candidates",
        json={"first_name": "Quinn", "last_name": tag, "emails": [f"{tag}@example.org"]},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    path = f"/api/v1/analytics/candidates/{created.json()['id']}/engagement"
    answers: list[httpx.Response] = []

    async def seen() -> bool:
        answers.append(await stack.gateway.get(path, headers=auth))
        return answers[-1].status_code != 404

    # The window: until analytics consumes `candidate.created`, the candidate is unknown there.
    await eventually(seen, message="analytics never learnt the new candidate")
    known = answers[-1]
    assert known.status_code == 200, known.text
    assert (known.json()["score"], known.json()["contributions"]) == (0.0, [])
    assert known.json()["published_score"] is None

    stranger = await stack.gateway.get(
        f"/api/v1/analytics/candidates/{unique('nobody')}/engagement", headers=auth
    )
    assert stranger.status_code == 404, stranger.text
    assert stranger.headers["content-type"] == "application/problem+json"


async def test_the_engagement_endpoint_needs_a_caller(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as anonymous:
        response = await anonymous.get(f"/api/v1/analytics/candidates/{unique('c')}/engagement")
    assert response.status_code == 401

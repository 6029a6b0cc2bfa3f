"""The candidate list's filters on the real database through the gateway: location, pool and
stage, segment, consent and engagement, both as a listing (filters in the database query) and
behind keywords (checked on the records read)."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import eventually, unique
from integration.flow.conftest import ACME_TOKEN, Stack

pytestmark = pytest.mark.integration


async def test_each_filter_narrows_the_list_in_both_search_paths(stack: Stack) -> None:
    auth = stack.as_(ACME_TOKEN)

    async def reached() -> bool:
        # On a loaded machine the gateway's first fetch of the service's OpenAPI document can
        # time out; it answers 502 until its next fetch.
        answer = await stack.gateway.get("/api/v1/candidates", params={"limit": 1}, headers=auth)
        return answer.status_code < 500

    await eventually(reached, message="the gateway never reached the candidates service")
    tag = unique("filters")
    word = unique("Filterword").replace("_", "")

    async def create(n: int, **fields: Any) -> str:
        created = await stack.gateway.post(
            "/api/v1/candidates",
            json={
                "first_name": word,
                "last_name": f"N{n}",
                "emails": [f"{tag}-{n}@example.org"],
                "tags": [tag],
                **fields,
            },
            headers=auth,
        )
        assert created.status_code == 201, created.text
        return str(created.json()["id"])

    berlin = await create(0, location=" Berlin ", marketing_consent=True)
    munich = await create(1, location="München, Bayern")
    pool = await stack.gateway.post(
        "/api/v1/pools", json={"name": unique("Pool"), "stages": ["New", "Screen"]}, headers=auth
    )
    pool_id = pool.json()["id"]
    for candidate_id, stage in ((berlin, "Screen"), (munich, "New")):
        added = await stack.gateway.post(
            f"/api/v1/pools/{pool_id}/members",
            json={"candidate_id": candidate_id, "stage": stage},
            headers=auth,
        )
        assert added.status_code in (200, 201), added.text
    segment = await stack.gateway.post(
        "/api/v1/segments",
        json={
            "name": unique("Munich"),
            "rule": {
                "all": [
                    {"field": "tags", "op": "equals", "value": tag},
                    {"field": "location", "op": "equals", "value": "münchen, bayern"},
                ]
            },
        },
        headers=auth,
    )
    segment_id = segment.json()["id"]

    async def found(**params: Any) -> dict[str, set[str]]:
        """The ids each path finds: a listing by tag, and a keyword search."""
        answers = {}
        for path, narrowed in (("listing", {"tag": tag}), ("keywords", {"q": word})):
            answer = await stack.gateway.get(
                "/api/v1/candidates", params={**narrowed, **params}, headers=auth
            )
            assert answer.status_code == 200, answer.text
            answers[path] = {item["id"] for item in answer.json()["items"]}
        return answers

    async def segment_ready() -> bool:
        return (await found(segment_id=segment_id))["listing"] == {munich}

    await eventually(segment_ready, message="the segment's first evaluation did not finish")

    expectations: list[tuple[dict[str, Any], set[str]]] = [
        ({}, {berlin, munich}),
        ({"location": "BERLIN"}, {berlin}),
        # A place's words, accents ignored and umlauts also spelt out, in any order.
        ({"location": "munchen"}, {munich}),
        ({"location": "Muenchen"}, {munich}),
        ({"location": "bayern münchen"}, {munich}),
        ({"location": "München, Berlin"}, set()),
        ({"location": " , "}, set()),  # no word to match: nobody, not everybody
        ({"pool_id": pool_id}, {berlin, munich}),
        ({"pool_id": pool_id, "stage": "New"}, {munich}),
        # Stages are matched ignoring case and spacing, as everywhere else.
        ({"pool_id": pool_id, "stage": " new "}, {munich}),
        ({"segment_id": segment_id}, {munich}),
        ({"marketing_consent": "true"}, {berlin}),
        ({"marketing_consent": "false"}, {munich}),
        ({"min_engagement": 0}, {berlin, munich}),
        ({"min_engagement": 0.5}, set()),
        ({"location": "munchen", "pool_id": pool_id, "stage": "Screen"}, set()),
    ]
    for params, expected in expectations:
        assert await found(**params) == {"listing": expected, "keywords": expected}, params
    # A tag is matched as a segment rule matches it: ignoring case and spacing.
    respelt = await stack.gateway.get(
        "/api/v1/candidates", params={"tag": f"  {tag.upper()} "}, headers=auth
    )
    assert {item["id"] for item in respelt.json()["items"]} == {berlin, munich}

    lonely_stage = await stack.gateway.get(
        "/api/v1/candidates", params={"stage": "New"}, headers=auth
    )
    assert lonely_stage.status_code == 422
    [needs_pool] = lonely_stage.json()["errors"]
    assert (needs_pool["field"], needs_pool["source"]) == ("stage", "query")
    # A stage the pool does not have is named, not answered with nobody.
    no_such_stage = await stack.gateway.get(
        "/api/v1/candidates", params={"pool_id": pool_id, "stage": "Offer"}, headers=auth
    )
    assert no_such_stage.status_code == 422
    [unknown] = no_such_stage.json()["errors"]
    assert (unknown["field"], unknown["source"]) == ("stage", "query")
    assert "New, Screen" in unknown["detail"]

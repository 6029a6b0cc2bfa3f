"""Dynamic segments on the real broker and database: membership follows every change at once."""

from __future__ import annotations

from typing import Any

import pytest

from helpers import eventually, read_events, unique
from integration.flow.conftest import GLOBEX_TOKEN, Stack

pytestmark = pytest.mark.integration

BERLIN_PYTHONISTAS = {
    "all": [
        {"field": "skills", "op": "equals", "value": "Python"},
        {"field": "location", "op": "equals", "value": "berlin"},
    ]
}


def person(tag: str, **fields: Any) -> dict[str, Any]:
    return {"first_name": "Seg", "last_name": tag, "emails": [f"{tag}@example.org"], **fields}


async def test_segment_membership_follows_creates_and_changes(
    stack: Stack, kafka_bootstrap_servers: str
) -> None:
    auth = stack.as_(GLOBEX_TOKEN)
    tag = unique("seg")
    before = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(f"{tag}-before", skills=["python", "sql"], location="Berlin", tags=[tag]),
        headers=auth,
    )
    await stack.gateway.post(
        "/api/v1/candidates",
        json=person(f"{tag}-paris", skills=["python"], location="Paris", tags=[tag]),
        headers=auth,
    )
    rule = {"all": [*BERLIN_PYTHONISTAS["all"], {"field": "tags", "op": "equals", "value": tag}]}
    created = await stack.gateway.post(
        "/api/v1/segments", json={"name": f"Berlin Python {tag}", "rule": rule}, headers=auth
    )
    assert created.status_code == 201, created.text
    segment = created.json()

    async def ready() -> bool:
        response = await stack.gateway.get(f"/api/v1/segments/{segment['id']}", headers=auth)
        return bool(response.json()["status"] == "ready")

    await eventually(ready, message="the segment's first evaluation did not finish")

    after = await stack.gateway.post(
        "/api/v1/candidates",
        json=person(f"{tag}-after", skills=["Python"], location=" berlin ", tags=[tag]),
        headers=auth,
    )
    # Membership is part of the write: it is current the moment the write returns.
    members = await stack.gateway.get(f"/api/v1/segments/{segment['id']}/members", headers=auth)
    member_ids = {m["id"] for m in members.json()["items"]}
    assert member_ids == {before.json()["id"], after.json()["id"]}

    entered = await read_events(
        kafka_bootstrap_servers,
        "segment.entered",
        where=lambda e: e["data"]["segment_id"] == segment["id"],
        count=2,
    )
    assert {e["subject"] for e in entered} == member_ids
    assert all(e["tenant_id"] == entered[0]["tenant_id"] for e in entered)

    moved = await stack.gateway.patch(
        f"/api/v1/candidates/{after.json()['id']}", json={"location": "Munich"}, headers=auth
    )
    assert moved.status_code == 200, moved.text
    [exited] = await read_events(
        kafka_bootstrap_servers,
        "segment.exited",
        where=lambda e: e["data"]["segment_id"] == segment["id"],
        count=1,
    )
    assert exited["subject"] == after.json()["id"]
    detail = await stack.gateway.get(f"/api/v1/segments/{segment['id']}", headers=auth)
    assert detail.json()["member_count"] == 1

    # A profile lists the segments its candidate is in now (the console's profile page).
    kept = await stack.gateway.get(
        f"/api/v1/candidates/{before.json()['id']}/segments", headers=auth
    )
    assert kept.status_code == 200, kept.text
    assert [(s["id"], s["name"]) for s in kept.json()] == [(segment["id"], segment["name"])]
    assert kept.json()[0]["entered_at"]
    left = await stack.gateway.get(
        f"/api/v1/candidates/{after.json()['id']}/segments", headers=auth
    )
    assert left.json() == []
    missing = await stack.gateway.get("/api/v1/candidates/nobody/segments", headers=auth)
    assert missing.status_code == 404


async def test_preview_counts_and_samples_the_rule(stack: Stack) -> None:
    auth = stack.as_(GLOBEX_TOKEN)
    tag = unique("preview")
    for n in range(3):
        await stack.gateway.post(
            "/api/v1/candidates", json=person(f"{tag}-{n}", tags=[tag], skills=["go"]), headers=auth
        )
    rule = {"all": [{"field": "tags", "op": "equals", "value": tag}]}
    preview = await stack.gateway.post(
        "/api/v1/segments/preview", json={"rule": rule, "sample_size": 2}, headers=auth
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["count"] == 3
    assert len(preview.json()["sample"]) == 2


@pytest.mark.parametrize(
    ("rule", "bad_paths"),
    [
        ({"all": [{"field": "salary", "op": "equals", "value": "1"}]}, ["rule.all.0"]),
        ({"all": [{"field": "skills", "op": "equals"}]}, ["rule.all.0"]),
        ({"any": []}, ["rule.any"]),
        (
            {"all": [{"field": "skills", "op": "in", "value": ["go"]}, {"none": [{"op": "x"}]}]},
            ["rule.all.1.none.0.op", "rule.all.1.none.0"],
        ),
        (
            {"all": [{"any": [{"field": "marketing_consent", "op": "contains", "value": "y"}]}]},
            ["rule.all.0.any.0"],
        ),
        ({"field": "skills", "op": "equals", "value": "go"}, ["rule"]),
    ],
)
async def test_an_invalid_rule_is_a_422_naming_the_bad_condition(
    stack: Stack, rule: dict[str, Any], bad_paths: list[str]
) -> None:
    response = await stack.gateway.post(
        "/api/v1/segments", json={"name": "bad", "rule": rule}, headers=stack.as_(GLOBEX_TOKEN)
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == bad_paths


async def test_a_pool_or_stage_the_tenant_lacks_is_a_422_not_an_empty_segment(
    stack: Stack,
) -> None:
    """A mistyped stage (or another tenant's pool) would match nobody, silently."""
    auth = stack.as_(GLOBEX_TOKEN)
    pool = await stack.gateway.post(
        "/api/v1/pools",
        json={"name": unique("Ingénieurs Øresund"), "stages": ["Nouveau", "Écran"]},
        headers=auth,
    )
    assert pool.status_code == 201, pool.text
    pool_id = pool.json()["id"]

    def in_pool(value: dict[str, str]) -> dict[str, Any]:
        return {"rule": {"all": [{"field": "pools", "op": "in_pool", "value": value}]}}

    taken = await stack.gateway.post(
        "/api/v1/segments/preview",
        json=in_pool({"pool_id": pool_id, "stage": "écran"}),
        headers=auth,
    )
    assert taken.status_code == 200, taken.text
    for value, said in [
        ({"pool_id": pool_id, "stage": "Ecran typo"}, "has no stage 'Ecran typo'"),
        ({"pool_id": "6b162e527b17b9df9fb7fec1"}, "no talent pool 6b162e527b17b9df9fb7fec1"),
    ]:
        for path, named in (("/api/v1/segments/preview", {}), ("/api/v1/segments", {"name": "t"})):
            refused = await stack.gateway.post(path, json={**named, **in_pool(value)}, headers=auth)
            assert refused.status_code == 422, refused.text
            [error] = refused.json()["errors"]
            assert error["field"] == "rule.all.0.value"
            assert said in error["detail"]


async def test_a_name_another_segment_has_is_a_409_at_the_name(stack: Stack) -> None:
    """Pickers list segments by name: two alike could not be told apart."""
    auth = stack.as_(GLOBEX_TOKEN)
    name = unique("Python à Berlin")
    rule = {"all": [{"field": "tags", "op": "equals", "value": "berlin"}]}
    first = await stack.gateway.post(
        "/api/v1/segments", json={"name": name, "rule": rule}, headers=auth
    )
    assert first.status_code == 201, first.text
    again = await stack.gateway.post(
        "/api/v1/segments", json={"name": f" {name.upper()} ", "rule": rule}, headers=auth
    )
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == "application/problem+json"
    [error] = again.json()["errors"]
    assert error["field"] == "name"
    assert "exists" in error["detail"]

    other = await stack.gateway.post(
        "/api/v1/segments", json={"name": unique("Lyon"), "rule": rule}, headers=auth
    )
    renamed = await stack.gateway.patch(
        f"/api/v1/segments/{other.json()['id']}", json={"name": name}, headers=auth
    )
    assert renamed.status_code == 409, renamed.text
    # Deleted, the first frees its name.
    gone = await stack.gateway.delete(f"/api/v1/segments/{first.json()['id']}", headers=auth)
    assert gone.status_code == 204, gone.text
    taken = await stack.gateway.patch(
        f"/api/v1/segments/{other.json()['id']}", json={"name": name}, headers=auth
    )
    assert taken.status_code == 200, taken.text
